"""Hybrid retrieval: vector similarity and Postgres full-text search, fused by rank."""

import logging
import re
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import F

from portal.lazy import made_once
from rag.chunking import embedded_text
from rag.embeddings import get_embedding_provider
from rag.metadata import DocumentMetadata
from rag.models import Chunk, Document, DocumentStatus, KnowledgeBase, chunks_in
from rag.query import CatalogueEntry, QueryPlan, plan_query
from rag.rerank import Candidate, configured_reranker
from rag.spelling import Correction, DocumentKey, correct_spelling
from rag.stores import SearchScope, VectorMatch, vector_store_for
from tenants.models import Tenant

logger = logging.getLogger(__name__)

_WORD = re.compile(r"[^\W_]+")
MAX_QUERY_WORDS = 64
# Each search method's best passage is kept among this many first results.
METHODS_BEST_WITHIN = 3


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


@dataclass(frozen=True)
class SearchOutcome:
    chunks: list[RetrievedChunk]
    plan: QueryPlan | None
    # Why nothing relevant was found ("" when something was); the answer then
    # says so and cites nothing rather than quote the least bad passage.
    not_found: str = ""
    # Misspelt words searched as the documents spell them.
    corrections: tuple[Correction, ...] = ()


def hybrid_search(
    tenant: Tenant,
    query: str,
    *,
    knowledge_base_ids: Sequence[uuid.UUID],
    top_k: int = 5,
) -> list[RetrievedChunk]:
    """Search the tenant's knowledge bases; the connection must be on its schema."""
    return search_knowledge(
        tenant, query, knowledge_base_ids=knowledge_base_ids, top_k=top_k
    ).chunks


def search_knowledge(
    tenant: Tenant,
    query: str,
    *,
    knowledge_base_ids: Sequence[uuid.UUID],
    top_k: int = 5,
    follows: str = "",
) -> SearchOutcome:
    """Hybrid search narrowed by what the question names, with a relevance verdict.

    `follows` is the question a follow-up continues ("and which is the
    heaviest?"). It lends its words only when the follow-up names no
    document, period or unknown name of its own: "what about the Plus
    plan?" is about the Plus plan alone.
    """
    if not query.strip() or not knowledge_base_ids:
        return SearchOutcome([], None, "empty question or no knowledge base")

    generations = live_generations(knowledge_base_ids)
    catalogue, keys = load_catalogue(generations)
    query, corrections = correct_spelling(query, keys)
    question = query
    plan = plan_query(question, catalogue)
    if follows and not (plan.named or plan.period or plan.unknown_names):
        question = f"{query} {follows}"
        plan = plan_query(question, catalogue)
    if plan.weakly_named and naming_costs_relevance(
        tenant, question, SearchScope(generations, plan.document_ids)
    ):
        plan = plan_query(question, catalogue, lowercase_names=False)

    chunks = search_as_planned(tenant, plan, generations, top_k)
    not_found = not_found_reason(plan, chunks)
    if not_found and plan.weakly_named:
        # Without the name words the question may say too little to find
        # anything in the named documents ("who do I call" in a cleaning
        # schedule); the naming was a coincidence, so search everything.
        plan = plan_query(question, catalogue, lowercase_names=False)
        chunks = search_as_planned(tenant, plan, generations, top_k)
        not_found = not_found_reason(plan, chunks)
    return SearchOutcome(chunks, plan, not_found, tuple(corrections))


def search_as_planned(
    tenant: Tenant, plan: QueryPlan, generations: dict[uuid.UUID, int], top_k: int
) -> list[RetrievedChunk]:
    """The best passages for the plan's focus within the documents it allows."""
    candidates = settings.RAG["CANDIDATES_PER_METHOD"]
    scope = SearchScope(generations, plan.document_ids)
    # The query is embedded on another thread (torch releases the GIL) while
    # this one runs the full-text search.
    embedding = _embedder().submit(get_embedding_provider().embed_query, plan.focus)
    lexical_ids = lexical_search(plan.focus, scope, candidates)
    query_vector = embedding.result()
    vector_matches = vector_store_for(tenant).query(
        query_vector, scope=scope, top_k=candidates
    )

    similarity = {match.chunk_id: match.similarity for match in vector_matches}
    vector_ids = [match.chunk_id for match in vector_matches]
    fused = reciprocal_rank_fusion(
        [vector_ids, lexical_ids],
        k=settings.RAG["RRF_K"],
    )
    fused = keep_clear_winner_first(fused, vector_matches)
    fused = keep_each_methods_best_near_top(
        fused, [ranking[0] for ranking in (vector_ids, lexical_ids) if ranking]
    )
    ranked = _load_chunks(fused[: max(top_k, settings.RAG["RERANK_DEPTH"])], similarity)
    ranked = rerank(plan.focus, ranked)
    if plan.diversify:
        ranked = best_of_each_document(ranked)
    if plan.leader is not None:
        ranked = leader_first(ranked, plan.leader, scope, query_vector)
    return ranked[:top_k]


