"""Turn an uploaded file into plain-text sections ready for chunking.

Pure Python on purpose: it runs in Celery workers and tests without Django.
"""

import codecs
import io
import logging
import re
import warnings
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import PureWindowsPath

import docx
from bs4 import BeautifulSoup, Tag
from bs4.dammit import EncodingDetector
from bs4.element import NavigableString, PreformattedString
from charset_normalizer import from_bytes
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph
from pypdf import PageObject, PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError

logger = logging.getLogger(__name__)

# pypdf logs a line for every recoverable defect it meets (broken xref, missing
# fontTools, ...). Damaged uploads are routine here, so keep only its errors.
logging.getLogger("pypdf").setLevel(logging.ERROR)

SUPPORTED_TYPES_HINT = "upload PDF, DOCX, HTML, Markdown or plain text"

# Format names double as the words used in reasons shown to people.
_FORMATS_BY_EXTENSION = {
    ".pdf": "PDF",
    ".docx": "DOCX",
    ".html": "HTML",
    ".htm": "HTML",
    ".md": "Markdown",
    ".markdown": "Markdown",
    ".txt": "text",
}

# UTF-32 must be checked before UTF-16: its little-endian BOM starts with FF FE.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Browsers read pages labelled ASCII or Latin-1 as Windows-1252, and pages
# written with those labels rely on it (curly quotes, the euro sign).
_WINDOWS_1252_READS = frozenset({"ascii", "iso8859-1"})

_CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x20)])
_CONTROL_CHARACTERS = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLANK_LINE_RUNS = re.compile(r"\n{3,}")

_HTML_DROPPED_TAGS = ["script", "style", "noscript", "template", "head", "title"]
# fmt: off
_HTML_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "body", "br", "caption", "dd",
    "details", "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure",
    "footer", "form", "header", "hr", "li", "main", "nav", "ol", "p", "pre",
    "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
})
# fmt: on
_HTML_HEADING_TAGS = {f"h{level}": level for level in range(1, 7)}
_HTML_CELL_TAGS = ["td", "th"]

_MARKDOWN_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_MARKDOWN_FENCE = re.compile(r"^ {0,3}(```|~~~)")

_PDF_HEADING_MAX_WORDS = 10

_DOCX_HEADING_STYLE = re.compile(r"^Heading ([1-9])$")


@dataclass(frozen=True)
class Section:
    text: str
    page: int
    heading: str


@dataclass(frozen=True)
class ParsedDocument:
    title: str
    page_count: int
    sections: list[Section]


class UnreadableDocument(Exception):
    """A file yields no text; `reason` says why in words a person can act on."""

    reason: str

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _Block:
    """One paragraph-like piece of a document; a heading when `level` > 0."""

    text: str
    level: int = 0
    heading: str = ""


def parse_document(
    content: bytes,
    filename: str,
    *,
    max_unpacked_bytes: int = 200 * 1024 * 1024,
) -> ParsedDocument:
    """Extract the text of an uploaded file, or raise `UnreadableDocument`."""
    if not content:
        raise UnreadableDocument("file is empty")

    file_format = _choose_format(content, filename)
    title = _title_from_filename(filename)

    try:
        document = _parse_as(file_format, content, title, max_unpacked_bytes)
    except UnreadableDocument:
        raise
    except Exception as exc:
        # Parsers meet endless malformed input; a person needs a reason, not a
        # traceback, and the worker must carry on with the next upload.
        logger.exception("Unexpected %s parser failure", file_format)
        raise UnreadableDocument(f"{file_format} file could not be read") from exc

    if not document.sections:
        raise UnreadableDocument("file has no text")

    # Titles come from file metadata (PDF info, DOCX core properties), which
    # may hold NUL and other control bytes that Postgres text refuses.
    return replace(document, title=" ".join(_clean_text(document.title).split()))


