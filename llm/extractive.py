"""The offline answer: quote the passages that best match, and say no model wrote it."""

import re
from collections.abc import Iterator, Sequence

from llm.base import AnswerGenerator, Passage
from rag.screening import is_instruction_like

NO_MODEL_NOTICE = (
    "No language model is configured for this tenant, so no model generated this "
    "answer. These are the most relevant passages from your documents:"
)
NOTHING_FOUND = "I found nothing about this in the knowledge bases you can search."

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[^\W_]{3,}")
SENTENCES_PER_PASSAGE = 3
# Question words that ask for a figure: a sentence holding a number is then
# worth more than one that only shares words with the question.
AMOUNT_WORDS = frozenset(
    {
        "much",
        "many",
        "cost",
        "costs",
        "price",
        "fee",
        "fees",
        "long",
        "often",
        "how",
        "number",
        "amount",
        "percentage",
        "rate",
        "limit",
        "days",
        "when",
    }
)
_FIGURE = re.compile(r"\d")
MAX_QUOTE_CHARS = 500
# Headings name a passage; they answer nothing and read badly inside a quote.
_HEADING_LINE = re.compile(r"^\s*#{1,6}\s")
# List items and table rows are quoted whole; a table's rule row never.
_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+|^\s*\|")
# A bullet means nothing once items are quoted one after another.
_BULLET = re.compile(r"^[-*•]\s+")
_TABLE_RULE = re.compile(r"^[\s|:-]+$")
_NUMBERED_ITEM = re.compile(r"^\s*\d{1,2}[.)]\s+")
_EMPHASIS = re.compile(r"\*\*|__")
# "How do I reset it?" is answered by the numbered steps, not the sentence
# that happens to share most words with it.
_ASKS_FOR_STEPS = re.compile(
    r"^\s*how\s+(?:do|can|should|would)\s+(?:i|we|you|one)\b|\bhow\s+to\b|"
    r"\b(?:steps?|procedure)\b",
    re.IGNORECASE,
)


class ExtractiveAnswerGenerator(AnswerGenerator):
    name = "extractive"

    def stream_answer(
        self, question: str, passages: Sequence[Passage]
    ) -> Iterator[str]:
        if not passages:
            yield NOTHING_FOUND
            return

        yield NO_MODEL_NOTICE
        question_words = set(_WORD.findall(question.lower()))
        wants_steps = bool(_ASKS_FOR_STEPS.search(question))
        for passage in passages:
            quote = (wants_steps and numbered_steps(passage.text)) or best_sentences(
                passage.text, question_words
            )
            if not quote:
                continue  # only text addressed to the assistant: nothing to quote
            yield f'\n\n[{passage.number}] "{quote}" ({passage.title}, page {passage.page})'


def quotable_units(text: str) -> list[str]:
    """Sentences and list items of a passage, without headings or emphasis marks.

    Text that instructs the assistant is data, never an answer to quote.
    """
    units: list[str] = []
    for line in text.splitlines():
        if not line.strip() or _HEADING_LINE.match(line) or _TABLE_RULE.match(line):
            continue
        line = " ".join(_EMPHASIS.sub("", line).split())
        parts = (
            [_BULLET.sub("", line)]
            if _LIST_ITEM.match(line)
            else _SENTENCE_END.split(line)
        )
        units.extend(part for part in parts if part and not is_instruction_like(part))
    return units


def numbered_steps(text: str) -> str:
    """The passage's numbered list items in order, when it has two or more."""
    steps = [unit for unit in quotable_units(text) if _NUMBERED_ITEM.match(unit)]
    if len(steps) < 2:
        return ""
    return _shortened(" ".join(steps))


def best_sentences(text: str, question_words: set[str]) -> str:
    """The passage's sentences that share most words with the question, in order."""
    sentences = quotable_units(text)
    if not sentences:
        return ""

    wants_amount = bool(question_words & AMOUNT_WORDS)

    def overlap(index: int) -> int:
        shared = len(question_words & set(_WORD.findall(sentences[index].lower())))
        # "How much does X cost?" is answered by the sentence with the figure.
        figure = 2 if wants_amount and _FIGURE.search(sentences[index]) else 0
        return shared + figure

    ranked = sorted(range(len(sentences)), key=lambda i: (-overlap(i), i))
    chosen = sorted(ranked[:SENTENCES_PER_PASSAGE])
    return _shortened(" ".join(sentences[i] for i in chosen))


def _shortened(quote: str) -> str:
    if len(quote) > MAX_QUOTE_CHARS:
        quote = quote[: MAX_QUOTE_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return quote
