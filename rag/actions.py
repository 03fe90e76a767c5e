"""State changes for knowledge bases and documents: create, upload, ingest, delete."""

import contextlib
import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.errors import ApiError
from rag.chunking import document_label, split_into_chunks
from rag.embeddings import get_embedding_provider
from rag.models import Chunk, Document, DocumentFile, DocumentStatus, KnowledgeBase
from rag.parsing import UnreadableDocument, parse_document
from rag.stores import VectorEntry, vector_store_for
from tenants.context import current_schema, current_tenant

logger = logging.getLogger(__name__)

RETRY_HINT = "delete and upload the file again"
# Shown when ingestion fails for a reason that is ours, not the file's.
INTERNAL_FAILURE = f"ingestion failed inside the platform; {RETRY_HINT}"
FINISHED = (DocumentStatus.READY, DocumentStatus.FAILED)
# A document whose ingestion keeps dying (a worker killed mid-way each time)
# is given up after this many starts instead of being redelivered forever.
MAX_ATTEMPTS = 3
# Between slices the document is checked for deletion.
EMBEDDING_SLICE = 256


@dataclass(frozen=True)
class IncomingFile:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class UploadOutcome:
    document: Document
    duplicate: bool


def create_knowledge_base(
    name: str, description: str, user_id: int | None
) -> KnowledgeBase:
    name_taken = ApiError(
        409, "name_taken", f"A knowledge base named '{name}' exists already."
    )
    if KnowledgeBase.objects.filter(name__iexact=name).exists():
        raise name_taken

    provider = get_embedding_provider()
    try:
        with transaction.atomic():
            return KnowledgeBase.objects.create(
                name=name,
                description=description,
                embedding_model=provider.model_name,
                embedding_dimensions=provider.dimensions,
                created_by_id=user_id,
            )
    except IntegrityError:
        # Another request created the same name between the check and here.
        raise name_taken from None


def upload_documents(
    knowledge_base: KnowledgeBase, files: Sequence[IncomingFile], user_id: int | None
) -> list[UploadOutcome]:
    """Store the files as queued documents and enqueue their ingestion.

    All or nothing: a file that breaks a limit refuses the whole upload. The
    same bytes already in the knowledge base are not stored again; the
    existing document is returned instead.
    """
    check_upload_limits(
        [(incoming.filename, len(incoming.content)) for incoming in files]
    )

    outcomes: list[UploadOutcome] = []
    with transaction.atomic():
        for incoming in files:
            outcomes.append(_store_document(knowledge_base, incoming, user_id))

    for outcome in outcomes:
        if not outcome.duplicate:
            enqueue_ingestion(outcome.document.id)
    return outcomes


def check_upload_limits(files: Sequence[tuple[str, int]]) -> None:
    """Refuse an upload by file count and size (name and size in bytes per file)."""
    limits = settings.RAG
    if not files:
        raise ApiError(
            400, "no_files", "Attach one or more files in the 'files' field."
        )
    if len(files) > limits["MAX_FILES_PER_UPLOAD"]:
        raise ApiError(
            400,
            "too_many_files",
            f"Upload at most {limits['MAX_FILES_PER_UPLOAD']} files per request.",
        )

    total_mb = sum(size for _, size in files) / (1024 * 1024)
    if total_mb > limits["MAX_REQUEST_MB"]:
        raise ApiError(
            413,
            "upload_too_large",
            f"The files add up to {total_mb:.0f} MB; send at most "
            f"{limits['MAX_REQUEST_MB']} MB per request. Nothing was stored.",
        )

    max_bytes = limits["MAX_UPLOAD_MB"] * 1024 * 1024
    for filename, size in files:
        if size > max_bytes:
            raise ApiError(
                413,
                "file_too_large",
                f"'{filename}' exceeds {limits['MAX_UPLOAD_MB']} MB; nothing was stored.",
            )