def _title_from_filename(filename: str) -> str:
    """Read "Northwind_Plus-Benefits.pdf" as "Northwind Plus Benefits"."""
    stem = PureWindowsPath(filename).stem  # also splits Windows browser paths
    return " ".join(stem.replace("_", " ").replace("-", " ").split()) or stem


def decode_text(content: bytes, declared_encoding: str | None = None) -> str:
    """Decode text bytes without ever inventing U+FFFD replacement characters."""
    for encoding in _candidate_encodings(content, declared_encoding):
        try:
            text = content.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue

        return _clean_text(text)

    raise UnreadableDocument("could not detect the text encoding")


def _choose_format(content: bytes, filename: str) -> str:
    extension = PureWindowsPath(filename).suffix.lower()
    # A PDF or DOCX is one whatever its name says; names lie more than bytes.
    if content.startswith(b"%PDF-") and b"startxref" in content:
        return "PDF"
    if content.startswith(b"PK\x03\x04") and _zip_has_member(
        content, "word/document.xml"
    ):
        return "DOCX"
    if extension in _FORMATS_BY_EXTENSION:
        return _FORMATS_BY_EXTENSION[extension]

    sniffed = _sniff_format(content)
    if sniffed:
        return sniffed

    if _looks_like_text(content):
        return "text"

    raise UnreadableDocument(
        f"unsupported file type '{extension}': {SUPPORTED_TYPES_HINT}"
    )


def _sniff_format(content: bytes) -> str | None:
    # Some PDF writers put junk before the header; readers accept it too.
    if b"%PDF-" in content[:1024]:
        return "PDF"

    if content.startswith(b"PK\x03\x04") and _zip_has_member(
        content, "word/document.xml"
    ):
        return "DOCX"

    start = content[:1024].lstrip().lower()
    if start.startswith((b"<!doctype html", b"<html")):
        return "HTML"

    return None


def _zip_has_member(content: bytes, name: str) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return name in archive.namelist()
    except zipfile.BadZipFile:
        return False


def _looks_like_text(content: bytes) -> bool:
    # Some decoding exists for almost any bytes, so an unknown file type must
    # also look like text: almost no control bytes besides line breaks and
    # tabs (UTF-16 and UTF-32 count only with a byte-order mark).
    has_bom = any(content.startswith(bom) for bom, _ in _BYTE_ORDER_MARKS)
    if (
        not has_bom
        and sum(content.count(byte) for byte in _CONTROL_BYTES) > len(content) // 100
    ):
        return False

    try:
        decode_text(content)
    except UnreadableDocument:
        return False
    return True


def _parse_as(
    file_format: str, content: bytes, title: str, max_unpacked_bytes: int
) -> ParsedDocument:
    if file_format == "PDF":
        return _parse_pdf(content, title)

    if file_format == "DOCX":
        return _parse_docx(content, title, max_unpacked_bytes)

    if file_format == "HTML":
        return _parse_html(content, title)

    if file_format == "Markdown":
        return _parse_markdown(content, title)

    return _parse_plain_text(content, title)


# PDF


def _parse_pdf(content: bytes, title: str) -> ParsedDocument:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader, page_texts = _read_pdf(content)

    sections = pdf_sections(page_texts)
    if not sections and None in page_texts:
        raise UnreadableDocument("damaged PDF: no page could be read")
    if not sections:
        raise UnreadableDocument(
            "no text layer: scanned document (OCR is not supported)"
        )

    return ParsedDocument(
        title=_pdf_title(reader) or title,
        page_count=len(page_texts),
        sections=sections,
    )


def pdf_sections(page_texts: list[str | None]) -> list[Section]:
    """Cut each page at the lines that look like headings; a heading runs on
    across pages until the next one, so every section keeps its exact page."""
    sections: list[Section] = []
    place = _PdfPlace()
    for number, text in enumerate(page_texts, start=1):
        page_lines = (text or "").split("\n")
        lines: list[str] = []
        for index, line in enumerate(page_lines):
            if _looks_like_pdf_heading(line, lines):
                _append_pdf_section(sections, lines, number, place.path)
                following = page_lines[index + 1] if index + 1 < len(page_lines) else ""
                place, lines = place.under(line, echoed=_echoes(line, following)), []
            lines.append(line)
        _append_pdf_section(sections, lines, number, place.path)
    return sections


