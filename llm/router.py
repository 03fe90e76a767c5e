"""Send light work to the cheap model and heavy work to the strong one.

The decision uses only what is known before the call: what the task is, how
long the prompt is, how well retrieval matched and how many documents the
passages come from. When in doubt the request goes heavy: a wrong "light"
costs answer quality, a wrong "heavy" only money.
"""

import re
from dataclasses import dataclass
from enum import StrEnum

from pricing.tiers import Tier


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
# Below this cosine similarity retrieval found nothing that clearly answers,
# and a cheap model is more likely to guess.
STRONG_SIMILARITY = 0.45

# Asks to combine, compare or trace facts across sources or periods.
_SYNTHESIS = re.compile(
    r"\b(compar\w*|contrast\w*|differ\w*|versus|vs\.?|trends?|over time|"
    r"between|both|summari[sz]\w*|overview|outline|relat(e|es|ed|ing|ion\w*)|"
    r"correlat\w*|correspond\w*|connect\w*|align\w*|combin\w*|integrat\w*|"
    r"reconcil\w*|in light of|evolv\w*|evolution|patterns?|shift\w*|historical\w*|"
    r"var(y|ied|ies|iation\w*)|throughout|"
    r"(these|the reported|several|multiple|all|each|every) "
    r"(reports?|filings?|10-?qs?|documents?|quarters?|periods?|years?|plans?|products?)|"
    r"(over|across|during) (the|these) (last |past |reported )?\w*\s?(quarters|periods|years)|"
    r"quarter[- ]to[- ]quarter|year[- ]over[- ]year|separately|(for|in) each|"
    r"(reports|filings|10-?qs|documents|periods|quarters)\b(?! ended)|"
    r"(most(?! recent)|least|best|worst|highest|lowest|cheapest|largest|smallest|lightest|heaviest)\b|"
    r"how (has|have) \w+)\b",
    re.IGNORECASE,
)
# Open questions whose answer is an explanation, a procedure or a list.
# Matched at the start of the question or of a clause after a comma.
_OPEN_ENDED = re.compile(
    r"(^|[,;:]\s*)(why\b|explain\b|describe\b|discuss\b|elaborate\b|"
    r"how (does|do|can|could|should|would|might|is|are)\b|"
    r"what (happens|steps|process|is the impact|is the effect)\b|"
    r"what (are|were) (some|all)\b|"
    r"what (are|were) (the )?(main |key |principal |specific |necessary |financial )?"
    r"(steps|process\w*|benefits|advantages|limitations|conditions|exceptions|"
    r"requirements|responsibilities|ways|options|implications|consequences|differences)\b)",
    re.IGNORECASE,
)
# Procedures and open lists asked anywhere in the question.
_PROCEDURE = re.compile(
    r"\b(steps|process (for|of|to)|what happens|"
    r"how (might|could|would|will|may|can) (\w+ ){1,2}(affect|impact|influence)|"
    r"(what|how) (is|are|was|were|could|might|would) (their|its|the) "
    r"(potential )?(impact|effect|implication)s?)\b",
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
    # The question names the document its best passage comes from, so
    # retrieval searched the right document whatever the similarity says.
    names_its_source: bool = False


@dataclass(frozen=True)
class RouteDecision:
    tier: str
    reason: str

    def __post_init__(self) -> None:
        # A plain string: it travels in headers and JSON, where an enum
        # member is not always accepted (wsgiref refuses it).
        object.__setattr__(self, "tier", Tier(self.tier).value)


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
        return RouteDecision(Tier.HEAVY, "asks to compare, relate or trace over time")
    if _OPEN_ENDED.search(question) or _PROCEDURE.search(question):
        return RouteDecision(
            Tier.HEAVY, "open question: explanation, procedure or list"
        )
    if len(question.split()) > SHORT_QUESTION_WORDS:
        return RouteDecision(Tier.HEAVY, "long question")
    if request.task == Task.CHAT:
        return RouteDecision(Tier.LIGHT, "short closed question")
    if request.retrieval_similarity is None:
        return RouteDecision(Tier.HEAVY, "no retrieval to ground a short answer")
    if request.names_its_source:
        return RouteDecision(
            Tier.LIGHT, "short closed question about the document it names"
        )
    if request.retrieval_similarity < STRONG_SIMILARITY:
        return RouteDecision(
            Tier.HEAVY, f"weak retrieval match ({request.retrieval_similarity:.2f})"
        )
    return RouteDecision(
        Tier.LIGHT,
        f"short closed question, retrieval match {request.retrieval_similarity:.2f}",
    )