def _store_document(
    knowledge_base: KnowledgeBase, incoming: IncomingFile, user_id: int | None
) -> UploadOutcome:
    content_hash = hashlib.sha256(incoming.content).hexdigest()
    existing = Document.objects.filter(
        knowledge_base=knowledge_base, content_hash=content_hash
    ).first()
    if existing is not None:
        return UploadOutcome(document=existing, duplicate=True)

    try:
        # A savepoint, so losing a race with a simultaneous upload of the same
        # bytes leaves the rest of this upload's transaction usable.
        with transaction.atomic():
            document = Document.objects.create(
                knowledge_base=knowledge_base,
                filename=_safe_filename(incoming.filename),
                content_type=incoming.content_type[:150],
                size_bytes=len(incoming.content),
                content_hash=content_hash,
                uploaded_by_id=user_id,
            )
            DocumentFile.objects.create(document=document, content=incoming.content)
    except IntegrityError:
        existing = Document.objects.get(
            knowledge_base=knowledge_base, content_hash=content_hash
        )
        return UploadOutcome(document=existing, duplicate=True)
    return UploadOutcome(document=document, duplicate=False)


def _safe_filename(name: str) -> str:
    # Browsers may send a path; keep the last part and no control characters.
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()
    return (cleaned or "unnamed")[:255]


def enqueue_ingestion(document_id: uuid.UUID) -> None:
    from rag.tasks import dispatch_ingestion

    schema_name = current_schema()
    if settings.RAG["INGESTION_BACKEND"] == "inline":
        dispatch_ingestion(schema_name, document_id)
    else:
        # A worker must not look for the document before its row is committed.
        transaction.on_commit(lambda: dispatch_ingestion(schema_name, document_id))


class DocumentGone(Exception):
    """The document was deleted while it was being ingested."""


def ingest_document(document_id: uuid.UUID) -> Document | None:
    """Parse, chunk, embed and index one document in the current tenant schema.

    Safe to run again: a finished document is left alone and any chunks of
    an earlier, interrupted run are replaced. A document deleted meanwhile
    stays deleted.
    """
    document = Document.objects.filter(id=document_id).first()
    if document is None or document.status in FINISHED:
        return document

    try:
        if document.attempts >= MAX_ATTEMPTS:
            _fail(
                document,
                f"ingestion was interrupted {document.attempts} times; {RETRY_HINT}",
            )
            return document
        _set_status(document, DocumentStatus.PARSING, attempts=document.attempts + 1)
        _index(document)
    except UnreadableDocument as exc:
        _fail_unless_gone(document, exc.reason)
    except DocumentGone:
        logger.info(
            "document.deleted_while_ingesting", extra={"document_id": str(document_id)}
        )
        return None
    return document


def _index(document: Document) -> None:
    content = bytes(DocumentFile.objects.get(document=document).content)
    parsed = parse_document(
        content,
        document.filename,
        max_unpacked_bytes=settings.RAG["MAX_UNPACKED_MB"] * 1024 * 1024,
    )
    drafts = split_into_chunks(
        parsed,
        chunk_size=settings.RAG["CHUNK_SIZE"],
        chunk_overlap=settings.RAG["CHUNK_OVERLAP"],
    )
    _check_chunk_count(len(drafts))

    label = document_label(parsed)
    contexts = [chunk_context(label, draft.heading) for draft in drafts]
    _set_status(
        document,
        DocumentStatus.EMBEDDING,
        title=parsed.title[:500],
        page_count=parsed.page_count,
    )
    vectors = _embed(
        document,
        [
            f"{context}\n\n{draft.text}"
            for context, draft in zip(contexts, drafts, strict=True)
        ],
    )

    with transaction.atomic():
        # The row lock makes a concurrent delete wait until the chunks are in,
        # and tells this run if the delete came first.
        if not Document.objects.select_for_update().filter(id=document.id).exists():
            raise DocumentGone
        Chunk.objects.filter(document=document).delete()
        chunks = Chunk.objects.bulk_create(
            Chunk(
                document=document,
                knowledge_base_id=document.knowledge_base_id,
                ordinal=draft.ordinal,
                text=draft.text,
                page=draft.page,
                heading=draft.heading[:500],
                context=context[:1000],
            )
            for context, draft in zip(contexts, drafts, strict=True)
        )
        store = vector_store_for(current_tenant())
        # A re-run of ingestion made new chunk ids; drop the old run's vectors.
        store.delete_document(document.id)
        store.upsert(
            [
                VectorEntry(chunk.id, document.id, document.knowledge_base_id, vector)
                for chunk, vector in zip(chunks, vectors, strict=True)
            ]
        )
        _set_status(
            document,
            DocumentStatus.READY,
            chunk_count=len(chunks),
            ingested_at=timezone.now(),
            failure_reason="",
        )

    logger.info(
        "document.ready",
        extra={
            "document_id": str(document.id),
            "chunks": len(chunks),
            "pages": parsed.page_count,
        },
    )


