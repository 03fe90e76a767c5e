"""One contract for every vector store: pgvector, Pinecone (local fake), Pinecone (live).

The live run needs PINECONE_API_KEY and PINECONE_INDEX_HOST (a serverless
dense index, cosine, 384 dimensions) in the environment; without them it is
skipped. Reads poll until they hold, since Pinecone is eventually consistent.
"""

import os
import random
import time
import uuid
from collections.abc import Callable

import pytest
from django_tenants.utils import schema_context

from rag.models import EMBEDDING_DIMENSIONS, Chunk, Document, KnowledgeBase
from rag.stores import SearchScope, VectorEntry, remove_tenant_vectors, vector_store_for
from rag.stores.pinecone import namespace_for
from tenants.models import Tenant

LIVE = bool(
    os.environ.get("PINECONE_API_KEY") and os.environ.get("PINECONE_INDEX_HOST")
)


@pytest.fixture(
    params=[
        "pgvector",
        "pinecone",
        pytest.param(
            "pinecone-live",
            marks=pytest.mark.skipif(
                not LIVE, reason="no Pinecone key in the environment"
            ),
        ),
    ]
)
def backend(request, settings, db):  # type: ignore[no-untyped-def]
    if request.param == "pinecone":
        request.getfixturevalue("fake_pinecone")
    if request.param == "pinecone-live":
        settings.RAG = {
            **settings.RAG,
            "PINECONE": {
                "API_KEY": os.environ["PINECONE_API_KEY"],
                "INDEX_HOST": os.environ["PINECONE_INDEX_HOST"],
                "TIMEOUT_SECONDS": 10.0,
                "MAX_ATTEMPTS": 6,
                "BACKOFF_SECONDS": 0.5,
            },
        }
    store = "pgvector" if request.param == "pgvector" else "pinecone"
    settings.RAG = {**settings.RAG, "VECTOR_STORE": store}
    yield request.param
    if request.param == "pinecone-live":
        for slug in ("hr", "support"):
            tenant = Tenant.objects.get(slug=slug)
            with schema_context(tenant.schema_name):
                vector_store_for(tenant).delete_all()


