"""Read a question against the documents' names and periods before searching.

A question that names a plan, product or company ("the Northwind Standard
plan", "TrailBlaze pants", "NVIDIA's") or a period ("Q3 2023", "the latest
10-Q") is searched only in the documents it names. The names come from each
document's title, file name and the metadata read at ingestion, never from
lists of known names. Pure Python: the catalogue is passed in.
"""

import math
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from rag.metadata import DocumentMetadata, Period

# More documents than this left after the filters is no near-duplicate
# ambiguity worth spreading the results over, just a broad question.
MAX_DIVERSIFIED_DOCUMENTS = 6
# Two quarters ending this close together are the same quarter.
SAME_PERIOD_DAYS = 45

_WORD = re.compile(r"[^\W_]+(?:['’][sS])?")
_CAPITALISED = re.compile(r"(?<![\w'’])([A-Z][\w&-]*)(['’]s)?")
_SENTENCE_START = re.compile(r"(?:^|[.!?:]\s+|\n)\s*[\"'(]*$")
# Words of legal form and filing type name no one document among many.
# fmt: off
_UNNAMING_WORDS = frozenset({
    "inc", "incorporated", "corporation", "corp", "ltd", "limited", "plc",
    "llc", "company", "the", "and", "for", "of", "information", "about",
    "product", "item", "number", "item_number", "details", "pdf", "md",
})
_FUNCTION_WORDS = frozenset({
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at",
    "be", "been", "but", "by", "can", "could", "did", "do", "does", "during",
    "each", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into",
    "is", "it", "its", "many", "may", "much", "my", "no", "not", "of", "on",
    "or", "our", "should", "so", "some", "than", "that", "the", "their", "them",
    "then", "there", "these", "they", "this", "those", "to", "was", "we",
    "were", "what", "when", "where", "which", "who", "why", "will", "with",
    "would", "you", "your", "please", "tell", "me", "list", "give", "show",
})
# fmt: on
_QUARTER_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4}
_QUARTER_PATTERNS = (
    (re.compile(r"\bQ([1-4])\s*(?:of\s+)?(?:FY\s*|fiscal\s+)?'?(\d{4})\b", re.I), 1, 2),
    (re.compile(r"\b(\d{4})\s*Q([1-4])\b", re.I), 2, 1),
    (re.compile(r"\bFY\s*(\d{4})\s*Q([1-4])\b", re.I), 2, 1),
)
_ORDINAL_QUARTER = re.compile(
    r"\b(first|second|third|fourth)\s+(?:fiscal\s+)?quarter\s+(?:of\s+)?"
    r"(?:fiscal\s+(?:year\s+)?)?(\d{4})\b",
    re.I,
)
_LATEST = re.compile(r"\b(latest|most\s+recent|newest|current\s+quarter)\b", re.I)
# "Which tent is the most waterproof?": compare documents by a specification.
_SUPERLATIVES = {
    **dict.fromkeys(
        ["most", "highest", "largest", "biggest", "greatest", "maximum"], max
    ),
    **dict.fromkeys(["least", "lowest", "smallest", "minimum", "fewest"], min),
    "heaviest": max,
    "lightest": min,
    "tallest": max,
    "longest": max,
    "shortest": min,
    "widest": max,
    "narrowest": min,
}
# The measure an adjective of size compares by.
_MEASURED_BY = {
    "heaviest": "weight",
    "lightest": "weight",
    "tallest": "height",
    "longest": "length",
    "shortest": "length",
    "widest": "width",
    "narrowest": "width",
}
# Words after a superlative that may name what it compares.
SUPERLATIVE_REACH = 3
_MEASURED = re.compile(
    r"([-−]?\d{1,3}(?:,\d{3})+(?:\.\d+)?|[-−]?\d+(?:[.,]\d+)?)"
    r"\s*-?\s*(°\s*[A-Za-z]|[^\W\d_]+)?"
)
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")


@dataclass(frozen=True)
class CatalogueEntry:
    """One searchable document, as the question reader sees it."""

    document_id: uuid.UUID
    title: str
    filename: str
    metadata: DocumentMetadata

    def name_words(self) -> set[str]:
        text = " ".join(
            [
                self.title,
                self.filename.rsplit(".", 1)[0],
                self.metadata.subject,
                self.metadata.organisation,
                *self.metadata.aliases,
            ]
        )
        return {
            word
            for word in words_of(text)
            if len(word) >= 3 and not word.isdigit() and word not in _UNNAMING_WORDS
        }


