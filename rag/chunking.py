"""Split parsed documents into overlapping chunks for embedding.

Pure Python on purpose: it runs in Celery workers and tests without Django.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.parsing import ParsedDocument, Section

HEADING_SEPARATOR = " > "
# An opening line longer than this is body text, not a subtitle.
MAX_SUBTITLE_CHARS = 100


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
    its own, so its chunks keep its heading.
    """
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        strip_whitespace=True,
    )

    pieces = [
        (text, group[0].page, _shared_heading(group))
        for group in _pack_sections(document.sections, chunk_size)
        for text in splitter.split_text("\n\n".join(section.text for section in group))
        if text.strip()
    ]

    return [
        ChunkDraft(ordinal=ordinal, text=text, page=page, heading=heading)
        for ordinal, (text, page, heading) in enumerate(pieces)
    ]


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


def _shared_heading(group: Sequence[Section]) -> str:
    """The deepest heading path every section of the group lies under."""
    paths = [
        section.heading.split(HEADING_SEPARATOR) for section in group if section.heading
    ]
    if not paths:
        return ""
    shared: list[str] = []
    for parts in zip(*paths, strict=False):
        if any(part != parts[0] for part in parts):
            break
        shared.append(parts[0])
    return HEADING_SEPARATOR.join(shared) or paths[0][0]


def document_label(document: ParsedDocument) -> str:
    """The title, followed by the document's opening line when that is a short subtitle.

    Product sheets and forms often carry a generic title ("Information about
    product 1") and name their subject on the first line below it.
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
        line = line.replace("**", "").strip().lstrip("#").strip().rstrip(",;:")
        if line and line != document.title:
            return line if len(line) <= MAX_SUBTITLE_CHARS else ""
    return ""
