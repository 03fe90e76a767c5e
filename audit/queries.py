"""Read side of the audit trail: filtered entries and the export lines."""

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import Q, QuerySet

from audit.models import AuditEntry

EXPORT_COLUMNS = [
    "id",
    "created_at",
    "actor_id",
    "actor",
    "action",
    "outcome",
    "request_id",
    "client_ip",
    "details",
    "previous_hash",
    "entry_hash",
]
EXPORT_BATCH = 2000
# Spreadsheets run a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def filtered_entries(filters: dict[str, Any]) -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.all()
    if actor := filters.get("actor"):
        by_name = Q(actor=actor)
        entries = entries.filter(
            by_name | Q(actor_id=int(actor)) if actor.isdigit() else by_name
        )
    if action := filters.get("action"):
        if action.endswith("*"):
            entries = entries.filter(action__startswith=action[:-1])
        else:
            entries = entries.filter(action=action)
    if outcome := filters.get("outcome"):
        entries = entries.filter(outcome=outcome)
    if since := filters.get("since"):
        entries = entries.filter(created_at__gte=since)
    if until := filters.get("until"):
        entries = entries.filter(created_at__lt=until)
    return entries


def page_of(
    entries: QuerySet[AuditEntry], cursor: int | None, limit: int
) -> tuple[list[AuditEntry], int | None]:
    """Newest first; the cursor is the id the next page starts below."""
    if cursor is not None:
        entries = entries.filter(id__lt=cursor)
    rows = list(entries.order_by("-id")[: limit + 1])
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, rows[-1].id


def export_row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "created_at": entry.created_at.isoformat(),
        "actor_id": entry.actor_id,
        "actor": entry.actor,
        "action": entry.action,
        "outcome": entry.outcome,
        "request_id": entry.request_id,
        "client_ip": entry.client_ip,
        "details": entry.details,
        "previous_hash": entry.previous_hash,
        "entry_hash": entry.entry_hash,
    }


def jsonl_lines(entries: QuerySet[AuditEntry]) -> Iterator[str]:
    for entry in _oldest_first(entries):
        yield json.dumps(export_row(entry), separators=(",", ":")) + "\n"


def csv_lines(entries: QuerySet[AuditEntry]) -> Iterator[str]:
    buffer = _LineBuffer()
    writer = csv.writer(buffer)
    yield writer.writerow(EXPORT_COLUMNS)
    for entry in _oldest_first(entries):
        row = export_row(entry)
        row["details"] = json.dumps(row["details"], sort_keys=True)
        yield writer.writerow([_cell(row[column]) for column in EXPORT_COLUMNS])


def _oldest_first(entries: QuerySet[AuditEntry]) -> Iterable[AuditEntry]:
    return entries.order_by("id").iterator(chunk_size=EXPORT_BATCH)


def _cell(value: Any) -> Any:
    # The JSONL export is the exact, verifiable one; CSV cells that a
    # spreadsheet would run as a formula get a leading quote.
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _LineBuffer:
    """csv.writer target that hands each written line back."""

    def write(self, line: str) -> str:
        return line
