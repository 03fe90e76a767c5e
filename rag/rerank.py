"""Second-stage rerankers: reorder the first stage's best candidates.

Chosen by settings.RAG["RERANKER"]: "none" (the default), "heading" or
"lexical" (local, no model to download) or "provider" (an OpenAI-compatible
`/rerank` endpoint, the shape Dify and most rerank servers use). The
benchmark measures each before one becomes the default.
"""

import json
import logging
import math
import re
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

logger = logging.getLogger(__name__)

_WORD = re.compile(r"[^\W_]{3,}")
# Words are compared by their first letters, so "covers" meets "coverage".
STEM_CHARS = 5


@dataclass(frozen=True)
class Candidate:
    """A first-stage result, as a second stage sees it."""

    heading: str
    text: str
    score: float  # the first stage's fused score, higher is better

    @property
    def passage(self) -> str:
        return f"{self.heading}\n{self.text}"


class Reranker(ABC):
    name: str

    @abstractmethod
    def scores(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        """One relevance score per candidate, higher is better, same order.

        Candidates come best first by the first stage.
        """


class HeadingReranker(Reranker):
    """Lift the candidates whose section heading names what the question asks.

    A heading is the author's own summary of a passage. Body text mentions
    many topics in passing ("rehabilitation" inside a page on habilitation);
    the heading names one. Each question word counts by how few candidate
    headings hold it, so a part name over every heading ("COVERED
    SERVICES") decides nothing. The first stage's score stays the larger
    term: the heading adjusts the order, it does not replace it.
    """

    name = "heading"
    # Weight of a full heading match against the best first-stage score.
    HEADING_WEIGHT = 0.3

    def scores(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        asked = {_stem(word) for word in _WORD.findall(query.lower())}
        held = [
            {_stem(w) for w in _WORD.findall(c.heading.lower())} for c in candidates
        ]
        weights = {
            word: math.log((len(held) + 1) / (1 + sum(word in h for h in held)))
            for word in asked
        }
        matches = [sum(weights[w] for w in asked if w in h) for h in held]
        best_match = max(matches) or 1.0
        best_score = max(c.score for c in candidates) or 1.0
        return [
            c.score / best_score + self.HEADING_WEIGHT * match / best_match
            for c, match in zip(candidates, matches, strict=True)
        ]


class LexicalReranker(Reranker):
    """Favour passages that hold more of the question's rarer words.

    A word's weight is its rarity among the candidates, so the words every
    candidate shares (the plan's name in a plan's booklet) decide nothing and
    the ones that pick out a section ("pre-authorization") decide most.
    """

    name = "lexical"

    def scores(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        asked = {_stem(word) for word in _WORD.findall(query.lower())}
        held = [
            {_stem(w) for w in _WORD.findall(c.passage.lower())} for c in candidates
        ]
        weights = {
            word: math.log((len(held) + 1) / (1 + sum(word in h for h in held)))
            for word in asked
        }
        total = sum(weights.values()) or 1.0
        return [sum(weights[w] for w in asked if w in h) / total for h in held]


class ProviderReranker(Reranker):
    """POST {base_url}/rerank with {"model", "query", "documents", "top_n"}."""

    name = "provider"

    def __init__(self, base_url: str, api_key: str, model: str, timeout: float) -> None:
        self.url = base_url.rstrip("/") + "/rerank"
        self.api_key = api_key
        self.model = model
        self.timeout = timeout

    def scores(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        body = {
            "model": self.model,
            "query": query,
            "documents": [candidate.passage for candidate in candidates],
            "top_n": len(candidates),
        }
        request = urllib.request.Request(
            self.url,
            data=json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.api_key}",
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            payload = json.load(response)
        return parse_rerank_response(payload, len(candidates))


def parse_rerank_response(payload: dict[str, object], count: int) -> list[float]:
    """Scores in passage order from `{"results": [{"index", "relevance_score"}]}`."""
    scores = [0.0] * count
    results = payload.get("results", [])
    if not isinstance(results, list):
        raise ValueError("rerank response has no 'results' list")
    for result in results:
        index = int(result["index"])
        if 0 <= index < count:
            scores[index] = float(result["relevance_score"])
    return scores


def _stem(word: str) -> str:
    return word[:STEM_CHARS]


def configured_reranker() -> Reranker | None:
    choice = settings.RAG["RERANKER"]
    if choice == "heading":
        return HeadingReranker()
    if choice == "lexical":
        return LexicalReranker()
    if choice == "provider" and settings.RAG["RERANK_BASE_URL"]:
        return ProviderReranker(
            settings.RAG["RERANK_BASE_URL"],
            settings.RAG["RERANK_API_KEY"],
            settings.RAG["RERANK_MODEL"],
            settings.RAG["RERANK_TIMEOUT_SECONDS"],
        )
    return None
