"""Append entries to the current tenant's audit trail.

Each entry's hash is SHA-256 of its predecessor's hash followed by the
digest of its own content, so changing, removing or slipping in a row breaks
every hash after it. The chain's head (the last hash) lives in a one-row
table: one statement locks that row, advances it and inserts the entry, so
concurrent appends queue on the row and each chains onto the one before.
"""

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import structlog
from django.db import connection
from django.utils import timezone
from psycopg.types.json import Jsonb

from audit.models import AuditEntry, Outcome

GENESIS_HASH = "0" * 64

CONTENT_COLUMNS = (
    "created_at",
    "actor_id",
    "actor",
    "action",
    "outcome",
    "request_id",
    "client_ip",
    "details",
)
# Plain SQL in one round trip: every metered model call appends an entry.
APPEND_SQL = f"""
    head AS (
        UPDATE audit_chainhead
        SET previous_hash = last_hash,
            last_hash = encode(sha256(convert_to(last_hash || %s, 'UTF8')), 'hex')
        WHERE id = 1
        RETURNING previous_hash, last_hash
    )
    INSERT INTO audit_auditentry ({", ".join(CONTENT_COLUMNS)}, previous_hash, entry_hash)
    SELECT {", ".join(["%s"] * len(CONTENT_COLUMNS))}, head.previous_hash, head.last_hash
    FROM head
    RETURNING id, previous_hash, entry_hash
"""


@dataclass(frozen=True)
class Companion:
    """Another write made in the same statement as the entry: both or neither.

    `sql` is the body of a data-modifying common table expression.
    """

    sql: str
    params: list[Any] = field(default_factory=list)


def record(
    action: str,
    *,
    outcome: str = Outcome.SUCCESS,
    actor_id: int | None = None,
    actor: str = "",
    client_ip: str | None = None,
    details: dict[str, Any] | None = None,
    companion: Companion | None = None,
) -> AuditEntry:
    """Append one entry in the tenant schema the connection is on."""
    request_id = structlog.contextvars.get_contextvars().get("request_id", "")
    entry = AuditEntry(
        created_at=timezone.now(),
        actor_id=actor_id,
        actor=actor,
        action=action,
        outcome=outcome,
        request_id=str(request_id)[:64],
        client_ip=client_ip,
        details=details or {},
    )
    values = [getattr(entry, column) for column in CONTENT_COLUMNS]
    values[CONTENT_COLUMNS.index("details")] = Jsonb(entry.details)
    sql, params = "WITH " + APPEND_SQL, [content_digest(entry), *values]
    if companion is not None:
        sql = f"WITH companion AS ({companion.sql}), " + APPEND_SQL
        params = [*companion.params, *params]

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        entry.id, entry.previous_hash, entry.entry_hash = cursor.fetchone()
    return entry


def content_digest(entry: AuditEntry) -> str:
    """SHA-256 of the entry's content in a canonical JSON form."""
    content = {column: getattr(entry, column) for column in CONTENT_COLUMNS}
    content["created_at"] = entry.created_at.isoformat()
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def entry_hash(previous_hash: str, entry: AuditEntry) -> str:
    """What an entry's hash must be, given the hash before it."""
    return hashlib.sha256((previous_hash + content_digest(entry)).encode()).hexdigest()