def eventually(check: Callable[[], None], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def direction(seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(-1, 1) for _ in range(EMBEDDING_DIMENSIONS)]


def near(vector: list[float], seed: int, amount: float = 0.05) -> list[float]:
    noise = direction(seed)
    return [v + amount * n for v, n in zip(vector, noise, strict=True)]


def make_document(tenant: Tenant, knowledge_base: KnowledgeBase, seeds: list[int]):  # type: ignore[no-untyped-def]
    """A document with one chunk per seed, and the entries to store for them."""
    with schema_context(tenant.schema_name):
        document = Document.objects.create(
            knowledge_base=knowledge_base,
            filename=f"{uuid.uuid4().hex}.txt",
            size_bytes=1,
            content_hash=uuid.uuid4().hex,
        )
        chunks = Chunk.objects.bulk_create(
            Chunk(
                document=document,
                knowledge_base=knowledge_base,
                ordinal=n,
                text=f"chunk {n}",
            )
            for n in range(len(seeds))
        )
    return document, [
        VectorEntry(chunk.id, document.id, knowledge_base.id, direction(seed))
        for chunk, seed in zip(chunks, seeds, strict=True)
    ]


def make_knowledge_base(tenant: Tenant, name: str) -> KnowledgeBase:
    with schema_context(tenant.schema_name):
        return KnowledgeBase.objects.create(
            name=name, embedding_model="test", embedding_dimensions=EMBEDDING_DIMENSIONS
        )


def query(tenant, vector, knowledge_bases, top_k=5):  # type: ignore[no-untyped-def]
    with schema_context(tenant.schema_name):
        scope = SearchScope({kb.id: kb.generation for kb in knowledge_bases})
        return vector_store_for(tenant).query(vector, scope=scope, top_k=top_k)


def store(tenant: Tenant, action: Callable[..., None], *args) -> None:  # type: ignore[no-untyped-def]
    with schema_context(tenant.schema_name):
        action(vector_store_for(tenant), *args)


def upsert(tenant, entries):  # type: ignore[no-untyped-def]
    store(tenant, lambda s: s.upsert(entries))


# The contract


def test_query_returns_the_nearest_chunks_first(hr, backend):
    # given
    kb = make_knowledge_base(hr, "kb")
    _, entries = make_document(hr, kb, [1, 2, 3])
    upsert(hr, entries)

    # when / then
    def check() -> None:
        matches = query(hr, near(entries[1].vector, 99), [kb])
        assert [m.chunk_id for m in matches][0] == entries[1].chunk_id
        assert matches[0].similarity > 0.95
        assert len(matches) == 3

    eventually(check)


def test_query_keeps_to_the_given_knowledge_bases(hr, backend):
    # given
    wanted, other = make_knowledge_base(hr, "wanted"), make_knowledge_base(hr, "other")
    _, inside = make_document(hr, wanted, [1])
    _, outside = make_document(hr, other, [2])
    upsert(hr, inside + outside)

    # when / then
    def check() -> None:
        matches = query(hr, outside[0].vector, [wanted])
        assert [m.chunk_id for m in matches] == [inside[0].chunk_id]

    eventually(check)
    assert query(hr, inside[0].vector, []) == []


def test_upsert_replaces_a_chunks_vector(hr, backend):
    # given
    kb = make_knowledge_base(hr, "kb")
    _, entries = make_document(hr, kb, [1, 2])
    upsert(hr, entries)
    moved = VectorEntry(
        entries[0].chunk_id, entries[0].document_id, kb.id, direction(7)
    )

    # when
    upsert(hr, [moved])

    # then
    def check() -> None:
        matches = query(hr, direction(7), [kb], top_k=1)
        assert matches[0].chunk_id == moved.chunk_id
        assert matches[0].similarity > 0.99

    eventually(check)


def test_delete_document_removes_only_its_vectors(hr, backend):
    # given
    kb = make_knowledge_base(hr, "kb")
    gone, gone_entries = make_document(hr, kb, [1, 2])
    _, kept_entries = make_document(hr, kb, [3])
    upsert(hr, gone_entries + kept_entries)
    eventually(lambda: _assert_count(hr, kb, 3))

    # when
    store(hr, lambda s: s.delete_document(gone.id))

    # then
    def check() -> None:
        matches = query(hr, gone_entries[0].vector, [kb])
        assert [m.chunk_id for m in matches] == [kept_entries[0].chunk_id]

    eventually(check)


def test_a_tenants_store_never_reads_another_tenants_vectors(hr, support, backend):
    # given: the same knowledge-base id would be asked for in both tenants
    kb = make_knowledge_base(hr, "kb")
    _, entries = make_document(hr, kb, [1])
    upsert(hr, entries)
    eventually(lambda: _assert_count(hr, kb, 1))

    # when
    from_support = query(support, entries[0].vector, [kb])

    # then
    assert from_support == []


def test_removing_a_tenants_vectors_leaves_other_tenants(hr, support, backend):
    # given
    hr_kb, support_kb = (
        make_knowledge_base(hr, "kb"),
        make_knowledge_base(support, "kb"),
    )
    _, hr_entries = make_document(hr, hr_kb, [1])
    _, support_entries = make_document(support, support_kb, [2])
    upsert(hr, hr_entries)
    upsert(support, support_entries)
    eventually(lambda: _assert_count(support, support_kb, 1))

    # when
    with schema_context(hr.schema_name):
        remove_tenant_vectors(hr)

    # then
    eventually(lambda: _assert_count(hr, hr_kb, 0))
    eventually(lambda: _assert_count(support, support_kb, 1))


def _assert_count(tenant, kb, expected):  # type: ignore[no-untyped-def]
    assert len(query(tenant, direction(0), [kb], top_k=50)) == expected


# Pinecone specifics, against the local fake


def test_namespace_comes_from_the_tenant_id_and_never_the_default(hr, fake_pinecone):
    # given
    public = Tenant.objects.get(schema_name="public")

    # then
    assert namespace_for(hr) == f"tenant-{hr.id}"
    with pytest.raises(ValueError):
        namespace_for(public)


def test_pinecone_methods_take_no_namespace(hr, fake_pinecone):
    import inspect

    from rag.stores.pinecone import PineconeVectorStore

    for name in ("upsert", "query", "delete_document", "delete_all"):
        parameters = inspect.signature(getattr(PineconeVectorStore, name)).parameters
        assert "namespace" not in parameters


def test_a_large_document_is_deleted_in_batches_of_at_most_1000(
    hr, fake_pinecone, settings
):
    # given
    settings.RAG = {**settings.RAG, "VECTOR_STORE": "pinecone"}
    document_id, kb_id = uuid.uuid4(), uuid.uuid4()
    entries = [
        VectorEntry(n, document_id, kb_id, direction(n % 5)) for n in range(2500)
    ]
    upsert(hr, entries)

    # when
    store(hr, lambda s: s.delete_document(document_id))

    # then
    deletes = [c.count for c in fake_pinecone.calls if c.operation == "delete"]
    assert sorted(deletes) == [500, 1000, 1000]
    assert fake_pinecone.vector_ids(namespace_for(hr)) == set()


def test_throttled_deletes_are_retried_until_nothing_is_left(
    hr, fake_pinecone, settings
):
    # given
    settings.RAG = {**settings.RAG, "VECTOR_STORE": "pinecone"}
    document_id, kb_id = uuid.uuid4(), uuid.uuid4()
    upsert(hr, [VectorEntry(n, document_id, kb_id, direction(n)) for n in range(1200)])
    fake_pinecone.throttle("delete", times=6)

    # when
    store(hr, lambda s: s.delete_document(document_id))

    # then
    throttled = [c for c in fake_pinecone.calls if c.operation == "delete:429"]
    assert len(throttled) == 6
    assert fake_pinecone.vector_ids(namespace_for(hr)) == set()


def test_writes_that_land_late_are_found_by_polling(hr, fake_pinecone, settings):
    # given
    settings.RAG = {**settings.RAG, "VECTOR_STORE": "pinecone"}
    fake_pinecone.lag = 0.3
    kb = make_knowledge_base(hr, "kb")
    _, entries = make_document(hr, kb, [1])

    # when
    upsert(hr, entries)

    # then
    assert query(hr, entries[0].vector, [kb]) == []
    eventually(lambda: _assert_count(hr, kb, 1))


def test_a_tenant_can_choose_pinecone_over_the_default(hr, support, fake_pinecone):
    # given: the deployment default stays pgvector
    hr.vector_store = "pinecone"
    hr.save(update_fields=["vector_store"])
    kb = make_knowledge_base(hr, "kb")
    _, entries = make_document(hr, kb, [1])

    # when
    upsert(hr, entries)

    # then
    assert fake_pinecone.vector_ids(namespace_for(hr)) == {
        f"{entries[0].document_id}#{entries[0].chunk_id}"
    }
    with schema_context(support.schema_name):
        assert type(vector_store_for(support)).__name__ == "PgVectorStore"
