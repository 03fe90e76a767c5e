"""Split parsed documents into chunks for embedding.

Pure Python on purpose: it runs in Celery workers and tests without Django.
"""

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby

from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.parsing import ParsedDocument, Section

HEADING_SEPARATOR = " > "
# An opening line longer than this is body text, not a subtitle.
MAX_SUBTITLE_CHARS = 100

_BLANK_LINES = re.compile(r"\n\s*\n")
# A Markdown table's rule under its header row: "|---|:--:|".
_TABLE_RULE = re.compile(r"^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?$")


@dataclass(frozen=True)
class ChunkDraft:
    ordinal: int
    text: str
    page: int
    heading: str


def split_into_chunks(
    document: ParsedDocument,
    *,
    chunk_size: int = 1000,
    chunk_overlap: int = 150,
) -> list[ChunkDraft]:
    """Cut the document into chunks that never span two pages.

    Short neighbouring sections of one page share a chunk (a two-line "Brand"
    section alone says nothing a search can use); a long section is cut on
    its own, at paragraph boundaries first, so its chunks keep its heading.
    A table is kept whole when it fits and otherwise cut between rows, each
    part under the table's header row.
    """
    pieces = [
        (text, group[0].page, _group_heading(group))
        for group in _pack_sections(document.sections, chunk_size)
        for text in split_text(
            "\n\n".join(section.text for section in group), chunk_size, chunk_overlap
        )
    ]

    return [
        ChunkDraft(ordinal=ordinal, text=text, page=page, heading=heading)
        for ordinal, (text, page, heading) in enumerate(pieces)
    ]


def split_text(text: str, chunk_size: int, chunk_overlap: int) -> list[str]:
    """Pieces of at most `chunk_size` characters, cut between blocks first.

    Neighbouring pieces share their closing blocks up to `chunk_overlap`
    characters, so a sentence leaning on the paragraph before keeps it.
    """
    pieces: list[str] = []
    current: list[str] = []
    for block in _blocks(text):
        if current and _joined_size([*current, block]) > chunk_size:
            pieces.append("\n\n".join(current))
            current = _overlap(current, chunk_overlap)
            if _joined_size([*current, block]) > chunk_size:
                current = []
        if len(block) <= chunk_size:
            current.append(block)
        else:
            pieces.extend(_split_block(block, chunk_size, chunk_overlap))
            current = []
    if current:
        pieces.append("\n\n".join(current))
    return [piece for piece in pieces if piece.strip()]


def _joined_size(blocks: Sequence[str]) -> int:
    return sum(len(block) for block in blocks) + 2 * (len(blocks) - 1)


def _overlap(blocks: Sequence[str], chunk_overlap: int) -> list[str]:
    kept: list[str] = []
    for block in reversed(blocks):
        if _joined_size([block, *kept]) > chunk_overlap or _is_table(block):
            break
        kept.insert(0, block)
    return kept


def _blocks(text: str) -> Iterator[str]:
    """Paragraphs, with each table split out as a block of its own."""
    for paragraph in _BLANK_LINES.split(text.strip()):
        prose: list[str] = []
        for is_table, run in _line_runs(paragraph.strip("\n").split("\n")):
            if is_table:
                if prose:
                    yield "\n".join(prose)
                    prose = []
                yield "\n".join(run)
            else:
                prose.extend(run)
        if "\n".join(prose).strip():
            yield "\n".join(prose).strip()


def _line_runs(lines: Sequence[str]) -> Iterator[tuple[bool, list[str]]]:
    """Consecutive lines grouped by whether they form a table.

    One line holding a pipe is prose that happens to use one, not a table.
    """
    for is_row, group in groupby(lines, key=_is_table_row):
        run = list(group)
        yield is_row and len(run) >= 2, run


def _is_table(block: str) -> bool:
    lines = block.split("\n")
    return len(lines) >= 2 and all(_is_table_row(line) for line in lines)


def _is_table_row(line: str) -> bool:
    # Markdown rows start with a pipe; DOCX and HTML tables are rendered by
    # the parser as one line per row with cells joined by " | ".
    stripped = line.strip()
    return stripped.startswith("|") or " | " in stripped


def _split_block(block: str, chunk_size: int, chunk_overlap: int) -> list[str]:
    if _is_table(block):
        return split_table(block.split("\n"), chunk_size)
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size, chunk_overlap=chunk_overlap, strip_whitespace=True
    )
    return splitter.split_text(block)


def split_table(rows: Sequence[str], chunk_size: int) -> list[str]:
    """Cut a table between rows, repeating its header row atop every part.

    A row read without its header is a list of values whose meaning is lost;
    with it, every part can be cited and understood alone. A single row
    longer than the chunk is kept whole rather than cut mid-row.
    """
    header_size = 2 if len(rows) > 2 and _TABLE_RULE.match(rows[1].strip()) else 1
    header, body = list(rows[:header_size]), rows[header_size:]
    parts: list[str] = []
    current = list(header)
    size = sum(len(line) + 1 for line in header)
    for row in body:
        if len(current) > header_size and size + len(row) + 1 > chunk_size:
            parts.append("\n".join(current))
            current, size = list(header), sum(len(line) + 1 for line in header)
        current.append(row)
        size += len(row) + 1
    if len(current) > header_size or not parts:
        parts.append("\n".join(current))
    return parts


def _pack_sections(
    sections: Sequence[Section], chunk_size: int
) -> Iterator[list[Section]]:
    group: list[Section] = []
    size = 0
    for section in sections:
        fits = size + len(section.text) + 2 <= chunk_size
        if group and (section.page != group[0].page or not fits):
            yield group
            group, size = [], 0
        group.append(section)
        size += len(section.text) + 2
    if group:
        yield group


def _group_heading(group: Sequence[Section]) -> str:
    """The heading of the section that holds most of the group's text.

    Short sections packed together ("Technical Specs" followed by an empty
    "User Guide" heading) have only the document in common; the chunk is
    mostly about its largest section, so that is where it says it is.
    """
    largest = max(group, key=lambda section: len(section.text))
    return largest.heading


def document_label(document: ParsedDocument) -> str:
    """The title, followed by the document's opening line when that is a short subtitle.

    Product sheets and forms often carry a generic title ("Information about
    product 1") and name their subject on the first line below it, before
    its first comma.
    """
    subtitle = _opening_line(document)
    if not subtitle or subtitle == document.title:
        return document.title
    return f"{document.title} ({subtitle})" if document.title else subtitle


def _opening_line(document: ParsedDocument) -> str:
    # Only documents with headings have a title line to look below; a PDF's
    # first line is whatever its first page starts with.
    if not document.sections or not document.sections[0].heading:
        return ""
    for line in document.sections[0].text.splitlines():
        line = line.replace("**", "").strip().lstrip("#").strip()
        # What follows a comma describes the subject ("..., price $110"); the
        # passage stating it should be the one that matches, not every chunk.
        line = line.split(",")[0].strip().rstrip(";:")
        if line and line != document.title:
            return line if len(line) <= MAX_SUBTITLE_CHARS else ""
    return ""


def embedded_text(context: str, text: str) -> str:
    """What is embedded for a chunk: where it sits, then what it says."""
    return f"{context}\n\n{text}"