def _looks_like_pdf_heading(line: str, before: list[str]) -> bool:
    # PDF text has no styles left, so a heading is told by its shape: a short
    # line of capitalised words without closing punctuation, after the end of
    # a sentence (or at the top of a page).
    words = line.split()
    if not 1 <= len(words) <= _PDF_HEADING_MAX_WORDS or len(line) > 90:
        return False
    if line.rstrip()[-1] in ".,;:!?)" or not words[0][0].isupper():
        return False
    capitalised = sum(word[0].isupper() or not word[0].isalpha() for word in words)
    if capitalised < len(words) * 0.6 or sum(ch.isdigit() for ch in line) > 4:
        return False
    previous = before[-1].rstrip() if before else ""
    return not previous or previous[-1] in ".:!?" or previous.isupper()


def _echoes(heading: str, following: str) -> bool:
    """Whether the next line repeats the heading, as a running breadcrumb does.

    Generated booklets open each topic with its title and then a line such
    as "COVERED SERVICES: Prescription Drugs"; a subsection ("Exceptions",
    "Tips") has no such line. Words match by prefix ("Drug", "Drugs"), and a
    line naming only the part, in capitals, counts as a breadcrumb too.
    """
    asked = _words(heading)
    shown = _words(following)
    # A sentence that happens to start with the heading's words is body text.
    if len(shown) > _PDF_HEADING_MAX_WORDS or following.rstrip().endswith("."):
        return False
    if following.strip().isupper():
        return True  # the part's name as a breadcrumb: "OTHER INFORMATION"
    return bool(asked) and all(
        any(word.startswith(part) for word in shown) for part in asked
    )


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text.lower())


@dataclass(frozen=True)
class _PdfPlace:
    """Where the text being read sits: its heading path and open topic."""

    path: str = ""
    # The path of the last heading that a breadcrumb confirmed as a topic;
    # headings without one are read as its subsections.
    topic: str = ""

    def under(self, line: str, *, echoed: bool) -> "_PdfPlace":
        title = " ".join(line.split())
        # Booklets repeat their place as "SECTION - Subsection" under a heading.
        if " - " in title and title.split(" - ")[0].isupper():
            path = title.replace(" - ", " > ", 1)
            return _PdfPlace(path, path)
        if title.isupper():
            return _PdfPlace(title)
        root = self.path.split(" > ")[0]
        base = f"{root} > " if root and root.isupper() else ""
        if echoed:
            return _PdfPlace(base + title, base + title)
        if self.topic and title.lower() == self.topic.split(" > ")[-1].lower():
            return self  # the topic's title repeated below it
        if self.topic:
            return _PdfPlace(f"{self.topic} > {title}", self.topic)
        return _PdfPlace(base + title)


def _append_pdf_section(
    sections: list[Section], lines: list[str], page: int, heading: str
) -> None:
    text = _tidy("\n".join(lines))
    if text:
        sections.append(Section(text=text, page=page, heading=heading[:300]))


def _read_pdf(content: bytes) -> tuple[PdfReader, list[str | None]]:
    """Open the PDF leniently and extract each page; None marks a broken page."""
    try:
        # strict=False lets pypdf rebuild broken xref tables, which rescues many
        # damaged files. pypdf also tries the empty password, as user and as
        # owner: owner-password-only PDFs open, and so do PDFs whose owner
        # password is empty, since anyone can open those with full rights.
        reader = PdfReader(io.BytesIO(content), strict=False)
        pages = list(reader.pages)
    except FileNotDecryptedError as exc:
        raise UnreadableDocument("encrypted PDF needs a password") from exc
    except DependencyError as exc:
        # pypdf needs the `cryptography` package for AES; without it even an
        # empty-password check fails, so the two cases cannot be told apart.
        raise UnreadableDocument(
            "encrypted PDF (AES) cannot be opened here: upload an unencrypted copy"
        ) from exc
    except Exception as exc:
        raise UnreadableDocument(
            f"damaged PDF: could not be read ({_short_detail(exc)})"
        ) from exc

    return reader, [_page_text(page, number) for number, page in enumerate(pages, 1)]


