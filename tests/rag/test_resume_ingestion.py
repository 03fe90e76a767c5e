"""Documents a stopped process left unfinished are ingested again, and only those."""

from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.utils import timezone

from rag.models import Document
from tests.conftest import api
from tests.rag.conftest import create_knowledge_base, text_file, upload


def queued_document(client, tenant, settings, name):  # type: ignore[no-untyped-def]
    """Upload with Celery configured but no broker consuming: the document stays queued."""
    settings.RAG = {**settings.RAG, "INGESTION_BACKEND": "celery"}
    knowledge_base_id = create_knowledge_base(client, tenant, f"KB {name}")
    response = upload(
        client,
        tenant,
        knowledge_base_id,
        [text_file(name, f"{name}: staff badges are renewed every May.")],
    )
    return response.json()["documents"][0]["id"]


def test_command_ingests_documents_left_behind_and_spares_fresh_ones(
    hr, client_for, in_schema, settings
):
    # given: one document left for ten minutes, one queued just now
    client = client_for(hr, "hr_admin")
    left_behind = queued_document(client, hr, settings, "old.txt")
    fresh = queued_document(client, hr, settings, "new.txt")
    with in_schema(hr):
        Document.objects.filter(id=left_behind).update(
            updated_at=timezone.now() - timedelta(minutes=10)
        )
    settings.RAG = {**settings.RAG, "INGESTION_BACKEND": "thread"}

    # when
    out = StringIO()
    call_command("resume_ingestion", stdout=out)

    # then: the command did the work itself instead of leaving it to a thread
    assert "hr: 1 documents sent back to ingestion" in out.getvalue()
    assert client.get(api(hr, f"documents/{left_behind}")).json()["status"] == "ready"
    assert client.get(api(hr, f"documents/{fresh}")).json()["status"] == "queued"
