"""Ingestion in a thread of the web process (the embedded default, no Redis).

Writes are committed so the ingestion thread, which has its own database
connection, sees them; each test removes what it made.
"""

import time
from collections.abc import Iterator

import pytest
from django_tenants.utils import schema_context

from rag.models import Chunk, Document
from rag.tasks import wait_for_thread_ingestion
from tests.conftest import api
from tests.rag.conftest import committed_knowledge_base, text_file, upload

KNOWLEDGE_BASE = "Thread ingestion (committed)"


@pytest.fixture
def db(committed_db) -> None:  # type: ignore[no-untyped-def]
    """Committed writes, so the ingestion thread sees them."""


@pytest.fixture
def in_thread(settings) -> None:  # type: ignore[no-untyped-def]
    settings.RAG = {
        **settings.RAG,
        "INGESTION_BACKEND": "thread",
        "CHUNK_SIZE": 100,
        "CHUNK_OVERLAP": 0,
    }


@pytest.fixture
def hr_knowledge_base(hr, db) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with committed_knowledge_base(hr, KNOWLEDGE_BASE) as knowledge_base_id:
        yield knowledge_base_id


def wait_for(client, tenant, document_id, statuses, seconds=60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = client.get(api(tenant, f"documents/{document_id}"))
        if response.status_code == 404 or response.json()["status"] in statuses:
            return response
        time.sleep(0.05)
    raise AssertionError(f"document {document_id} never reached {statuses}")


def long_text(paragraphs: int) -> str:
    return "\n\n".join(
        f"Rule {n}: travel claims for trip {n} are filed within sixty days of return."
        for n in range(paragraphs)
    )


def test_upload_returns_at_once_and_the_thread_ingests(
    hr, client_for, hr_knowledge_base, in_thread
):
    # given
    client = client_for(hr, "hr_admin")

    # when
    response = upload(
        client, hr, hr_knowledge_base, [text_file("rules.txt", long_text(40))]
    )

    # then
    assert response.status_code == 202
    [queued] = response.json()["documents"]
    assert queued["status"] == "queued"
    document = wait_for(client, hr, queued["id"], {"ready", "failed"}).json()
    assert document["status"] == "ready"
    assert document["chunk_count"] == 40


def test_document_deleted_while_embedding_stays_deleted(
    hr, client_for, hr_knowledge_base, in_thread
):
    # given: a document long enough to be caught while it is being embedded
    client = client_for(hr, "hr_admin")
    response = upload(
        client, hr, hr_knowledge_base, [text_file("long.txt", long_text(3000))]
    )
    document_id = response.json()["documents"][0]["id"]
    wait_for(client, hr, document_id, {"embedding"})

    # when
    deleted = client.delete(api(hr, f"documents/{document_id}"))

    # then: once the thread is done, the document has not come back
    assert deleted.status_code == 200
    wait_for_thread_ingestion(timeout=120)
    assert client.get(api(hr, f"documents/{document_id}")).status_code == 404
    with schema_context(hr.schema_name):
        assert not Document.objects.filter(id=document_id).exists()
        assert not Chunk.objects.filter(document_id=document_id).exists()