def _page_text(page: PageObject, number: int) -> str | None:
    try:
        return _tidy(_clean_text(page.extract_text()))
    except Exception:
        # One corrupt content stream should not cost the other pages.
        logger.warning("Skipping unreadable PDF page", extra={"page": number})
        return None


def _pdf_title(reader: PdfReader) -> str:
    try:
        metadata = reader.metadata
        title = metadata.title if metadata else None
    except Exception:
        return ""  # metadata of a damaged file is optional, the text is not

    title = " ".join(str(title or "").split())
    # Generators often store an id or a file path as the title; only words help a reader.
    if sum(ch.isalpha() for ch in title) < 3 or title.lower().endswith(
        (".doc", ".docx", ".pdf")
    ):
        return ""
    return title


def _short_detail(exc: Exception) -> str:
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return first_line[:120]


# DOCX


def _parse_docx(content: bytes, title: str, max_unpacked_bytes: int) -> ParsedDocument:
    _check_unpacked_size(content, max_unpacked_bytes)

    try:
        document = docx.Document(io.BytesIO(content))
    except Exception as exc:
        raise UnreadableDocument(f"damaged DOCX: {_short_detail(exc)}") from exc

    blocks = list(_docx_blocks(document.iter_inner_content()))
    metadata_title = (document.core_properties.title or "").strip()

    return ParsedDocument(
        title=metadata_title or _first_heading(blocks) or title,
        page_count=1,
        sections=_sections_from_blocks(blocks),
    )


