"""Send light work to the cheap model and heavy work to the strong one.

The decision uses only what is known before the call: what the task is, how
long the prompt is, how well retrieval matched and how many documents the
passages come from. When in doubt the request goes heavy: a wrong "light"
costs answer quality, a wrong "heavy" only money.
"""

import re
from dataclasses import dataclass
from enum import StrEnum

from pricing.models import Tier


class Task(StrEnum):
    ANSWER = "answer"  # a question answered from retrieved passages
    CHAT = "chat"  # free-form messages (the OpenAI-compatible endpoint)
    TITLE = "title"
    CLASSIFY = "classify"
    SUMMARY = "summary"


# Prompts above these sizes are heavy whatever the task.
LONG_PROMPT_TOKENS = 6000
LONG_SUMMARY_TOKENS = 2500
SHORT_QUESTION_WORDS = 30
# Retrieval is "strong" when the best passage is this similar to the question
# and clearly ahead of passages from other documents.
STRONG_SIMILARITY = 0.55

# Wording that asks to combine, compare or trace facts across sources.
_SYNTHESIS = re.compile(
    r"\b(compar\w*|contrast\w*|differ\w*|versus|vs\.?|trend\w*|over time|"
    r"across|between|both|each of|all of|summari[sz]\w*|overview|explain why|"
    r"why did|how (has|have|did|do|does)\b.*\b(chang\w*|evolv\w*|grow\w*|develop\w*)|"
    r"chang\w* (from|between|over)|growth|increase[sd]? or decrease[sd]?|"
    r"relationship|impact\w*|implications?|analy[sz]\w*|assess\w*|evaluat\w*|"
    r"pros and cons|advantages|list all|what are the (main|key))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RouteRequest:
    task: Task
    prompt_tokens: int
    question: str = ""
    # Cosine similarity of the best passage; None when nothing was retrieved.
    retrieval_similarity: float | None = None
    # Distinct documents among the passages the prompt quotes.
    documents: int = 0


@dataclass(frozen=True)
class RouteDecision:
    tier: str
    reason: str


def route(request: RouteRequest) -> RouteDecision:
    if request.prompt_tokens > LONG_PROMPT_TOKENS:
        return RouteDecision(
            Tier.HEAVY, f"long prompt ({request.prompt_tokens} tokens)"
        )
    if request.task in (Task.TITLE, Task.CLASSIFY):
        return RouteDecision(Tier.LIGHT, f"{request.task}: short, fixed-form output")
    if request.task == Task.SUMMARY:
        return _summary(request)
    return _question(request)


def _summary(request: RouteRequest) -> RouteDecision:
    if request.prompt_tokens <= LONG_SUMMARY_TOKENS:
        return RouteDecision(Tier.LIGHT, "summary of little text")
    return RouteDecision(Tier.HEAVY, "summary of much text")


def _question(request: RouteRequest) -> RouteDecision:
    question = request.question
    if _SYNTHESIS.search(question):
        return RouteDecision(Tier.HEAVY, "asks to compare, trace or summarise")
    if len(question.split()) > SHORT_QUESTION_WORDS:
        return RouteDecision(Tier.HEAVY, "long question")
    if request.task == Task.CHAT:
        return RouteDecision(Tier.LIGHT, "short question without synthesis")
    if request.retrieval_similarity is None:
        return RouteDecision(Tier.HEAVY, "no retrieval to ground a short answer")
    if request.documents > 1:
        return RouteDecision(Tier.HEAVY, "passages from several documents")
    if request.retrieval_similarity < STRONG_SIMILARITY:
        return RouteDecision(
            Tier.HEAVY, f"weak retrieval match ({request.retrieval_similarity:.2f})"
        )
    return RouteDecision(
        Tier.LIGHT,
        f"short factual question, strong match ({request.retrieval_similarity:.2f}) "
        "in one document",
    )
