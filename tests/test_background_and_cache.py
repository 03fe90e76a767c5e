"""Tasks run in the schema they were sent from, and cache keys carry the tenant."""

import hashlib

from django.core.cache import cache
from django.db import connection
from django_tenants.utils import schema_context

from rag.actions import create_knowledge_base
from rag.models import Chunk, Document, DocumentFile, DocumentStatus
from rag.tasks import ingest_document_task
from tenants.context import PUBLIC_SCHEMA, current_schema


def queued_document(tenant, text):  # type: ignore[no-untyped-def]
    """A document stored but not yet ingested, in the tenant's schema."""
    content = text.encode()
    with schema_context(tenant.schema_name):
        knowledge_base = create_knowledge_base(f"Base {tenant.slug}", "", None)
        document = Document.objects.create(
            knowledge_base=knowledge_base,
            filename="note.txt",
            content_type="text/plain",
            size_bytes=len(content),
            content_hash=hashlib.sha256(content).hexdigest(),
        )
        DocumentFile.objects.create(document=document, content=content)
    return document.id


def run_as_worker(task, args, schema_name=None):  # type: ignore[no-untyped-def]
    """Run a task as a worker does: the schema comes only from its headers."""
    headers = {} if schema_name is None else {"_schema_name": schema_name}
    return task.apply(args=args, headers=headers)


def test_task_for_a_runs_in_as_schema_right_after_one_for_b(hr, support):
    hr_document = queued_document(hr, "Annual leave is 25 days for HR staff.")
    support_document = queued_document(support, "Warranty lasts two years.")

    run_as_worker(ingest_document_task, [str(support_document)], support.schema_name)
    after_b = current_schema()
    run_as_worker(ingest_document_task, [str(hr_document)], hr.schema_name)
    after_a = current_schema()

    assert after_b == after_a == PUBLIC_SCHEMA
    with schema_context(hr.schema_name):
        assert Document.objects.get(id=hr_document).status == DocumentStatus.READY
        assert not Document.objects.filter(id=support_document).exists()
        assert "25 days" in Chunk.objects.get(document_id=hr_document).text
    with schema_context(support.schema_name):
        assert Document.objects.get(id=support_document).status == DocumentStatus.READY


def test_task_without_a_tenant_is_rejected_and_writes_nothing(hr):
    document_id = queued_document(hr, "Annual leave is 25 days.")

    # The test runs in public, so apply() adds the public schema, as a
    # worker would assume for a message without a tenant header.
    result = run_as_worker(ingest_document_task, [str(document_id)])

    assert result.state == "REJECTED"
    assert connection.schema_name == PUBLIC_SCHEMA
    with schema_context(hr.schema_name):
        document = Document.objects.get(id=document_id)
        assert document.status == DocumentStatus.QUEUED
        assert document.attempts == 0
        assert not Chunk.objects.filter(document_id=document_id).exists()


def test_same_cache_key_in_two_tenants_holds_two_values(hr, support):
    with schema_context(hr.schema_name):
        cache.set("settings", "hr value")
    with schema_context(support.schema_name):
        cache.set("settings", "support value")
        support_sees = cache.get("settings")
    with schema_context(hr.schema_name):
        hr_sees = cache.get("settings")

    assert (hr_sees, support_sees) == ("hr value", "support value")
    assert cache.get("settings") is None  # nor is it the public schema's
