"""State changes for knowledge bases and documents: create, upload, ingest, delete."""

import contextlib
import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from audit.trail import record
from portal.errors import ApiError
from rag.chunking import ChunkDraft, document_label, embedded_text, split_into_chunks
from rag.embeddings import get_embedding_provider
from rag.metadata import DocumentMetadata, extract_metadata
from rag.models import Chunk, Document, DocumentFile, DocumentStatus, KnowledgeBase
from rag.parsing import UnreadableDocument, parse_document
from rag.screening import screen
from rag.stores import VectorEntry, vector_store_for
from tenants import quotas
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
# Raised whenever parsing, chunking, metadata or the header change, so a
# knowledge base shows whether a re-index has brought it up to date.
PIPELINE_VERSION = "5-name-like-subjects"


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
    name: str, description: str, user_id: int | None, actor: str = ""
) -> KnowledgeBase:
    name_taken = ApiError(
        409, "name_taken", f"A knowledge base named '{name}' exists already."
    )
    if KnowledgeBase.objects.filter(name__iexact=name).exists():
        raise name_taken

    provider = get_embedding_provider()
    try:
        with transaction.atomic():
            knowledge_base = KnowledgeBase.objects.create(
                name=name,
                description=description,
                embedding_model=provider.model_name,
                embedding_dimensions=provider.dimensions,
                created_by_id=user_id,
                pipeline_version=PIPELINE_VERSION,
            )
            record(
                "knowledge_base.create",
                actor_id=user_id,
                actor=actor,
                details={"knowledge_base_id": str(knowledge_base.id), "name": name},
            )
            return knowledge_base
    except IntegrityError:
        # Another request created the same name between the check and here.
        raise name_taken from None


