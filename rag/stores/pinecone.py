"""Vectors in a Pinecone index, one namespace per tenant (the hosted store).

Uses the classic dense-index calls of the official `pinecone` SDK (an index
created with a dimension and the cosine metric). The namespace is derived
from the tenant's immutable id when the store is made; no method takes one.
Vector ids are `<document id>#<chunk id>`, so a document's vectors can be
listed by prefix and deleted without a metadata filter. Chunk text stays in
Postgres, where full-text search also runs.
"""

import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from django.conf import settings
from pinecone import Pinecone
from pinecone.errors import NotFoundError, RateLimitError

from rag.models import Chunk, chunks_in
from rag.stores.base import SearchScope, VectorEntry, VectorMatch, VectorStore
from tenants.context import PUBLIC_SCHEMA
from tenants.models import Tenant

logger = logging.getLogger(__name__)

T = TypeVar("T")

UPSERT_BATCH = 100  # about 400 KB of 384-dimension vectors; the limit is 2 MB
DELETE_BATCH = 1000  # the most ids Pinecone deletes in one request


def namespace_for(tenant: Tenant) -> str:
    """The tenant's namespace, from its id (a schema can be renamed, the id cannot).

    Never the default namespace "": a store without a tenant is refused.
    """
    if tenant.schema_name == PUBLIC_SCHEMA or not tenant.id:
        raise ValueError(
            "A Pinecone store needs a tenant; the default namespace is refused."
        )
    return f"tenant-{uuid.UUID(str(tenant.id))}"


def pinecone_configured() -> bool:
    config = settings.RAG["PINECONE"]
    return bool(config["API_KEY"] and config["INDEX_HOST"])


@functools.cache
def _index(api_key: str, host: str, timeout: float) -> Any:
    return Pinecone(api_key=api_key, timeout=timeout).Index(host=host)


def shared_index() -> Any:
    """The deployment's index client, made once per key and host."""
    config = settings.RAG["PINECONE"]
    if not pinecone_configured():
        raise ValueError(
            "VECTOR_STORE is pinecone but PINECONE_API_KEY or PINECONE_INDEX_HOST "
            "is not set."
        )
    return _index(config["API_KEY"], config["INDEX_HOST"], config["TIMEOUT_SECONDS"])


# Pinecone results per wanted chunk; see PineconeVectorStore.query.
OVERFETCH = 2


class PineconeVectorStore(VectorStore):
    def __init__(self, tenant: Tenant) -> None:
        self._namespace = namespace_for(tenant)
        self._index = shared_index()

    @property
    def namespace(self) -> str:
        return self._namespace

    def upsert(self, entries: Sequence[VectorEntry]) -> None:
        vectors = [
            {
                "id": vector_id(entry.document_id, entry.chunk_id),
                "values": entry.vector,
                "metadata": {
                    "knowledge_base_id": str(entry.knowledge_base_id),
                    "document_id": str(entry.document_id),
                },
            }
            for entry in entries
        ]
        for batch in _batches(vectors, UPSERT_BATCH):
            self._retrying(
                functools.partial(
                    self._index.upsert, vectors=batch, namespace=self._namespace
                )
            )

    def query(
        self,
        vector: list[float],
        *,
        scope: SearchScope,
        top_k: int,
    ) -> list[VectorMatch]:
        if not scope.generations or top_k < 1:
            return []
        wanted: dict[str, Any] = {
            "knowledge_base_id": {"$in": sorted(str(pk) for pk in scope.generations)}
        }
        if scope.document_ids is not None:
            documents = {
                "document_id": {"$in": sorted(str(pk) for pk in scope.document_ids)}
            }
            wanted = {"$and": [wanted, documents]}

        # Ask for more: vectors of a generation being built or just retired
        # come back too, and are dropped against the chunk table below.
        response = self._retrying(
            lambda: self._index.query(
                vector=vector,
                top_k=min(top_k * OVERFETCH, 10_000),
                namespace=self._namespace,
                filter=wanted,
                include_metadata=False,
            )
        )
        matches = [
            VectorMatch(chunk_id=chunk_id_of(match.id), similarity=float(match.score))
            for match in response.matches
        ]
        live = set(
            Chunk.objects.filter(
                chunks_in(scope), id__in=[m.chunk_id for m in matches]
            ).values_list("id", flat=True)
        )
        return [match for match in matches if match.chunk_id in live][:top_k]

    def delete_document(self, document_id: uuid.UUID) -> None:
        # Collect every id first: deleting while paging could skip a page.
        ids = list(self._ids_with_prefix(f"{document_id}#"))
        for batch in _batches(ids, DELETE_BATCH):
            self._retrying(
                functools.partial(
                    self._index.delete, ids=batch, namespace=self._namespace
                )
            )

    def delete_all(self) -> None:
        # A tenant that never stored anything has no namespace to delete.
        with contextlib.suppress(NotFoundError):
            self._retrying(lambda: self._index.delete_namespace(name=self._namespace))

    def _ids_with_prefix(self, prefix: str) -> Iterator[str]:
        token = None
        while True:
            page = self._retrying(
                functools.partial(
                    self._index.list_paginated,
                    prefix=prefix,
                    namespace=self._namespace,
                    pagination_token=token,
                )
            )
            yield from (item.id for item in page.vectors if item.id)
            token = page.pagination.next if page.pagination else None
            if not token:
                return

    def _retrying(self, call: Callable[[], T]) -> T:
        """Run a call, waiting and trying again while Pinecone says 429.

        The SDK already retries a few times; this outlasts longer throttling
        so a document's deletion is not left half done.
        """
        config = settings.RAG["PINECONE"]
        attempts = config["MAX_ATTEMPTS"]
        delay = config["BACKOFF_SECONDS"]
        for attempt in range(1, attempts + 1):
            try:
                return call()
            except RateLimitError:
                if attempt == attempts:
                    raise
                logger.warning(
                    "pinecone.rate_limited",
                    extra={"namespace": self._namespace, "attempt": attempt},
                )
                time.sleep(delay * 2 ** (attempt - 1))
        raise AssertionError("unreachable")


def vector_id(document_id: uuid.UUID, chunk_id: int) -> str:
    return f"{document_id}#{chunk_id}"


def chunk_id_of(vector_id: str) -> int:
    return int(vector_id.rsplit("#", 1)[1])


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