@dataclass(frozen=True)
class QueryPlan:
    document_ids: frozenset[uuid.UUID] | None  # None: every document
    named: bool  # the question names one or more documents
    diversify: bool  # near-duplicates remain: show the best passage of each
    unknown_names: tuple[str, ...]  # proper names no document is named by
    period: str  # the period read from the question, for logs and tests
    # Named by lowercase words alone ("out of hours" and the file
    # out-of-hours-cleaning-schedule.md): ordinary wording shares words with
    # file names and opening lines, so such a naming is worth checking.
    weakly_named: bool = False
    # The question without the words that named its documents: within the
    # chosen documents those words match every passage and rank none.
    focus: str = ""
    # For "which tent is the most waterproof?": the document whose
    # specification wins the comparison, and that specification's name.
    leader: tuple[uuid.UUID, str] | None = None


def words_of(text: str) -> list[str]:
    """Lowercased words, possessives dropped: "NVIDIA's" -> "nvidia"."""
    return [re.sub(r"['’]s$", "", word) for word in _WORD.findall(text.lower()) if word]


def plan_query(
    question: str,
    catalogue: Sequence[CatalogueEntry],
    *,
    lowercase_names: bool = True,
) -> QueryPlan:
    """What the question names and asks; `lowercase_names=False` drops weak namings."""
    named = named_documents(question, catalogue, lowercase_names=lowercase_names)
    weakly_named = (
        named is not None
        and named_documents(question, catalogue, lowercase_names=False) is None
    )
    focus = question
    if named is not None:
        focus = without_words(question, set().union(*(e.name_words() for e in named)))
    candidates = named or list(catalogue)
    period_label, dated = _apply_period(question, candidates)
    narrowed = dated if dated is not None else candidates
    comparison = compare_by_specification(
        question,
        narrowed if named is not None or dated is not None else catalogue,
        named=named is not None,
    )
    if comparison is not None:
        narrowed, leader = comparison
    else:
        leader = None
    if named is None and dated is None and comparison is None:
        document_ids = None
    else:
        document_ids = frozenset(entry.document_id for entry in narrowed)

    return QueryPlan(
        document_ids=document_ids,
        named=named is not None,
        weakly_named=weakly_named,
        diversify=1 < len(narrowed) <= MAX_DIVERSIFIED_DOCUMENTS
        and document_ids is not None,
        unknown_names=unknown_names(question, catalogue),
        period=period_label,
        focus=focus,
        leader=leader,
    )


def compare_by_specification(
    question: str, candidates: Sequence[CatalogueEntry], named: bool
) -> tuple[list[CatalogueEntry], tuple[uuid.UUID, str]] | None:
    """Documents compared, and the one whose specification wins, or None.

    Applies to a superlative ("the most waterproof", "the lightest") over
    the documents the question names, or else over the documents of the
    category it names ("tent" for Tents). The specification compared shares
    a word with the words right after the superlative, or is the measure a
    size adjective implies. Values are compared by their first number, and
    only when every value carries the same unit.
    """
    found = _superlative(question)
    if found is None or _LATEST.search(question):
        return None  # "the most recent" asks for a period, resolved elsewhere
    superlative, following = found
    words = {_singular(word) for word in words_of(question)}
    compared = list(candidates) if named else _same_category(words, candidates)
    if len(compared) < 2:
        return None

    asked = following | (
        {_MEASURED_BY[superlative]} if superlative in _MEASURED_BY else set()
    )
    name = _specification_asked(asked, compared)
    if name is None:
        return None
    values = _comparable_values(name, compared)
    if values is None:
        return None
    choose = _SUPERLATIVES[superlative]
    winner = choose(values, key=lambda document_id: values[document_id])
    return compared, (winner, name)


