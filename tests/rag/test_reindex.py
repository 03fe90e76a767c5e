"""Re-indexing a knowledge base: old chunks serve until the new generation switches in."""

from django_tenants.utils import schema_context

from rag import actions
from rag.models import Chunk, Document, KnowledgeBase
from rag.retrieval import search_knowledge
from tests.conftest import api
from tests.rag.conftest import text_file, uploaded_documents

PLAN_TEXT = (
    "Fabrikam Gold Dental Plan\n\nThe Gold plan covers two cleanings a year and "
    "dental implants after a waiting period of twelve months."
)


def gold_plan_in(tenant, client_for, knowledge_base_id):  # type: ignore[no-untyped-def]
    [document] = uploaded_documents(
        client_for(tenant, f"{tenant.slug}_admin"),
        tenant,
        knowledge_base_id,
        [text_file("gold-plan.txt", PLAN_TEXT)],
    )
    assert document["status"] == "ready", document
    return document


def age_the_index(tenant, knowledge_base_id):  # type: ignore[no-untyped-def]
    """Make the knowledge base look built by an older pipeline."""
    with schema_context(tenant.schema_name):
        Document.objects.update(metadata={})
        Chunk.objects.update(context="")
        KnowledgeBase.objects.filter(id=knowledge_base_id).update(pipeline_version="1")


def search(tenant, knowledge_base_id, question):  # type: ignore[no-untyped-def]
    with schema_context(tenant.schema_name):
        return search_knowledge(
            tenant, question, knowledge_base_ids=[knowledge_base_id]
        )


def test_reindex_api_switches_to_chunks_of_the_new_pipeline(
    hr, client_for, hr_knowledge_base
):
    # given
    gold_plan_in(hr, client_for, hr_knowledge_base)
    age_the_index(hr, hr_knowledge_base)

    # when
    response = client_for(hr, "hr_admin").post(
        api(hr, f"knowledge-bases/{hr_knowledge_base}/reindex")
    )

    # then
    assert response.status_code == 202, response.content
    assert response.json()["building_generation"] == 2
    with schema_context(hr.schema_name):
        knowledge_base = KnowledgeBase.objects.get(id=hr_knowledge_base)
        assert knowledge_base.generation == 2
        assert knowledge_base.building_generation is None
        assert knowledge_base.pipeline_version == actions.PIPELINE_VERSION
        assert set(Chunk.objects.values_list("generation", flat=True)) == {2}
        assert Chunk.objects.exclude(context="").exists()
        document = Document.objects.get()
        assert "periods" in document.metadata
    found = search(hr, hr_knowledge_base, "Are dental implants covered?")
    assert found.chunks and not found.not_found


def test_old_chunks_serve_while_the_new_generation_is_built(
    hr, client_for, hr_knowledge_base
):
    # given a build that has written its chunks but not yet switched
    gold_plan_in(hr, client_for, hr_knowledge_base)
    with schema_context(hr.schema_name):
        knowledge_base = KnowledgeBase.objects.get(id=hr_knowledge_base)
        knowledge_base.building_generation = 2
        knowledge_base.save()
        document = Document.objects.get()
        built = actions._build_chunks(document, announce=False)
        actions._write_chunks(document, built, generation=2)
        old_ids = set(Chunk.objects.filter(generation=1).values_list("id", flat=True))

    # when
    during = search(hr, hr_knowledge_base, "Are dental implants covered?")
    with schema_context(hr.schema_name):
        actions.reindex_knowledge_base(knowledge_base.id)
    after = search(hr, hr_knowledge_base, "Are dental implants covered?")

    # then
    assert {chunk.chunk_id for chunk in during.chunks} <= old_ids
    assert after.chunks
    assert not {chunk.chunk_id for chunk in after.chunks} & old_ids


def test_reindex_of_another_tenants_knowledge_base_is_not_found(
    hr, support, client_for, hr_knowledge_base
):
    # when
    response = client_for(support, "support_admin").post(
        api(support, f"knowledge-bases/{hr_knowledge_base}/reindex")
    )

    # then
    assert response.status_code == 404
    with schema_context(hr.schema_name):
        knowledge_base = KnowledgeBase.objects.get(id=hr_knowledge_base)
        assert knowledge_base.generation == 1
        assert knowledge_base.building_generation is None


def test_member_cannot_reindex(hr, client_for, hr_knowledge_base):
    response = client_for(hr, "hr_member").post(
        api(hr, f"knowledge-bases/{hr_knowledge_base}/reindex")
    )

    assert response.status_code == 403


def test_named_plan_filter_never_reaches_another_tenant(
    hr, support, client_for, hr_knowledge_base
):
    # given the plan exists only in hr
    gold_plan_in(hr, client_for, hr_knowledge_base)
    support_kb = (
        client_for(support, "support_admin")
        .post(api(support, "knowledge-bases"), {"name": "Support"}, format="json")
        .json()["id"]
    )
    uploaded_documents(
        client_for(support, "support_admin"),
        support,
        support_kb,
        [text_file("returns.txt", "Returns are accepted within 30 days of delivery.")],
    )

    # when support asks about the plan hr holds
    found = search(
        support, support_kb, "Does the Fabrikam Gold Dental Plan cover implants?"
    )

    # then
    assert all(chunk.filename == "returns.txt" for chunk in found.chunks)


def test_chat_says_plainly_when_nothing_relevant_is_found(
    hr, client_for, hr_knowledge_base
):
    # given
    gold_plan_in(hr, client_for, hr_knowledge_base)

    # when the question is about a company no document covers
    response = client_for(hr, "hr_member").post(
        api(hr, "chat"),
        {"query": "What did Tailspin Toys report as revenue?"},
        format="json",
    )

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["citations"] == []
    assert "found nothing" in body["answer"]
