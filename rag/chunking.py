"""Split parsed documents into overlapping chunks for embedding.

Pure Python on purpose: it runs in Celery workers and tests without Django.
"""

from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.parsing import ParsedDocument


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
    """Cut each section on its own, so a chunk keeps one page and one heading."""
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        strip_whitespace=True,
    )

    pieces = [
        (text, section.page, section.heading)
        for section in document.sections
        for text in splitter.split_text(section.text)
        if text.strip()
    ]

    return [
        ChunkDraft(ordinal=ordinal, text=text, page=page, heading=heading)
        for ordinal, (text, page, heading) in enumerate(pieces)
    ]