def _superlative(question: str) -> tuple[str, set[str]] | None:
    """The first superlative and the words after it, or None.

    "At least 12 weeks" and "at most two" set limits, and a number after the
    superlative ("the lowest 3 prices") is not a comparison of documents.
    """
    words = words_of(question)
    for index, word in enumerate(words):
        if word not in _SUPERLATIVES or (index and words[index - 1] == "at"):
            continue
        following = words[index + 1 : index + 1 + SUPERLATIVE_REACH]
        if following and following[0].isdigit():
            continue
        return word, {_singular(w) for w in following} - _FUNCTION_WORDS
    return None


def _comparable_values(
    name: str, compared: Sequence[CatalogueEntry]
) -> dict[uuid.UUID, float] | None:
    """Each document's value of the specification, when two or more agree in unit."""
    values, units = {}, set()
    for entry in compared:
        measured = _measurement(entry.metadata.specifications.get(name, ""))
        if measured is not None:
            values[entry.document_id], unit = measured
            units.add(unit)
    if len(values) < 2 or len(units) > 1:
        return None
    return values


def _same_category(
    words: set[str], catalogue: Sequence[CatalogueEntry]
) -> list[CatalogueEntry]:
    """The documents whose category shares the most words with the question."""
    overlap = {
        entry.document_id: len(words & _category_words(entry)) for entry in catalogue
    }
    best = max(overlap.values(), default=0)
    if best == 0:
        return []
    return [entry for entry in catalogue if overlap[entry.document_id] == best]


def _category_words(entry: CatalogueEntry) -> set[str]:
    return {_singular(word) for word in words_of(entry.metadata.category)}


def _specification_asked(
    asked: set[str], compared: Sequence[CatalogueEntry]
) -> str | None:
    """The specification name sharing most words with the question."""
    held: dict[str, int] = {}
    for entry in compared:
        for name in entry.metadata.specifications:
            held[name] = held.get(name, 0) + 1
    scored = []
    for name, holders in held.items():
        shared = len({_singular(word) for word in words_of(name)} & asked)
        if shared and holders >= 2:
            scored.append((shared, holders, -len(name), name))
    return max(scored)[3] if scored else None


def _measurement(value: str) -> tuple[float, str] | None:
    """The first number of a value and the unit written after it."""
    match = _MEASURED.search(value)
    if match is None:
        return None
    number, unit = match.group(1), match.group(2) or ""
    if _THOUSANDS.fullmatch(number.lstrip("-−")):
        number = number.replace(",", "")
    else:
        number = number.replace(",", ".")  # a decimal comma: "1,5 kg"
    return float(number.replace("−", "-")), unit.lower().replace(" ", "")


def _singular(word: str) -> str:
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def without_words(question: str, names: set[str]) -> str:
    """The question minus the name words; itself when too little would be left."""
    kept = [
        word
        for word in question.split()
        if not set(words_of(word)) or not set(words_of(word)) <= names
    ]
    content = [w for w in words_of(" ".join(kept)) if w not in _FUNCTION_WORDS]
    return " ".join(kept) if content else question


def named_documents(
    question: str,
    catalogue: Sequence[CatalogueEntry],
    *,
    lowercase_names: bool = True,
) -> list[CatalogueEntry] | None:
    """The documents the question names best, or None when it names none.

    A word counts by how few documents it names (a word in every title names
    none of them). One word alone counts only when written as a name, with a
    capital; two or more name words count in any case ("trailwalker shoes"),
    unless `lowercase_names` is off.
    """
    names = {entry.document_id: entry.name_words() for entry in catalogue}
    question_words = set(words_of(question)) - _FUNCTION_WORDS
    weights = _name_weights(names, question_words)
    if not weights:
        return None

    capitalised = _written_as_names(question)
    scores = {}
    for document_id, words in names.items():
        matched = words & weights.keys()
        if matched & capitalised or (lowercase_names and len(matched) >= 2):
            scores[document_id] = sum(weights[word] for word in matched)
    best = max(scores.values(), default=0.0)
    if best <= 0:
        return None
    return [entry for entry in catalogue if scores.get(entry.document_id) == best]


def _written_as_names(question: str) -> set[str]:
    """Lowercased words the question writes as names.

    A capital opening a sentence says nothing, unless the word is coined
    ("TrailWalker"), possessive or an acronym. A file name typed out
    ("Northwind_Standard_Benefits.pdf") names each of its words.
    """
    found: set[str] = set()
    for word, possessive, opens_sentence in _capitalised_words(question):
        coined = any(letter.isupper() for letter in word[1:])
        if opens_sentence and not (possessive or coined):
            continue
        if "_" in word:
            found.update(words_of(word))
        else:
            found.add(word.lower())
    return found


