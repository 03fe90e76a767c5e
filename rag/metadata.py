"""Facts about a document read at ingestion: what it is about, whose it is, when.

Near-duplicate documents (two plans of one insurer, four quarterly filings of
one company) differ mostly in facts that their passages never repeat: the
plan named on the cover, the quarter in the file name. These rules read them
from the file name, the cover page and the opening lines, so retrieval can
filter and boost on them. Pure Python, like parsing and chunking.
"""

import re
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from rag.parsing import ParsedDocument

# A first page with no more words than this is a cover, and its lines name
# the document ("Zava / Northwind Health Standard Plan").
MAX_COVER_WORDS = 30
# A line below a Markdown title longer than this is body text, not a name.
MAX_SUBTITLE_CHARS = 100
# A sentence break inside a line makes it prose, never a name.
_SENTENCE_INSIDE = re.compile(r"[.!?]\s+\S|;")
OPENING_CHARS = 6000
# A quarter is labelled by the calendar quarter it mostly covers: its end
# date moved back by half a quarter.
HALF_QUARTER = timedelta(days=45)

_MONTHS = {
    name: number
    for number, name in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ],
        start=1,
    )
}
_ORDINAL_QUARTERS = {"first": 1, "second": 2, "third": 3, "fourth": 4}
_DATE = r"([A-Z][a-z]+)\s+(\d{1,2}),\s*(\d{4})"
_PERIOD_ENDED = re.compile(
    rf"(?:quarterly\s+period|quarter|period|fiscal\s+year|year)\s+ended\s+{_DATE}",
    re.IGNORECASE,
)
_LABEL_IN_NAME = re.compile(
    r"(?<![A-Za-z0-9])(?:(\d{4})[\s_-]*Q([1-4])|Q([1-4])[\s_-]*(?:FY)?(\d{4}))"
    r"(?![0-9])",
    re.IGNORECASE,
)
_FISCAL_QUARTER = re.compile(
    r"\b(first|second|third|fourth)\s+quarter\s+of\s+(?:fiscal\s+(?:year\s+)?)?(\d{4})",
    re.IGNORECASE,
)
_REGISTRANT = re.compile(
    r"^(.{2,80}?)\s*\n\s*\(Exact name of registrant", re.IGNORECASE | re.MULTILINE
)
_LEGAL_NAME = re.compile(
    r"\b([A-Z][\w&.'-]*(?:\s+[A-Z][\w&.'-]*){0,3})\s*,?\s+"
    r"(Inc\.|Incorporated|Corporation|Corp\.|Ltd\.?|Limited|plc|LLC|GmbH|AG|S\.A\.)"
)
_TICKER_ROW = re.compile(r"par value[^\n]*?\s([A-Z]{1,5})\s+(?:The\s+)?\w+")
_UPPER_TOKEN = re.compile(r"\b[A-Z]{2,5}\b")
_BRAND_LINE = re.compile(r"^#*\s*\**(Brand|Manufacturer|Company)\**\s*:?\s*$", re.I)
_CATEGORY_LINE = re.compile(r"^#*\s*\**(Category|Product\s+type)\**\s*:?\s*$", re.I)
# "- **Rainfly Waterproof Rating**: 2000mm", "**Weight:** 6lbs", "Capacity: 4 people".
# Read one line at a time, and only short lines, so no input can make the
# pattern backtrack for long.
_SPECIFICATION = re.compile(
    r"^[ \t]*(?:[-*•][ \t]+)?\**([A-Za-z][A-Za-z ()/&-]{0,47}?)[ \t]*(?::\**|\**:)(.*)$"
)
MAX_SPECIFICATION_LINE = 200
MAX_SPECIFICATION_WORDS = 5
_DIGIT = re.compile(r"\d")
MAX_SPECIFICATIONS = 80


@dataclass(frozen=True)
class Period:
    year: int
    quarter: int
    source: str  # "name", "text" or "calendar": how sure the label is

    @property
    def label(self) -> str:
        return f"Q{self.quarter} {self.year}"


@dataclass(frozen=True)
class DocumentMetadata:
    subject: str = ""  # plan or product name, from the cover or opening line
    organisation: str = ""
    aliases: list[str] = field(default_factory=list)  # ticker symbols
    periods: list[Period] = field(default_factory=list)
    period_end: date | None = None
    category: str = ""  # "Tents", from a Category heading or line
    # Measured properties ("Rainfly Waterproof Rating" -> "2000mm") from a
    # spec sheet's "Name: value" lines, so products can be compared by them.
    specifications: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["period_end"] = self.period_end.isoformat() if self.period_end else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "DocumentMetadata":
        if not data:
            return cls()
        end = data.get("period_end")
        return cls(
            subject=data.get("subject", ""),
            organisation=data.get("organisation", ""),
            aliases=list(data.get("aliases", [])),
            periods=[Period(**period) for period in data.get("periods", [])],
            period_end=date.fromisoformat(end) if end else None,
            category=data.get("category", ""),
            specifications=dict(data.get("specifications", {})),
        )

    def period_label(self) -> str:
        return self.periods[0].label if self.periods else ""


