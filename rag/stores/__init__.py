"""Vector store backends: the deployment's default (VECTOR_STORE) or the tenant's choice."""

from django.conf import settings

from rag.stores.base import SearchScope, VectorEntry, VectorMatch, VectorStore
from tenants.models import Tenant, VectorStoreBackend

__all__ = [
    "SearchScope",
    "VectorEntry",
    "VectorMatch",
    "VectorStore",
    "remove_tenant_vectors",
    "vector_store_for",
]


def vector_store_for(tenant: Tenant) -> VectorStore:
    return _store(tenant, tenant.vector_store or settings.RAG["VECTOR_STORE"])


def _store(tenant: Tenant, backend: str) -> VectorStore:
    if backend == VectorStoreBackend.PGVECTOR:
        from rag.stores.pgvector import PgVectorStore

        return PgVectorStore(tenant)
    if backend == VectorStoreBackend.PINECONE:
        from rag.stores.pinecone import PineconeVectorStore

        return PineconeVectorStore(tenant)
    supported = ", ".join(VectorStoreBackend.values)
    raise ValueError(f"Unknown vector store '{backend}'; supported: {supported}.")


def remove_tenant_vectors(tenant: Tenant) -> None:
    """Delete the tenant's vectors from every store that may hold them.

    The connection must be on the tenant's schema. Pinecone is cleared
    whenever the deployment has it, since the tenant may have used it before
    switching back to pgvector.
    """
    from rag.stores.pinecone import pinecone_configured

    _store(tenant, VectorStoreBackend.PGVECTOR).delete_all()
    if pinecone_configured():
        _store(tenant, VectorStoreBackend.PINECONE).delete_all()