def _capitalised_words(question: str) -> Iterator[tuple[str, bool, bool]]:
    """Each capitalised word, whether it is possessive, whether it opens a sentence."""
    for match in _CAPITALISED.finditer(question):
        opens_sentence = _SENTENCE_START.search(question[: match.start()]) is not None
        yield match.group(1), match.group(2) is not None, opens_sentence


def _name_weights(
    names: dict[uuid.UUID, set[str]], question_words: set[str]
) -> dict[str, float]:
    count = len(names)
    weights = {}
    for word in question_words:
        holders = sum(word in words for words in names.values())
        # A word in most titles (the employer on every cover) names none.
        if 0 < holders <= count / 2:
            weights[word] = math.log(count / holders)
    return weights


def unknown_names(
    question: str, catalogue: Sequence[CatalogueEntry]
) -> tuple[str, ...]:
    """Proper names in the question that name no document of the catalogue."""
    known = set().union(*(entry.name_words() for entry in catalogue))
    found = []
    for word, possessive, opens_sentence in _capitalised_words(question):
        lowered = word.lower()
        if opens_sentence and not possessive and not word.isupper():
            continue  # an ordinary word that opens a sentence
        if lowered in known or lowered in _FUNCTION_WORDS or len(word) < 2:
            continue
        if _is_period_word(word):
            continue
        found.append(word)
    return tuple(dict.fromkeys(found))


def _is_period_word(word: str) -> bool:
    return bool(re.fullmatch(r"(Q[1-4]|FY\d*|\d+[A-Za-z]?)", word, re.I))


def asked_periods(question: str) -> list[tuple[int, int]]:
    """(year, quarter) pairs the question names."""
    found = []
    for pattern, quarter_group, year_group in _QUARTER_PATTERNS:
        for match in pattern.finditer(question):
            found.append(
                (int(match.group(year_group)), int(match.group(quarter_group)))
            )
    for match in _ORDINAL_QUARTER.finditer(question):
        found.append((int(match.group(2)), _QUARTER_WORDS[match.group(1).lower()]))
    return list(dict.fromkeys(found))


def _apply_period(
    question: str, candidates: Sequence[CatalogueEntry]
) -> tuple[str, list[CatalogueEntry] | None]:
    """The period asked for and the candidates of that period (None: no filter)."""
    asked = asked_periods(question)
    if asked:
        matching = _matching_period(asked, candidates)
        label = ", ".join(f"Q{quarter} {year}" for year, quarter in asked)
        return label, matching
    if _LATEST.search(question):
        return "latest", _latest(candidates)
    return "", None


def _matching_period(
    asked: list[tuple[int, int]], candidates: Sequence[CatalogueEntry]
) -> list[CatalogueEntry] | None:
    # A label from the file name is the one people use; the cover's fiscal
    # wording comes next, the calendar quarter last.
    for source in ("name", "text", "calendar"):
        matching = [
            entry
            for entry in candidates
            if any(
                (period.year, period.quarter) in asked and period.source == source
                for period in entry.metadata.periods
            )
        ]
        if matching:
            return matching
    return None


def _latest(candidates: Sequence[CatalogueEntry]) -> list[CatalogueEntry] | None:
    """Each organisation's most recent documents, by their own periods."""
    dated = [entry for entry in candidates if _period_key(entry) is not None]
    if not dated:
        return None
    newest: dict[str, date] = {}
    for entry in dated:
        key = _period_key(entry)
        assert key is not None
        owner = entry.metadata.organisation.lower()
        newest[owner] = max(newest.get(owner, key), key)
    return [
        entry
        for entry in dated
        if (newest[entry.metadata.organisation.lower()] - _period_key(entry)).days  # type: ignore[operator]
        < SAME_PERIOD_DAYS
    ]


def _period_key(entry: CatalogueEntry) -> date | None:
    if entry.metadata.period_end is not None:
        return entry.metadata.period_end
    labelled: list[Period] = entry.metadata.periods
    if not labelled:
        return None
    period = labelled[0]
    return date(period.year, period.quarter * 3, 28)
