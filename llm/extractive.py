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
        for passage in passages:
            quote = best_sentences(passage.text, question_words)
            if not quote:
                continue  # only text addressed to the assistant: nothing to quote
            yield f'\n\n[{passage.number}] "{quote}" ({passage.title}, page {passage.page})'


def best_sentences(text: str, question_words: set[str]) -> str:
    """The passage's sentences that share most words with the question, in order."""
    # Text that instructs the assistant is data, never an answer to quote.
    sentences = [
        s.strip()
        for s in _SENTENCE_END.split(" ".join(text.split()))
        if s.strip() and not is_instruction_like(s)
    ]
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
    quote = " ".join(sentences[i] for i in chosen)
    if len(quote) > MAX_QUOTE_CHARS:
        quote = quote[: MAX_QUOTE_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return quote
