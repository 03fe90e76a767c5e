"""A deployment switched to Pinecone by configuration: ingest, retrieve, delete, remove."""

import uuid

from django_tenants.utils import schema_context

from rag.stores import VectorEntry, vector_store_for
from rag.stores.pinecone import namespace_for
from tenants.actions import provision_tenant, remove_tenant
from tenants.api_keys import issue_api_key
from tests.conftest import api
from tests.dify.test_external_knowledge import LEAVE, request_for, retrieve
from tests.rag.conftest import create_knowledge_base, text_file, upload
from tests.rag.test_vector_store_contract import direction


def test_documents_live_in_the_tenants_namespace_from_upload_to_delete(
    hr, support, fake_pinecone, settings, client_for
):
    # given
    settings.RAG = {**settings.RAG, "VECTOR_STORE": "pinecone"}
    admin = client_for(hr, "hr_admin")
    kb = create_knowledge_base(admin, hr, "Policies")

    # when
    document = upload(admin, hr, kb, [text_file("leave.txt", LEAVE)]).json()
    document_id = document["documents"][0]["id"]
    _, key = issue_api_key(hr, "dify", ["retrieval"], created_by=None)
    found = retrieve(hr, key, request_for(kb)).json()["records"]
    deleted = admin.delete(api(hr, f"documents/{document_id}"))

    # then
    assert [r["content"] for r in found] == [LEAVE]
    assert deleted.status_code == 200
    assert fake_pinecone.vector_ids(namespace_for(hr)) == set()
    assert fake_pinecone.vector_ids(namespace_for(support)) == set()
    assert {c.namespace for c in fake_pinecone.calls} == {namespace_for(hr)}


def test_removing_a_tenant_deletes_its_namespace_only(hr, fake_pinecone, settings):
    # given
    settings.RAG = {**settings.RAG, "VECTOR_STORE": "pinecone"}
    leaving = provision_tenant("leaving", "Leaving")
    for tenant in (leaving, hr):
        # No rows in the leaving schema: its tables are dropped in this
        # test's transaction, which Postgres refuses after inserts there.
        entry = VectorEntry(1, uuid.uuid4(), uuid.uuid4(), direction(1))
        with schema_context(tenant.schema_name):
            vector_store_for(tenant).upsert([entry])

    # when
    remove_tenant(leaving)

    # then
    assert fake_pinecone.namespaces() == {namespace_for(hr)}