def _check_chunk_count(count: int) -> None:
    limit = settings.RAG["MAX_CHUNKS_PER_DOCUMENT"]
    if count == 0:
        raise UnreadableDocument("file has no text")
    if count > limit:
        raise UnreadableDocument(
            f"document is too long: {count} passages, the limit is {limit}; "
            "split it into smaller files"
        )


def _embed(document: Document, texts: list[str]) -> list[list[float]]:
    """Embed in slices, showing progress and stopping if the document is deleted.

    Each slice refreshes `updated_at`, so a document whose `updated_at` stands
    still while it is parsing or embedding has no process working on it.
    """
    provider = get_embedding_provider()
    vectors: list[list[float]] = []
    for start in range(0, len(texts), EMBEDDING_SLICE):
        # The first slice follows the status change that just did the same.
        if start and not Document.objects.filter(id=document.id).update(
            updated_at=timezone.now()
        ):
            raise DocumentGone
        vectors.extend(provider.embed_documents(texts[start : start + EMBEDDING_SLICE]))
    return vectors


def chunk_context(title: str, heading: str) -> str:
    """Name the document and the section a chunk comes from, once each."""
    if not heading or heading == title:
        return title
    if not title or heading.startswith(title):
        return heading
    return f"{title} > {heading}"


def mark_ingestion_failed(
    document_id: uuid.UUID, reason: str = INTERNAL_FAILURE
) -> None:
    """Give up on a document whose ingestion kept failing for internal reasons."""
    document = Document.objects.filter(id=document_id).first()
    if document is not None and document.status not in FINISHED:
        _fail_unless_gone(document, reason)


def _fail_unless_gone(document: Document, reason: str) -> None:
    with contextlib.suppress(DocumentGone):
        _fail(document, reason)


def _fail(document: Document, reason: str) -> None:
    with transaction.atomic():
        Chunk.objects.filter(document=document).delete()
        _set_status(
            document, DocumentStatus.FAILED, failure_reason=reason[:500], chunk_count=0
        )
    logger.info(
        "document.failed", extra={"document_id": str(document.id), "reason": reason}
    )


def _set_status(document: Document, status: DocumentStatus, **fields: Any) -> None:
    """Update the row (never re-insert it: it may have been deleted meanwhile)."""
    values = {**fields, "status": status, "updated_at": timezone.now()}
    if not Document.objects.filter(id=document.id).update(**values):
        raise DocumentGone
    for name, value in values.items():
        setattr(document, name, value)


def delete_document(document: Document, user_id: int | None) -> int:
    """Delete a document with its file, chunks and vectors; return the chunk count."""
    document_id = document.id
    store = vector_store_for(current_tenant())

    with transaction.atomic():
        chunk_count = Chunk.objects.filter(document_id=document_id).count()
        store.delete_document(document_id)
        document.delete()

    logger.info(
        "document.deleted",
        extra={
            "document_id": str(document_id),
            "chunks": chunk_count,
            "user_id": user_id,
        },
    )
    return chunk_count
