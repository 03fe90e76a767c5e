"""Hybrid retrieval: vector similarity and Postgres full-text search, fused by rank."""

import re
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import F

from portal.lazy import made_once
from rag.embeddings import get_embedding_provider
from rag.models import Chunk
from rag.stores import vector_store_for
from tenants.models import Tenant

_WORD = re.compile(r"[^\W_]+")
MAX_QUERY_WORDS = 64


@dataclass(frozen=True)
class RetrievedChunk:
    chunk_id: int
    document_id: uuid.UUID
    knowledge_base_id: uuid.UUID
    title: str
    filename: str
    page: int
    heading: str
    text: str
    score: float  # reciprocal-rank fusion score
    similarity: float | None  # cosine similarity when the vector search found it


def hybrid_search(
    tenant: Tenant,
    query: str,
    *,
    knowledge_base_ids: Sequence[uuid.UUID],
    top_k: int = 5,
) -> list[RetrievedChunk]:
    """Search the tenant's knowledge bases; the connection must be on its schema."""
    if not query.strip() or not knowledge_base_ids:
        return []
    candidates = settings.RAG["CANDIDATES_PER_METHOD"]

    # The query is embedded on another thread (torch releases the GIL) while
    # this one runs the full-text search on its own database connection.
    embedding = _embedder().submit(get_embedding_provider().embed_query, query)
    lexical_ids = lexical_search(query, knowledge_base_ids, candidates)
    vector_matches = vector_store_for(tenant).query(
        embedding.result(), knowledge_base_ids=knowledge_base_ids, top_k=candidates
    )

    similarity = {match.chunk_id: match.similarity for match in vector_matches}
    fused = reciprocal_rank_fusion(
        [[match.chunk_id for match in vector_matches], lexical_ids],
        k=settings.RAG["RRF_K"],
    )
    return _load_chunks(fused[:top_k], similarity)


@made_once
def _embedder() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="embed-query")


def lexical_search(
    query: str, knowledge_base_ids: Sequence[uuid.UUID], limit: int
) -> list[int]:
    """Chunk ids ranked by full-text relevance to any of the query's words."""
    words = _WORD.findall(query.lower())[:MAX_QUERY_WORDS]
    if not words:
        return []

    # OR the words: a question rarely shares every word with its answer, and
    # ranking (not matching) decides what comes first. Words are alphanumeric
    # only, so the raw tsquery syntax cannot be abused.
    search_query = SearchQuery(" | ".join(words), search_type="raw", config="english")
    rows = (
        Chunk.objects.filter(knowledge_base_id__in=knowledge_base_ids)
        .filter(search_vector=search_query)
        .annotate(rank=SearchRank(F("search_vector"), search_query))
        .order_by("-rank", "id")
        .values_list("id", flat=True)[:limit]
    )
    return list(rows)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], k: int = 60
) -> list[tuple[int, float]]:
    """Fuse ranked id lists: each list gives 1 / (k + rank) to each id it holds."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, chunk_id in enumerate(ranking, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def _load_chunks(
    ranked: list[tuple[int, float]], similarity: dict[int, float]
) -> list[RetrievedChunk]:
    rows = (
        Chunk.objects.select_related("document")
        .defer("embedding", "search_vector")
        .in_bulk([pk for pk, _ in ranked])
    )
    results = []
    for chunk_id, score in ranked:
        chunk = rows.get(chunk_id)
        if chunk is None:
            continue  # deleted with its document since the search
        results.append(
            RetrievedChunk(
                chunk_id=chunk_id,
                document_id=chunk.document_id,
                knowledge_base_id=chunk.knowledge_base_id,
                title=chunk.document.title or chunk.document.filename,
                filename=chunk.document.filename,
                page=chunk.page,
                heading=chunk.heading,
                text=chunk.text,
                score=score,
                similarity=similarity.get(chunk_id),
            )
        )
    return results
