"""Fixtures for ingestion through the API: uploads, and knowledge kept across tests.

Most tests run inside the rolled-back transaction of the `db` fixture. Work
that must outlive one test (a corpus ingested once per module) or be seen by
another process (a Celery worker) is committed instead, inside
`django_db_blocker.unblock()`, and removed again by the fixture that made it.
"""

import mimetypes
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from rag.models import KnowledgeBase
from tenants.models import Tenant, schema_name_for
from tests.conftest import CORPUS_DIR, api, signed_in
from tests.fakes.pinecone import FakePinecone

CONTOSO_DIR = CORPUS_DIR / "contoso"
NASTY_DIR = CORPUS_DIR / "nasty"
CONTOSO_KNOWLEDGE_BASE = "Contoso benefits (ingested once per module)"


def file_from(path: Path) -> SimpleUploadedFile:
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type=content_type)


def text_file(name: str, text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/plain")


def create_knowledge_base(client: APIClient, tenant: Tenant, name: str) -> str:
    response = client.post(
        api(tenant, "knowledge-bases"), {"name": name}, format="json"
    )
    assert response.status_code == 201, response.content
    return str(response.json()["id"])


def upload(
    client: APIClient,
    tenant: Tenant,
    knowledge_base_id: str,
    files: Sequence[SimpleUploadedFile],
) -> Any:
    return client.post(
        api(tenant, f"knowledge-bases/{knowledge_base_id}/documents"),
        {"files": list(files)},
        format="multipart",
    )


def uploaded_documents(
    client: APIClient,
    tenant: Tenant,
    knowledge_base_id: str,
    files: Sequence[SimpleUploadedFile],
) -> list[dict[str, Any]]:
    """Upload, expect 202, and return each document as `GET documents/<id>` shows it."""
    response = upload(client, tenant, knowledge_base_id, files)
    assert response.status_code == 202, response.content
    return [
        client.get(api(tenant, f"documents/{document['id']}")).json()
        for document in response.json()["documents"]
    ]


def ask(client: APIClient, tenant: Tenant, query: str, **extra: Any) -> Any:
    return client.post(api(tenant, "chat"), {"query": query, **extra}, format="json")


@contextmanager
def committed_knowledge_base(tenant: Tenant, name: str) -> Iterator[str]:
    """A knowledge base made by the tenant's admin, deleted with all it holds afterwards."""
    knowledge_base_id = create_knowledge_base(
        signed_in(tenant, f"{tenant.slug}_admin"), tenant, name
    )
    try:
        yield knowledge_base_id
    finally:
        delete_knowledge_base(tenant.schema_name, name)


@pytest.fixture
def hr_knowledge_base(hr, client_for) -> str:  # type: ignore[no-untyped-def]
    """An empty knowledge base in hr, made by hr_admin; rolled back with the test."""
    return create_knowledge_base(client_for(hr, "hr_admin"), hr, "Policies")


@pytest.fixture
def hr_document(hr, client_for, hr_knowledge_base) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """One small ready document in `hr_knowledge_base`."""
    file = text_file(
        "parking.txt",
        "Staff parking permits are issued by the facilities desk on the "
        "ground floor. A permit costs 12 euros per month.",
    )
    [document] = uploaded_documents(
        client_for(hr, "hr_admin"), hr, hr_knowledge_base, [file]
    )
    assert document["status"] == "ready", document
    return document


def delete_knowledge_base(schema_name: str, name: str) -> None:
    with schema_context(schema_name):
        KnowledgeBase.objects.filter(name=name).delete()
    connection.set_schema_to_public()


@dataclass(frozen=True)
class IngestedCorpus:
    knowledge_base_id: str
    documents: dict[str, dict[str, Any]]  # filename -> `GET documents/<id>` body


@pytest.fixture(scope="module")
def contoso_in_hr(django_db_setup, django_db_blocker) -> Iterator[IngestedCorpus]:  # type: ignore[no-untyped-def]
    """The six contoso PDFs ingested into hr once per module, committed."""
    paths = sorted(CONTOSO_DIR.glob("*.pdf"))
    try:
        with django_db_blocker.unblock():
            hr = Tenant.objects.get(slug="hr")
            client = signed_in(hr, "hr_admin")
            knowledge_base_id = create_knowledge_base(
                client, hr, CONTOSO_KNOWLEDGE_BASE
            )
            documents = uploaded_documents(
                client, hr, knowledge_base_id, [file_from(path) for path in paths]
            )
        yield IngestedCorpus(
            knowledge_base_id=knowledge_base_id,
            documents={document["filename"]: document for document in documents},
        )
    finally:
        with django_db_blocker.unblock():
            delete_knowledge_base(schema_name_for("hr"), CONTOSO_KNOWLEDGE_BASE)


# A local Pinecone index for the vector store tests.


@pytest.fixture(scope="session")
def pinecone_server() -> Iterator[FakePinecone]:
    with FakePinecone() as server:
        yield server


@pytest.fixture
def fake_pinecone(pinecone_server, settings):  # type: ignore[no-untyped-def]
    pinecone_server.reset()
    settings.RAG = {
        **settings.RAG,
        "PINECONE": {
            "API_KEY": pinecone_server.api_key,
            "INDEX_HOST": pinecone_server.host,
            "TIMEOUT_SECONDS": 5.0,
            "MAX_ATTEMPTS": 6,
            "BACKOFF_SECONDS": 0.01,
        },
    }
    yield pinecone_server
    pinecone_server.reset()