def naming_costs_relevance(tenant: Tenant, question: str, scope: SearchScope) -> bool:
    """Whether the named documents hold nothing near the best passage overall.

    A naming by lowercase words may be a coincidence: ordinary words of a
    question also stand in file names ("out of hours" and
    out-of-hours-cleaning-schedule.md). A real naming leaves the named
    documents about as close to the whole question as anything else; a
    coincidental one often leaves them far behind.
    """
    question_vector = get_embedding_provider().embed_query(question)
    store = vector_store_for(tenant)
    everywhere = store.query(
        question_vector, scope=replace(scope, document_ids=None), top_k=1
    )
    named = store.query(question_vector, scope=scope, top_k=1)
    if not everywhere:
        return False
    best_named = named[0].similarity if named else 0.0
    margin = float(settings.RAG["NAMING_DOUBT_MARGIN"])
    return everywhere[0].similarity - best_named > margin


def live_generations(knowledge_base_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    rows = KnowledgeBase.objects.filter(id__in=knowledge_base_ids)
    return dict(rows.values_list("id", "generation"))


def load_catalogue(
    generations: dict[uuid.UUID, int],
) -> tuple[list[CatalogueEntry], list[DocumentKey]]:
    """The searchable documents, and each one's live index generation."""
    rows = Document.objects.filter(
        knowledge_base_id__in=list(generations), status=DocumentStatus.READY
    ).values_list("id", "title", "filename", "metadata", "knowledge_base_id")
    catalogue, keys = [], []
    for pk, title, filename, metadata, knowledge_base_id in rows:
        catalogue.append(
            CatalogueEntry(pk, title, filename, DocumentMetadata.from_json(metadata))
        )
        keys.append((pk, generations[knowledge_base_id]))
    return catalogue, keys


def rerank(query: str, ranked: list[RetrievedChunk]) -> list[RetrievedChunk]:
    """Reorder the candidates by the configured second stage, keeping ties by rank."""
    reranker = configured_reranker()
    if reranker is None or len(ranked) < 2:
        return ranked
    try:
        scores = reranker.scores(
            query, [Candidate(c.heading, c.text, c.score) for c in ranked]
        )
    except Exception:
        # A reranker is an improvement, never a reason to fail a search.
        logger.warning("retrieval.rerank_failed", extra={"reranker": reranker.name})
        return ranked
    order = sorted(range(len(ranked)), key=lambda i: (-scores[i], i))
    return [ranked[i] for i in order]


def best_of_each_document(ranked: list[RetrievedChunk]) -> list[RetrievedChunk]:
    """Put each document's best passage first, in rank order, then the rest.

    For a question that fits several near-duplicates equally (two plans, four
    filings), one passage of each beats five copies of one.
    """
    seen: set[uuid.UUID] = set()
    firsts: list[RetrievedChunk] = []
    rest: list[RetrievedChunk] = []
    for chunk in ranked:
        (rest if chunk.document_id in seen else firsts).append(chunk)
        seen.add(chunk.document_id)
    return firsts + rest


def leader_first(
    ranked: list[RetrievedChunk],
    leader: tuple[uuid.UUID, str],
    scope: SearchScope,
    query_vector: Sequence[float],
) -> list[RetrievedChunk]:
    """Put the passage stating the winning document's specification first.

    The passage may lie beyond the vector search's candidates, so its
    similarity is measured here: answers drop passages far less similar
    than the best, and the winner must not be one of them.
    """
    document_id, specification = leader
    stating = (
        Chunk.objects.filter(chunks_in(scope), document_id=document_id)
        .filter(text__icontains=specification)
        .order_by("ordinal")
        .values_list("id", "context", "text", "embedding")
        .first()
    )
    if stating is None:
        return ranked
    chunk_id, context, text, stored = stating
    vector = stored if stored is not None else _embed_passage(context, text)
    similarity = float(sum(a * b for a, b in zip(vector, query_vector, strict=True)))
    top = ranked[0].score if ranked else 0.0
    first = _load_chunks([(chunk_id, top)], {chunk_id: similarity})
    return first + [chunk for chunk in ranked if chunk.chunk_id != chunk_id]


def _embed_passage(context: str, text: str) -> list[float]:
    # A hosted vector store keeps no vectors in the chunk table; embed the
    # passage as ingestion did.
    return get_embedding_provider().embed_documents([embedded_text(context, text)])[0]


def not_found_reason(plan: QueryPlan, chunks: Sequence[RetrievedChunk]) -> str:
    """Why the passages do not answer the question, or "" when they may."""
    if not chunks:
        return "no passage matched"
    best = max((chunk.similarity or 0.0) for chunk in chunks)
    if best < settings.RAG["MIN_SIMILARITY"]:
        return f"best similarity {best:.2f} is under the threshold"
    if plan.unknown_names and not plan.named:
        shown = " ".join(f"{c.heading} {c.text}".lower() for c in chunks)
        missing = [name for name in plan.unknown_names if name.lower() not in shown]
        if missing:
            # The question is about something no document is named after and
            # no passage found mentions, such as a company with no filings here.
            return f"nothing here is about {', '.join(missing)}"
    return ""


@made_once
def _embedder() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="embed-query")


