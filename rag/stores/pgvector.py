"""Vectors in the tenant's own schema, beside the chunk text (the default store)."""

import uuid
from collections.abc import Sequence

from django.db import connection, transaction
from pgvector.django import CosineDistance

from rag.models import Chunk, chunks_in
from rag.stores.base import SearchScope, VectorEntry, VectorMatch, VectorStore
from tenants.context import PUBLIC_SCHEMA, current_schema
from tenants.models import Tenant

# HNSW visits ef_search candidates and then applies the knowledge-base filter;
# iterative scans keep going until top_k rows survive the filter.
EF_SEARCH = 100


class PgVectorStore(VectorStore):
    def __init__(self, tenant: Tenant) -> None:
        if tenant.schema_name == PUBLIC_SCHEMA:
            raise ValueError("The public schema holds no knowledge; pass a tenant.")
        self.schema_name = tenant.schema_name

    def upsert(self, entries: Sequence[VectorEntry]) -> None:
        self._require_own_schema()
        chunks = [Chunk(id=entry.chunk_id, embedding=entry.vector) for entry in entries]
        Chunk.objects.bulk_update(chunks, ["embedding"], batch_size=200)

    def query(
        self,
        vector: list[float],
        *,
        scope: SearchScope,
        top_k: int,
    ) -> list[VectorMatch]:
        self._require_own_schema()

        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL hnsw.ef_search = %s", [max(EF_SEARCH, top_k)])
            cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            rows = list(
                Chunk.objects.filter(chunks_in(scope), embedding__isnull=False)
                .annotate(distance=CosineDistance("embedding", vector))
                .order_by("distance")
                .values_list("id", "distance")[:top_k]
            )

        return [
            VectorMatch(chunk_id=pk, similarity=1.0 - distance) for pk, distance in rows
        ]

    def delete_document(self, document_id: uuid.UUID) -> None:
        self._require_own_schema()
        Chunk.objects.filter(document_id=document_id).update(embedding=None)

    def delete_all(self) -> None:
        self._require_own_schema()
        Chunk.objects.update(embedding=None)

    def _require_own_schema(self) -> None:
        # The store was made for one tenant; refuse to touch whatever schema
        # the connection happens to be on if it is not that tenant's.
        if current_schema() != self.schema_name:
            raise RuntimeError(
                f"Vector store for {self.schema_name} used while the connection "
                f"is on {current_schema()}."
            )