def extract_metadata(filename: str, document: ParsedDocument) -> DocumentMetadata:
    opening = _opening_text(document)
    period_end = _period_end(opening)
    return DocumentMetadata(
        subject=_subject(document),
        organisation=_organisation(opening),
        aliases=_aliases(filename, opening),
        periods=_periods(filename, opening, period_end),
        period_end=period_end,
        category=_line_after(opening, _CATEGORY_LINE),
        specifications=_specifications(document),
    )


def _specifications(document: ParsedDocument) -> dict[str, str]:
    """The first value of each short "Name: value" line that holds a number."""
    found: dict[str, str] = {}
    for section in document.sections:
        for line in section.text.splitlines():
            if len(line) > MAX_SPECIFICATION_LINE:
                continue
            match = _SPECIFICATION.match(line)
            if match is None:
                continue
            name = " ".join(match.group(1).split())
            value = match.group(2).strip(" \t*")
            if len(name.split()) > MAX_SPECIFICATION_WORDS or not _DIGIT.search(value):
                continue
            found.setdefault(name, value[:120])
            if len(found) >= MAX_SPECIFICATIONS:
                return found
    return found


def _opening_text(document: ParsedDocument) -> str:
    text = "\n".join(section.text for section in document.sections[:4])
    return text[:OPENING_CHARS]


def _subject(document: ParsedDocument) -> str:
    """The cover page's lines, or the line below a generic Markdown title.

    Either must read as a name ("TrailWalker Hiking Shoes", "Zava Northwind
    Health Plus Plan"): a document's opening sentence would otherwise name
    it, and questions sharing two of its words would search it alone.
    """
    if not document.sections:
        return ""
    first = document.sections[0]
    cover = "\n".join(s.text for s in document.sections if s.page == first.page)
    if document.page_count > 1 and len(cover.split()) <= MAX_COVER_WORDS:
        joined = " ".join(line.strip() for line in cover.splitlines() if line.strip())
        return joined[:200] if _reads_as_name(joined) else ""
    lines = [line.strip(" #*") for line in first.text.splitlines() if line.strip()]
    if first.heading and len(lines) > 1:
        subtitle = lines[1].split(",")[0].strip()
        if len(subtitle) <= MAX_SUBTITLE_CHARS and _reads_as_name(subtitle):
            return subtitle
    return ""


def _reads_as_name(text: str) -> bool:
    """No sentence inside, and most longer words capitalised, as in a title."""
    if _SENTENCE_INSIDE.search(text):
        return False
    words = [word for word in re.findall(r"[^\W_][\w'-]*", text) if len(word) > 3]
    named = [word for word in words if word[0].isupper() or word[0].isdigit()]
    return bool(words) and len(named) * 2 >= len(words)


def _organisation(opening: str) -> str:
    registrant = _REGISTRANT.search(opening)
    if registrant:
        return " ".join(registrant.group(1).split())
    brand = _line_after(opening, _BRAND_LINE)
    if brand:
        return brand
    legal = _LEGAL_NAME.search(opening)
    return " ".join(legal.group(0).split()) if legal else ""


def _line_after(text: str, pattern: re.Pattern[str]) -> str:
    lines = text.splitlines()
    for index, line in enumerate(lines[:-1]):
        if pattern.match(line.strip()):
            following = lines[index + 1].strip(" *#")
            return following[:100]
    return ""


def _aliases(filename: str, opening: str) -> list[str]:
    found = [match.group(1) for match in _TICKER_ROW.finditer(opening)]
    stem = filename.rsplit(".", 1)[0]
    # An upper-case token in a file name is a ticker or an acronym, which
    # questions use as a name ("NVDA", "HR").
    found += [token for token in _UPPER_TOKEN.findall(stem) if not token[1:].isdigit()]
    return sorted({alias for alias in found if not re.fullmatch(r"Q[1-4]|FY", alias)})


def _period_end(opening: str) -> date | None:
    match = _PERIOD_ENDED.search(opening)
    return _date(*match.groups()) if match else None


def _date(month: str, day: str, year: str) -> date | None:
    number = _MONTHS.get(month.lower())
    if number is None:
        return None
    try:
        return date(int(year), number, int(day))
    except ValueError:
        return None


def _periods(filename: str, opening: str, period_end: date | None) -> list[Period]:
    """Every quarter label the document answers to, the surest first."""
    periods = []
    for match in _LABEL_IN_NAME.finditer(filename):
        if match.group(1):
            year, quarter = match.group(1), match.group(2)
        else:
            quarter, year = match.group(3), match.group(4)
        periods.append(Period(int(year), int(quarter), "name"))
    for match in _FISCAL_QUARTER.finditer(opening):
        quarter = _ORDINAL_QUARTERS[match.group(1).lower()]
        periods.append(Period(int(match.group(2)), quarter, "text"))
    if period_end is not None:
        middle = period_end - HALF_QUARTER
        periods.append(Period(middle.year, (middle.month - 1) // 3 + 1, "calendar"))
    return list(dict.fromkeys(periods))
