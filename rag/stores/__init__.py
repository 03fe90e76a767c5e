"""Vector store backends, chosen by settings.RAG["VECTOR_STORE"]."""

from django.conf import settings

from rag.stores.base import SearchScope, VectorEntry, VectorMatch, VectorStore
from tenants.models import Tenant

__all__ = [
    "SearchScope",
    "VectorEntry",
    "VectorMatch",
    "VectorStore",
    "vector_store_for",
]


def vector_store_for(tenant: Tenant) -> VectorStore:
    backend = settings.RAG["VECTOR_STORE"]
    if backend == "pgvector":
        from rag.stores.pgvector import PgVectorStore

        return PgVectorStore(tenant)
    raise ValueError(f"Unknown vector store '{backend}'; supported: pgvector.")
