"""The contract every vector store implements.

A store is created for one tenant and is bound to it for its whole life:
no method takes a tenant, schema or namespace, so a query cannot be aimed
at another tenant's vectors by passing the wrong argument.
"""

import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class VectorEntry:
    chunk_id: int
    document_id: uuid.UUID
    knowledge_base_id: uuid.UUID
    vector: list[float]


@dataclass(frozen=True)
class SearchScope:
    """Which chunks a search may return: each knowledge base's live generation,
    and within them only these documents when `document_ids` is set."""

    generations: dict[uuid.UUID, int]
    document_ids: frozenset[uuid.UUID] | None = None

    @property
    def knowledge_base_ids(self) -> list[uuid.UUID]:
        return list(self.generations)


@dataclass(frozen=True)
class VectorMatch:
    chunk_id: int
    similarity: float  # cosine similarity, 1.0 = same direction


class VectorStore(ABC):
    @abstractmethod
    def upsert(self, entries: Sequence[VectorEntry]) -> None:
        """Store or replace the vectors of these chunks."""

    @abstractmethod
    def query(
        self,
        vector: list[float],
        *,
        scope: SearchScope,
        top_k: int,
    ) -> list[VectorMatch]:
        """Return the closest chunks within the scope, best first."""

    @abstractmethod
    def delete_document(self, document_id: uuid.UUID) -> None:
        """Remove every vector of one document."""

    @abstractmethod
    def delete_all(self) -> None:
        """Remove every vector of the tenant; used when the tenant is removed."""
