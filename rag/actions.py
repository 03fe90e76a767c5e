"""State changes for knowledge bases and documents: create, upload, ingest, delete."""

import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.errors import ApiError
from rag.chunking import split_into_chunks
from rag.embeddings import get_embedding_provider
from rag.models import Chunk, Document, DocumentFile, DocumentStatus, KnowledgeBase
from rag.parsing import UnreadableDocument, parse_document
from rag.stores import VectorEntry, vector_store_for
from tenants.context import current_schema, current_tenant

logger = logging.getLogger(__name__)

# Shown when ingestion fails for a reason that is ours, not the file's.
INTERNAL_FAILURE = (
    "ingestion failed inside the platform; delete and upload the file again"
)


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
    if KnowledgeBase.objects.filter(name=name).exists():
        raise ApiError(
            409, "name_taken", f"A knowledge base named '{name}' exists already."
        )

    provider = get_embedding_provider()
    return KnowledgeBase.objects.create(
        name=name,
        description=description,
        embedding_model=provider.model_name,
        embedding_dimensions=provider.dimensions,
        created_by_id=user_id,
    )


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


def ingest_document(document_id: uuid.UUID) -> Document | None:
    """Parse, chunk, embed and index one document in the current tenant schema.

    Safe to run again: a ready document is left alone and any chunks of an
    earlier, interrupted run are replaced.
    """
    document = Document.objects.filter(id=document_id).first()
    if document is None or document.status == DocumentStatus.READY:
        return document

    _set_status(document, DocumentStatus.PARSING, attempts=document.attempts + 1)
    try:
        _index(document)
    except UnreadableDocument as exc:
        _fail(document, exc.reason)
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
    if not drafts:
        raise UnreadableDocument("file has no text")

    document.title = parsed.title[:500]
    document.page_count = parsed.page_count
    _set_status(document, DocumentStatus.EMBEDDING)
    contexts = [chunk_context(document.title, draft.heading) for draft in drafts]
    provider = get_embedding_provider()
    vectors = provider.embed_documents(
        [
            f"{context}\n\n{draft.text}"
            for context, draft in zip(contexts, drafts, strict=True)
        ]
    )

    with transaction.atomic():
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
        vector_store_for(current_tenant()).upsert(
            [
                VectorEntry(chunk.id, document.id, document.knowledge_base_id, vector)
                for chunk, vector in zip(chunks, vectors, strict=True)
            ]
        )
        document.chunk_count = len(chunks)
        document.ingested_at = timezone.now()
        _set_status(document, DocumentStatus.READY)

    logger.info(
        "document.ready",
        extra={
            "document_id": str(document.id),
            "chunks": len(chunks),
            "pages": parsed.page_count,
        },
    )


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
    if document is not None and document.status != DocumentStatus.READY:
        _fail(document, reason)


def _fail(document: Document, reason: str) -> None:
    Chunk.objects.filter(document=document).delete()
    document.failure_reason = reason[:500]
    document.chunk_count = 0
    _set_status(document, DocumentStatus.FAILED)
    logger.info(
        "document.failed", extra={"document_id": str(document.id), "reason": reason}
    )


def _set_status(document: Document, status: DocumentStatus, **fields: object) -> None:
    for name, value in fields.items():
        setattr(document, name, value)
    document.status = status
    document.save()


def delete_document(document: Document) -> int:
    """Delete a document with its file, chunks and vectors; return the chunk count."""
    store = vector_store_for(current_tenant())

    with transaction.atomic():
        chunk_count = Chunk.objects.filter(document=document).count()
        store.delete_document(document.id)
        document.delete()

    logger.info(
        "document.deleted",
        extra={"document_id": str(document.id), "chunks": chunk_count},
    )
    return chunk_count
