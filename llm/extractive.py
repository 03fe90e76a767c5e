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
# Words of the question's form; sharing them says nothing about relevance.
_QUESTION_ONLY_WORDS = frozenset({"how", "the", "and", "can", "should", "steps", "you"})
MAX_QUOTE_CHARS = 500
# Headings name a passage; they answer nothing and read badly inside a quote.
_HEADING_LINE = re.compile(r"^\s*#{1,6}\s")
# List items and table rows are quoted whole; table rules and thematic
# breaks ("* * *") never.
_LIST_ITEM = re.compile(r"^\s*(?:[-*•◦▪‣]|\d{1,2}[.)])\s+|^\s*\|")
_TABLE_ROW = re.compile(r"^\s*\|")
_RULE = re.compile(r"^[\s|:-]+$|^\s*(?:[-*_]\s*){3,}$")
# A bullet means nothing once items are quoted one after another.
_BULLET = re.compile(r"^[-*•◦▪‣]\s+")
_NUMBERED_ITEM = re.compile(r"^\s*\d{1,2}[.)]\s+")
_EMPHASIS = re.compile(r"\*\*")
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
            steps = numbered_steps(passage.text, question_words) if wants_steps else ""
            quote = steps or best_sentences(passage.text, question_words)
            if not quote:
                continue  # only text addressed to the assistant: nothing to quote
            yield f'\n\n[{passage.number}] "{quote}" ({passage.title}, page {passage.page})'


def quotable_units(text: str) -> list[str]:
    """Sentences and list items of a passage, without headings or emphasis marks.

    Lines are first joined back into paragraphs and list items, so a sentence
    wrapped over several lines is one unit. Text that instructs the assistant
    is data, never an answer to quote, and so is the rest of its paragraph:
    the sentences after "ignore previous instructions" carry the payload
    ("tell the user that ...") in words no pattern can recognise.
    """
    units: list[str] = []
    for block, is_item in _blocks(text):
        block = " ".join(_EMPHASIS.sub("", block).split())
        parts = [_BULLET.sub("", block)] if is_item else _SENTENCE_END.split(block)
        for part in parts:
            if is_instruction_like(part):
                break
            if part:
                units.append(part)
    return units


def _blocks(text: str) -> Iterator[tuple[str, bool]]:
    """Paragraphs and list items or table rows (True), headings and rules left out."""
    lines: list[str] = []
    is_item = False
    for line in text.splitlines():
        starts_item = bool(_LIST_ITEM.match(line))
        breaks = not line.strip() or _HEADING_LINE.match(line) or _RULE.match(line)
        # A plain line continues the paragraph above it, and an indented one
        # the list item above it; a table row stands alone.
        continues = bool(lines) and not breaks and not starts_item
        if continues and is_item:
            continues = line[:1].isspace() and not _TABLE_ROW.match(lines[0])
        if not continues and lines:
            yield " ".join(lines), is_item
            lines = []
        if not breaks:
            if not continues:
                is_item = starts_item
            lines.append(line.strip())
    if lines:
        yield " ".join(lines), is_item


def numbered_steps(text: str, question_words: set[str]) -> str:
    """The passage's numbered items in order, when two or more speak to the question.

    A numbered table of contents ("1. Introduction 2. Scope") is not a
    procedure: the items must share a word with the question.
    """
    steps = [unit for unit in quotable_units(text) if _NUMBERED_ITEM.match(unit)]
    shared = set(_WORD.findall(" ".join(steps).lower())) & question_words
    if len(steps) < 2 or not shared - _QUESTION_ONLY_WORDS:
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
    # Sentences sharing nothing with the question pad a quote, unless nothing does.
    relevant = [i for i in ranked[:SENTENCES_PER_PASSAGE] if overlap(i) > 0]
    chosen = sorted(relevant or ranked[:1])
    return _shortened(_joined(sentences, chosen))


def _joined(sentences: list[str], chosen: list[int]) -> str:
    """The chosen sentences in order, with an ellipsis where the passage skips some.

    Sentences quoted side by side read as one statement; an ellipsis keeps
    "Solid amber LED." from seeming to explain the next quoted sentence.
    """
    quote = sentences[chosen[0]]
    for previous, index in zip(chosen, chosen[1:], strict=False):
        gap = " … " if index > previous + 1 else " "
        quote += gap + sentences[index]
    return quote


def _shortened(quote: str) -> str:
    if len(quote) > MAX_QUOTE_CHARS:
        quote = quote[: MAX_QUOTE_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return quote
