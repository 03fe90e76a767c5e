"""What the chat needs from a language model: an answer streamed from passages.

Providers (OpenAI, Claude, Gemini, OpenAI-compatible servers) implement
AnswerGenerator; until one is configured the extractive generator answers.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Passage:
    """A retrieved passage as the answer may cite it: [number]."""

    number: int
    title: str
    page: int
    text: str
    document_id: str = ""
    # Cosine similarity to the question, when retrieval measured it.
    similarity: float | None = None
    # The question names this passage's document (its plan, product, company).
    named_in_question: bool = False


class AnswerGenerator(ABC):
    #: Recorded on each answer, e.g. "extractive" or "openai:gpt-4o-mini".
    name: str

    @abstractmethod
    def stream_answer(
        self, question: str, passages: Sequence[Passage]
    ) -> Iterator[str]:
        """Yield the answer in pieces; citation markers [n] refer to passage numbers."""