def upload_documents(
    knowledge_base: KnowledgeBase,
    files: Sequence[IncomingFile],
    user_id: int | None,
    actor: str = "",
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
        # Counted with the new rows in place (duplicates take no room); a
        # refusal rolls them back, so a refused upload stores nothing.
        quotas.check_storage(current_tenant())
        record(
            "document.upload",
            actor_id=user_id,
            actor=actor,
            details=_upload_details(knowledge_base, outcomes),
        )

    for outcome in outcomes:
        if not outcome.duplicate:
            enqueue_ingestion(outcome.document.id)
    return outcomes


def _upload_details(
    knowledge_base: KnowledgeBase, outcomes: list[UploadOutcome]
) -> dict[str, Any]:
    return {
        "knowledge_base_id": str(knowledge_base.id),
        "documents": [
            {
                "id": str(outcome.document.id),
                "filename": outcome.document.filename,
                "size_bytes": outcome.document.size_bytes,
                "duplicate": outcome.duplicate,
            }
            for outcome in outcomes
        ],
    }


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


@dataclass(frozen=True)
class BuiltChunks:
    """A document parsed, split and embedded, not yet written."""

    page_count: int
    title: str
    metadata: DocumentMetadata
    drafts: list[ChunkDraft]
    contexts: list[str]
    vectors: list[list[float]]


def _index(document: Document) -> None:
    built = _build_chunks(document, announce=True)
    with transaction.atomic():
        knowledge_base = _lock_knowledge_base(document)
        chunks = _write_chunks(document, built, knowledge_base.generation)
        _set_status(
            document,
            DocumentStatus.READY,
            chunk_count=len(chunks),
            ingested_at=timezone.now(),
            failure_reason="",
        )
        record(
            "document.ingested",
            details={
                "document_id": str(document.id),
                "knowledge_base_id": str(document.knowledge_base_id),
                "chunks": len(chunks),
                "pages": built.page_count,
            },
        )

    logger.info(
        "document.ready",
        extra={
            "document_id": str(document.id),
            "chunks": len(chunks),
            "pages": built.page_count,
        },
    )


def _build_chunks(document: Document, *, announce: bool) -> BuiltChunks:
    """Parse, split and embed; `announce` shows the progress on the document."""
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

    metadata = extract_metadata(document.filename, parsed)
    header = document_header(document_label(parsed), metadata)
    contexts = [chunk_context(header, draft.heading) for draft in drafts]
    if announce:
        _set_status(
            document,
            DocumentStatus.EMBEDDING,
            title=parsed.title[:500],
            page_count=parsed.page_count,
        )
    vectors = _embed(
        document,
        [
            embedded_text(context, draft.text)
            for context, draft in zip(contexts, drafts, strict=True)
        ],
    )
    return BuiltChunks(
        parsed.page_count, parsed.title[:500], metadata, drafts, contexts, vectors
    )


def _lock_knowledge_base(document: Document) -> KnowledgeBase:
    # The document's row lock makes a concurrent delete wait until the chunks
    # are in, and tells this run if the delete came first; the knowledge
    # base's lock keeps a re-index from switching generations meanwhile.
    if not Document.objects.select_for_update().filter(id=document.id).exists():
        raise DocumentGone
    return KnowledgeBase.objects.select_for_update().get(id=document.knowledge_base_id)


def _write_chunks(
    document: Document, built: BuiltChunks, generation: int
) -> list[Chunk]:
    """Replace the document's chunks of one generation; call inside a transaction."""
    Chunk.objects.filter(document=document, generation=generation).delete()
    chunks = Chunk.objects.bulk_create(
        Chunk(
            document=document,
            knowledge_base_id=document.knowledge_base_id,
            generation=generation,
            ordinal=draft.ordinal,
            text=draft.text,
            page=draft.page,
            heading=draft.heading[:500],
            context=context[:1000],
        )
        for context, draft in zip(built.contexts, built.drafts, strict=True)
    )
    vector_store_for(current_tenant()).upsert(
        [
            VectorEntry(chunk.id, document.id, document.knowledge_base_id, vector)
            for chunk, vector in zip(chunks, built.vectors, strict=True)
        ]
    )
    flags = screen([draft.text for draft in built.drafts]).as_flags()
    Document.objects.filter(id=document.id).update(
        metadata=built.metadata.as_json(), flags=flags
    )
    document.metadata = built.metadata.as_json()
    document.flags = flags
    if flags:
        logger.warning(
            "document.instruction_like_text",
            extra={"document_id": str(document.id), "sentences": flags[0]["sentences"]},
        )
    return chunks


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


def document_header(label: str, metadata: DocumentMetadata) -> str:
    """The document's label with the facts its passages leave unsaid."""
    facts = [metadata.subject, metadata.organisation, *metadata.aliases]
    if metadata.periods:
        facts.append(metadata.period_label())
    if metadata.period_end:
        facts.append(f"period ended {metadata.period_end:%B %-d, %Y}")
    shown = [
        fact
        for fact in dict.fromkeys(facts)
        if fact and fact.lower() not in label.lower()
    ]
    return f"{label} ({'; '.join(shown)})" if shown else label


def chunk_context(title: str, heading: str) -> str:
    """Name the document and the section a chunk comes from, once each."""
    if not heading or heading == title:
        return title
    if not title or heading.startswith(title):
        return heading
    first, _, rest = heading.partition(" > ")
    if rest and title.startswith(first):
        # The path opens with the document's title, which the header names
        # already, with its subject after it: "Item 11 (TrailWalker Shoes)".
        return f"{title} > {rest}"
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
        record(
            "document.ingested",
            outcome="error",
            details={"document_id": str(document.id), "reason": reason[:500]},
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


def delete_document(document: Document, user_id: int | None, actor: str = "") -> int:
    """Delete a document with its file, chunks and vectors; return the chunk count."""
    document_id = document.id
    store = vector_store_for(current_tenant())

    with transaction.atomic():
        chunk_count = Chunk.objects.filter(document_id=document_id).count()
        store.delete_document(document_id)
        document.delete()
        record(
            "document.delete",
            actor_id=user_id,
            actor=actor,
            details={
                "document_id": str(document_id),
                "knowledge_base_id": str(document.knowledge_base_id),
                "filename": document.filename,
                "chunks": chunk_count,
            },
        )

    logger.info(
        "document.deleted",
        extra={
            "document_id": str(document_id),
            "chunks": chunk_count,
            "user_id": user_id,
        },
    )
    return chunk_count


# Re-indexing


def start_reindex(
    knowledge_base: KnowledgeBase, user_id: int | None, actor: str = ""
) -> int:
    """Reserve the next generation and enqueue its build; return its number."""
    with transaction.atomic():
        locked = KnowledgeBase.objects.select_for_update().get(id=knowledge_base.id)
        if locked.building_generation is not None:
            raise ApiError(
                409,
                "reindex_running",
                "A re-index of this knowledge base is already running.",
            )
        locked.building_generation = locked.generation + 1
        locked.save(update_fields=["building_generation"])
        record(
            "knowledge_base.reindex",
            actor_id=user_id,
            actor=actor,
            details={
                "knowledge_base_id": str(knowledge_base.id),
                "generation": locked.building_generation,
            },
        )

    logger.info(
        "knowledge_base.reindex_started",
        extra={
            "knowledge_base_id": str(knowledge_base.id),
            "generation": locked.building_generation,
            "user_id": user_id,
        },
    )
    enqueue_reindex(knowledge_base.id)
    return locked.building_generation


def enqueue_reindex(knowledge_base_id: uuid.UUID) -> None:
    from rag.tasks import dispatch_reindex

    schema_name = current_schema()
    if settings.RAG["INGESTION_BACKEND"] == "inline":
        dispatch_reindex(schema_name, knowledge_base_id)
    else:
        transaction.on_commit(lambda: dispatch_reindex(schema_name, knowledge_base_id))


def reindex_knowledge_base(knowledge_base_id: uuid.UUID) -> KnowledgeBase | None:
    """Build the reserved generation from every ready document, then switch to it.

    Searches keep reading the live generation the whole time. Safe to run
    again: chunks of the reserved generation are rebuilt, not duplicated.
    """
    knowledge_base = KnowledgeBase.objects.filter(id=knowledge_base_id).first()
    if knowledge_base is None or knowledge_base.building_generation is None:
        return knowledge_base
    target = knowledge_base.building_generation

    ready = Document.objects.filter(
        knowledge_base=knowledge_base, status=DocumentStatus.READY
    )
    for document in ready:
        _rebuild_document(document, target)
    return _switch_generation(knowledge_base.id, target)


def _rebuild_document(document: Document, generation: int) -> None:
    try:
        built = _build_chunks(document, announce=False)
        with transaction.atomic():
            _lock_knowledge_base(document)
            _write_chunks(document, built, generation)
    except (UnreadableDocument, DocumentGone) as exc:
        # The live chunks of a document the new pipeline cannot read are kept.
        logger.warning(
            "knowledge_base.reindex_skipped_document",
            extra={"document_id": str(document.id), "reason": str(exc)},
        )


def _switch_generation(knowledge_base_id: uuid.UUID, target: int) -> KnowledgeBase:
    with transaction.atomic():
        knowledge_base = KnowledgeBase.objects.select_for_update().get(
            id=knowledge_base_id
        )
        chunks = Chunk.objects.filter(knowledge_base=knowledge_base)
        rebuilt = chunks.filter(generation=target).values("document_id")
        # Documents uploaded during the build were indexed by the new
        # pipeline into the live generation; they move across as they are.
        chunks.filter(generation=knowledge_base.generation).exclude(
            document_id__in=rebuilt
        ).update(generation=target)
        chunks.exclude(generation=target).delete()
        knowledge_base.generation = target
        knowledge_base.building_generation = None
        knowledge_base.pipeline_version = PIPELINE_VERSION
        knowledge_base.reindexed_at = timezone.now()
        knowledge_base.save()
        _recount_chunks(knowledge_base)
        record(
            "knowledge_base.reindexed",
            details={
                "knowledge_base_id": str(knowledge_base_id),
                "generation": target,
                "chunks": chunks.count(),
            },
        )

    logger.info(
        "knowledge_base.reindexed",
        extra={"knowledge_base_id": str(knowledge_base_id), "generation": target},
    )
    return knowledge_base


def _recount_chunks(knowledge_base: KnowledgeBase) -> None:
    counts = dict(
        Chunk.objects.filter(knowledge_base=knowledge_base)
        .values_list("document_id")
        .annotate(count=models.Count("id"))
        .values_list("document_id", "count")
    )
    for document in Document.objects.filter(knowledge_base=knowledge_base):
        if document.id in counts and counts[document.id] != document.chunk_count:
            Document.objects.filter(id=document.id).update(
                chunk_count=counts[document.id]
            )


def abandon_reindex(knowledge_base_id: uuid.UUID) -> None:
    """Drop a build that crashed, so the live generation stays and a new one may start."""
    with transaction.atomic():
        knowledge_base = (
            KnowledgeBase.objects.select_for_update()
            .filter(id=knowledge_base_id)
            .first()
        )
        if knowledge_base is None or knowledge_base.building_generation is None:
            return
        Chunk.objects.filter(
            knowledge_base=knowledge_base,
            generation=knowledge_base.building_generation,
        ).delete()
        knowledge_base.building_generation = None
        knowledge_base.save(update_fields=["building_generation"])
