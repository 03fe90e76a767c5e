"""Ingest a folder of files into a knowledge base (demo and operators)."""

import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rag.actions import IncomingFile, upload_documents
from rag.models import Document, KnowledgeBase

SUPPORTED_SUFFIXES = {".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt"}


@dataclass
class FolderReport:
    ready: list[Document] = field(default_factory=list)
    failed: list[Document] = field(default_factory=list)
    pending: list[Document] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)


def supported_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            yield path


def ingest_folder(knowledge_base: KnowledgeBase, folder: Path) -> FolderReport:
    """Upload every supported file below `folder`, one at a time."""
    report = FolderReport()
    for path in supported_files(folder):
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            report.skipped.append(path)
            continue

        incoming = IncomingFile(
            filename=path.name,
            content_type=mimetypes.guess_type(path.name)[0] or "",
            content=path.read_bytes(),
        )
        outcome = upload_documents(knowledge_base, [incoming], user_id=None)[0]
        document = Document.objects.get(id=outcome.document.id)
        _file_under(report, document)
    return report


def _file_under(report: FolderReport, document: Document) -> None:
    if document.status == "ready":
        report.ready.append(document)
    elif document.status == "failed":
        report.failed.append(document)
    else:
        report.pending.append(document)
