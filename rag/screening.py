"""Find text in an uploaded document that speaks to the assistant, not the reader.

A document is data. Sentences that try to instruct the model that reads it
("ignore your previous instructions", "reveal the system prompt", "list the
other knowledge bases") are flagged on the document at ingestion, so an
admin sees them, and are never quoted as an answer.
"""

import re
from dataclasses import dataclass

# Each pattern is an imperative aimed at an AI reader; ordinary prose about
# instructions ("follow the safety instructions") does not match.
_AIMED_AT_ASSISTANT = re.compile(
    r"\b("
    r"(ignore|disregard|forget|override)\s+(all\s+|any\s+|the\s+|your\s+)*"
    r"(previous|prior|above|earlier|system|original)\s+(instructions?|prompts?|rules?|messages?)"
    r"|(reveal|show|print|output|repeat|disclose|leak)\s+(me\s+)?(the\s+|your\s+)*"
    r"(system\s+prompt|hidden\s+instructions?|initial\s+instructions?|prompt)"
    r"|(reveal|show|list|print|disclose)\s+(me\s+)?(all\s+|the\s+)*(other|all)\s+"
    r"(knowledge\s+bases?|tenants?|departments?'?\s+documents|documents\s+of\s+other)"
    r"|you\s+are\s+now\s+(a|an|in)\b"
    r"|(as\s+an?\s+)?(ai|assistant|language\s+model|llm)\s*[,:]\s*(you\s+must|ignore|do\s+not)"
    r"|developer\s+mode|jailbreak|do\s+anything\s+now"
    r"|new\s+instructions?\s*:"
    r")",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# Marks that hide an instruction from the patterns without changing what a
# model reads: emphasis, link brackets, zero-width characters.
_DISGUISE = re.compile(r"[*_\[\]`\u200b\u200c\u200d\u2060\ufeff]")
EXAMPLES_KEPT = 3
EXAMPLE_CHARS = 160


@dataclass(frozen=True)
class Screening:
    instruction_like: int
    examples: list[str]

    def as_flags(self) -> list[dict[str, object]]:
        if not self.instruction_like:
            return []
        return [
            {
                "flag": "instruction_like_text",
                "sentences": self.instruction_like,
                "examples": self.examples,
            }
        ]


def is_instruction_like(sentence: str) -> bool:
    plain = " ".join(_DISGUISE.sub("", sentence).split())
    return bool(_AIMED_AT_ASSISTANT.search(plain))


def screen(texts: list[str]) -> Screening:
    found = [
        " ".join(sentence.split())
        for text in texts
        for sentence in _SENTENCE_END.split(text)
        if is_instruction_like(sentence)
    ]
    return Screening(
        instruction_like=len(found),
        examples=[example[:EXAMPLE_CHARS] for example in found[:EXAMPLES_KEPT]],
    )