def lexical_search(query: str, scope: SearchScope, limit: int) -> list[int]:
    """Chunk ids ranked by full-text relevance to any of the query's words."""
    words = _WORD.findall(query.lower())[:MAX_QUERY_WORDS]
    if not words:
        return []

    # OR the words: a question rarely shares every word with its answer, and
    # ranking (not matching) decides what comes first. Words are alphanumeric
    # only, so the raw tsquery syntax cannot be abused.
    search_query = SearchQuery(" | ".join(words), search_type="raw", config="english")
    rows = (
        Chunk.objects.filter(chunks_in(scope))
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


def keep_clear_winner_first(
    fused: list[tuple[int, float]], vector_matches: Sequence[VectorMatch]
) -> list[tuple[int, float]]:
    """Put the dense search's best passage first when it is clearly the best.

    Rank fusion sees only positions: a passage far ahead of every other by
    meaning ("price $110" for "how much does it cost") loses to one that is
    second by meaning and first by a shared word ("cost" in a return policy).
    A lead in cosine similarity is evidence the positions throw away.
    """
    if len(vector_matches) < 2:
        return fused
    best, runner_up = vector_matches[0], vector_matches[1]
    if best.similarity - runner_up.similarity < settings.RAG["CLEAR_WINNER_MARGIN"]:
        return fused
    top = fused[0][1] if fused else 0.0
    winner = [(best.chunk_id, top)]
    return winner + [item for item in fused if item[0] != best.chunk_id]


def keep_each_methods_best_near_top(
    fused: list[tuple[int, float]],
    bests: Sequence[int],
    within: int = METHODS_BEST_WITHIN,
) -> list[tuple[int, float]]:
    """Move each method's best passage up into the first `within` results.

    Rank fusion adds positions, so a passage that one method ranks first
    and the other ranks far down (an answer worded unlike the question, or
    one sharing its rare words but not its meaning) can sink below passages
    both methods find middling. A reader of the first few results should
    see what each method found best; the fused order decides the rest.
    A moved passage takes the score of the place it takes, so scores still
    fall in rank order for clients that sort by them.
    """
    missing = [
        chunk_id
        for chunk_id in dict.fromkeys(bests)
        if chunk_id not in {pk for pk, _ in fused[:within]}
    ]
    if not missing:
        return fused
    kept = max(within - len(missing), 0)
    place_score = fused[kept][1] if kept < len(fused) else 0.0
    moved = [(chunk_id, place_score) for chunk_id in missing]
    rest = [item for item in fused[kept:] if item[0] not in missing]
    return fused[:kept] + moved + rest


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
