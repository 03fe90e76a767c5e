"""Background ingestion: a Celery task, or a worker thread in the web process.

Either way the work runs inside the schema of the tenant that uploaded the
document; the schema travels with the task, taken from the resolved tenant.
"""

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from celery.exceptions import Reject
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.test.utils import override_settings
from django.utils import timezone
from django_tenants.utils import schema_context

from portal.celery import app
from portal.lazy import made_once
from rag.actions import (
    FINISHED,
    abandon_reindex,
    ingest_document,
    mark_ingestion_failed,
    reindex_knowledge_base,
)
from rag.fair_queue import FairQueue
from rag.models import Document
from tenants.context import PUBLIC_SCHEMA, current_schema

logger = logging.getLogger(__name__)

# Errors worth another try: the database or the network blinked.
RECOVERABLE_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
MAX_RETRIES = 5


class TenantRequired(Exception):
    """A tenant task arrived without a tenant schema."""


def require_tenant_schema() -> str:
    schema_name = current_schema()
    if schema_name == PUBLIC_SCHEMA:
        raise TenantRequired("tenant task received without a tenant schema")
    return schema_name


class IngestionTask(app.Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):  # type: ignore[no-untyped-def]
        # Retries are used up: say so on the document instead of leaving it
        # looking busy forever.
        if current_schema() != PUBLIC_SCHEMA and args:
            mark_ingestion_failed(uuid.UUID(args[0]))


@app.task(
    base=IngestionTask,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=RECOVERABLE_ERRORS,
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=MAX_RETRIES,
)
def ingest_document_task(self, document_id: str) -> None:  # type: ignore[no-untyped-def]
    try:
        require_tenant_schema()
    except TenantRequired:
        logger.error(
            "ingestion.rejected_without_tenant", extra={"document_id": document_id}
        )
        raise Reject("no tenant schema", requeue=False) from None

    _ingest_or_give_up(uuid.UUID(document_id), retryable=RECOVERABLE_ERRORS)


def dispatch_ingestion(schema_name: str, document_id: uuid.UUID) -> None:
    """Send one document to the configured ingestion backend."""
    backend = settings.RAG["INGESTION_BACKEND"]
    if backend == "celery":
        ingest_document_task.apply_async(
            args=[str(document_id)], headers={"_schema_name": schema_name}
        )
    elif backend == "thread":
        _thread_queue().submit(schema_name, document_id)
    else:
        _ingest_now(schema_name, document_id)


@contextmanager
def finish_ingestion_before_exit() -> Iterator[None]:
    """Ingest inline where the configured backend is this process's thread.

    Management commands exit when they finish, and a thread of theirs would
    die with them, leaving documents queued that nothing picks up. Celery
    workers outlive the command, so that backend is kept.
    """
    if settings.RAG["INGESTION_BACKEND"] != "thread":
        yield
        return
    with override_settings(RAG={**settings.RAG, "INGESTION_BACKEND": "inline"}):
        yield


@made_once
def _thread_queue() -> FairQueue:
    # One thread: embedding already uses every core.
    return FairQueue(_ingest_in_thread, thread_name="ingest")


def wait_for_thread_ingestion(timeout: float) -> None:
    """Block until the documents queued in this process are ingested."""
    _thread_queue().wait_until_idle(timeout)


def _ingest_in_thread(schema_name: str, document_id: uuid.UUID) -> None:
    try:
        _ingest_now(schema_name, document_id)
    finally:
        connection.close()


def _ingest_now(schema_name: str, document_id: uuid.UUID) -> None:
    with schema_context(schema_name):
        _ingest_or_give_up(document_id)


def _ingest_or_give_up(
    document_id: uuid.UUID, retryable: tuple[type[Exception], ...] = ()
) -> None:
    """Ingest; on an unexpected error mark the document failed, unless it is retryable."""
    try:
        ingest_document(document_id)
    except retryable:
        raise
    except Exception:
        logger.exception(
            "ingestion.crashed",
            extra={"document_id": str(document_id), "schema": current_schema()},
        )
        mark_ingestion_failed(document_id)


@app.task(acks_late=True, reject_on_worker_lost=True)
def reindex_knowledge_base_task(knowledge_base_id: str) -> None:
    require_tenant_schema()
    _reindex_or_abandon(uuid.UUID(knowledge_base_id))


def dispatch_reindex(schema_name: str, knowledge_base_id: uuid.UUID) -> None:
    """Send a knowledge base's re-index to the configured ingestion backend."""
    backend = settings.RAG["INGESTION_BACKEND"]
    if backend == "celery":
        reindex_knowledge_base_task.apply_async(
            args=[str(knowledge_base_id)], headers={"_schema_name": schema_name}
        )
    elif backend == "thread":
        # Its own queue: a re-index embeds a whole knowledge base and must
        # not hold up the uploads that the ingestion queue serves.
        _reindex_queue().submit(schema_name, knowledge_base_id)
    else:
        _reindex_now(schema_name, knowledge_base_id)


@made_once
def _reindex_queue() -> FairQueue:
    return FairQueue(_reindex_in_thread, thread_name="reindex")


def _reindex_in_thread(schema_name: str, knowledge_base_id: uuid.UUID) -> None:
    try:
        _reindex_now(schema_name, knowledge_base_id)
    finally:
        connection.close()


def _reindex_now(schema_name: str, knowledge_base_id: uuid.UUID) -> None:
    with schema_context(schema_name):
        _reindex_or_abandon(knowledge_base_id)


def _reindex_or_abandon(knowledge_base_id: uuid.UUID) -> None:
    try:
        reindex_knowledge_base(knowledge_base_id)
    except Exception:
        logger.exception(
            "knowledge_base.reindex_crashed",
            extra={"knowledge_base_id": str(knowledge_base_id)},
        )
        abandon_reindex(knowledge_base_id)


def resume_unfinished_ingestion(schema_name: str, stale_after: timedelta) -> int:
    """Re-dispatch documents left unfinished for `stale_after`; return how many.

    Ingestion refreshes a document's `updated_at` as it goes, so one that has
    not changed for a while was left behind by a process that stopped.
    """
    cutoff = timezone.now() - stale_after
    with schema_context(schema_name):
        pending = list(
            Document.objects.exclude(status__in=FINISHED)
            .filter(updated_at__lte=cutoff)
            .values_list("id", flat=True)
        )
    for document_id in pending:
        dispatch_ingestion(schema_name, document_id)
    return len(pending)


def resume_in_every_tenant(stale_after: timedelta) -> dict[str, int]:
    """`resume_unfinished_ingestion` for every tenant; counts by tenant slug."""
    from tenants.models import Tenant

    return {
        tenant.slug: resume_unfinished_ingestion(tenant.schema_name, stale_after)
        for tenant in Tenant.objects.exclude(schema_name=PUBLIC_SCHEMA)
    }