def _check_unpacked_size(content: bytes, max_unpacked_bytes: int) -> None:
    """Refuse archives that would inflate past the limit, before unpacking any."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            # zipfile stops reading a member at its declared size, so the
            # declared sizes bound what python-docx can inflate.
            unpacked = sum(member.file_size for member in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise UnreadableDocument(f"damaged DOCX: {_short_detail(exc)}") from exc

    if unpacked > max_unpacked_bytes:
        limit = _format_size(max_unpacked_bytes)
        raise UnreadableDocument(f"file expands to more than {limit} when unpacked")


def _format_size(size: int) -> str:
    megabytes = size / (1024 * 1024)
    if megabytes >= 1:
        return f"{megabytes:g} MB"

    return f"{size / 1024:g} KB"


def _docx_blocks(items: Iterable[Paragraph | Table]) -> Iterator[_Block]:
    for item in items:
        if isinstance(item, Table):
            yield _Block(text="\n".join(_table_lines(item)))
            continue

        text = _clean_text(item.text).strip()
        level = _docx_heading_level(item)
        yield _Block(text=text, level=level if text else 0, heading=text)


def _docx_heading_level(paragraph: Paragraph) -> int:
    style = paragraph.style
    style_name = style.name if style is not None and style.name else ""
    if style_name == "Title":
        return 1

    match = _DOCX_HEADING_STYLE.match(style_name)
    return int(match.group(1)) if match else 0


def _table_lines(table: Table) -> list[str]:
    """Render each row as one line, cells joined with ' | '."""
    lines = []
    for row in table.rows:
        cells = _distinct_cells(row.cells)
        texts = [_cell_text(cell) for cell in cells]
        if any(texts):
            lines.append(" | ".join(texts))

    return lines


def _distinct_cells(cells: list[_Cell]) -> list[_Cell]:
    # A horizontally merged cell comes back once per grid column it spans, each
    # time wrapping the same <w:tc> element; repeating it would invent columns.
    distinct: list[_Cell] = []
    for cell in cells:
        if not distinct or distinct[-1]._tc is not cell._tc:
            distinct.append(cell)

    return distinct


def _cell_text(cell: _Cell) -> str:
    parts = []
    for item in cell.iter_inner_content():
        if isinstance(item, Table):
            parts.append("; ".join(_table_lines(item)))
        else:
            parts.append(item.text)

    return " ".join(
        " ".join(_clean_text(part).split()) for part in parts if part.strip()
    )


# HTML


def _parse_html(content: bytes, title: str) -> ParsedDocument:
    text = decode_text(content, _declared_html_encoding(content))
    soup = BeautifulSoup(text, "html.parser")
    page_title = _html_title(soup)

    for tag in soup.find_all(_HTML_DROPPED_TAGS):
        tag.decompose()
    blocks = _html_blocks(soup)

    return ParsedDocument(
        title=page_title or title,
        page_count=1,
        sections=_sections_from_blocks(blocks),
    )


def _declared_html_encoding(content: bytes) -> str | None:
    declared = EncodingDetector.find_declared_encoding(content, is_html=True)
    if declared is None:
        return None

    try:
        codec = codecs.lookup(declared).name
    except LookupError:
        return None  # an unknown label tells nothing; detection takes over

    if codec in _WINDOWS_1252_READS:
        return "cp1252"
    if codec.startswith(("utf-16", "utf-32")):
        # A label found by scanning bytes as ASCII cannot be true of UTF-16 or
        # UTF-32; real files in those encodings start with a BOM.
        return None

    return codec


def _html_title(soup: BeautifulSoup) -> str:
    element = soup.title or soup.find("h1")
    if element is None:
        return ""

    return " ".join(_clean_text(element.get_text(" ")).split())


def _html_blocks(root: Tag) -> list[_Block]:
    blocks: list[_Block] = []
    buffer: list[str] = []
    _walk_html(root, blocks, buffer)
    _flush_html_text(buffer, blocks)
    return blocks


def _walk_html(node: Tag, blocks: list[_Block], buffer: list[str]) -> None:
    for child in node.children:
        if isinstance(child, PreformattedString):
            continue  # comments, doctypes, processing instructions
        if isinstance(child, NavigableString):
            buffer.append(str(child))
            continue
        if not isinstance(child, Tag):
            continue

        level = _HTML_HEADING_TAGS.get(child.name, 0)
        heading = " ".join(child.get_text(" ").split()) if level else ""
        if heading:
            _flush_html_text(buffer, blocks)
            blocks.append(_Block(text=heading, level=level, heading=heading))
            continue

        _walk_html_element(child, blocks, buffer)


def _walk_html_element(element: Tag, blocks: list[_Block], buffer: list[str]) -> None:
    is_block = element.name in _HTML_BLOCK_TAGS or element.name in _HTML_HEADING_TAGS
    if is_block:
        buffer.append("\n")
    elif element.name in _HTML_CELL_TAGS and element.find_previous_sibling(
        _HTML_CELL_TAGS
    ):
        buffer.append(" | ")  # a table row reads as one line, like DOCX rows

    _walk_html(element, blocks, buffer)

    if is_block:
        buffer.append("\n")


def _flush_html_text(buffer: list[str], blocks: list[_Block]) -> None:
    # HTML whitespace is insignificant: collapse it inside each line, and let the
    # newlines placed at block boundaries carry the structure.
    lines = (" ".join(line.split()) for line in "".join(buffer).split("\n"))
    text = "\n".join(line for line in lines if line)
    if text:
        blocks.append(_Block(text=_clean_text(text)))

    buffer.clear()


# Markdown and plain text


def _parse_markdown(content: bytes, title: str) -> ParsedDocument:
    blocks = list(_markdown_blocks(decode_text(content)))

    return ParsedDocument(
        title=_first_heading(blocks) or title,
        page_count=1,
        sections=_sections_from_blocks(blocks),
    )


def _markdown_blocks(text: str) -> Iterator[_Block]:
    open_fence = ""
    for line in text.split("\n"):
        fence = _MARKDOWN_FENCE.match(line)
        if fence and open_fence in ("", fence.group(1)):
            # A '#' inside a code block is a comment, not a heading.
            open_fence = "" if open_fence else fence.group(1)

        heading = None if open_fence else _MARKDOWN_HEADING.match(line)
        if heading and heading.group(2):
            level = len(heading.group(1))
            yield _Block(text=line, level=level, heading=heading.group(2).strip())
        else:
            yield _Block(text=line)


def _parse_plain_text(content: bytes, title: str) -> ParsedDocument:
    text = _tidy(decode_text(content))
    sections = [Section(text=text, page=1, heading="")] if text else []

    return ParsedDocument(title=title, page_count=1, sections=sections)


# Shared helpers


def _candidate_encodings(
    content: bytes, declared_encoding: str | None
) -> Iterator[str]:
    for mark, encoding in _BYTE_ORDER_MARKS:
        if content.startswith(mark):
            yield encoding  # the BOM itself is dropped by _clean_text
            return

    if declared_encoding:
        yield declared_encoding

    # UTF-16 and UTF-32 without a BOM often pass as valid UTF-8 full of control
    # bytes (NULs beside Latin letters, 0x04 beside Cyrillic), so content rich
    # in them goes to detection first; a stray NUL in real UTF-8 does not.
    looks_wide = _control_byte_share(content) > 0.05
    if not looks_wide:
        yield "utf-8"

    detected = _detect_encoding(content)
    if detected:
        yield detected

    if looks_wide:
        yield "utf-8"


def _control_byte_share(content: bytes) -> float:
    without_controls = content.translate(None, _CONTROL_BYTES)
    return 1 - len(without_controls) / len(content)


def _detect_encoding(content: bytes) -> str | None:
    matches = from_bytes(content)
    best = matches.best()
    if best is None:
        return None

    # charset-normalizer cannot separate Windows-1250 from Windows-1252 on short
    # Western European text and may pick 1250, turning 'ñ' into 'ń'. When 1252
    # scores at least as well, it is the far likelier encoding.
    for match in matches:
        scores_as_well = match.chaos <= best.chaos and match.coherence >= best.coherence
        if scores_as_well and "cp1252" in match.could_be_from_charset:
            return "cp1252"

    return best.encoding


def _clean_text(text: str) -> str:
    text = text.removeprefix("\ufeff")  # a decoded byte order mark
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")

    # Other control characters are broken glyph mappings or binary residue;
    # a space keeps the words on either side apart.
    return _CONTROL_CHARACTERS.sub(" ", text)


def _tidy(text: str) -> str:
    lines = (line.rstrip() for line in text.split("\n"))
    return _BLANK_LINE_RUNS.sub("\n\n", "\n".join(lines)).strip()


def _first_heading(blocks: Iterable[_Block]) -> str:
    return next((block.heading for block in blocks if block.level), "")


def _sections_from_blocks(blocks: Iterable[_Block]) -> list[Section]:
    """Group blocks into one section per heading, labelled with its heading path."""
    sections: list[Section] = []
    path: list[_Block] = []
    lines: list[str] = []

    for block in blocks:
        if block.level:
            _append_section(sections, lines, path)
            path = [parent for parent in path if parent.level < block.level]
            path.append(block)
            lines = []
        lines.append(block.text)

    _append_section(sections, lines, path)
    return sections


def _append_section(
    sections: list[Section], lines: list[str], path: list[_Block]
) -> None:
    text = _tidy("\n".join(lines))
    if text:
        heading = " > ".join(parent.heading for parent in path)
        sections.append(Section(text=text, page=1, heading=heading))
