"""Append entries to the current tenant's audit trail.

Each entry's hash is SHA-256 of its predecessor's hash followed by the
digest of its own content, so changing, removing or slipping in a row breaks
every hash after it. Appends are serialised per tenant by a transaction-scoped
advisory lock; the insert reads the predecessor after taking the lock, in
the same statement that writes the entry.
"""

import hashlib
import json
from typing import Any

import structlog
from django.db import connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from audit.models import AuditEntry, Outcome
from tenants.context import current_schema

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
# Plain SQL: every metered model call appends an entry, and the ORM's insert
# costs more than the round trip.
APPEND_SQL = f"""
    WITH previous AS (
        SELECT coalesce(
            (SELECT entry_hash FROM audit_auditentry ORDER BY id DESC LIMIT 1),
            '{GENESIS_HASH}'
        ) AS hash
    )
    INSERT INTO audit_auditentry ({", ".join(CONTENT_COLUMNS)}, previous_hash, entry_hash)
    SELECT {", ".join(["%s"] * len(CONTENT_COLUMNS))}, previous.hash,
           encode(sha256(convert_to(previous.hash || %s, 'UTF8')), 'hex')
    FROM previous
    RETURNING id, previous_hash, entry_hash
"""


def record(
    action: str,
    *,
    outcome: str = Outcome.SUCCESS,
    actor_id: int | None = None,
    actor: str = "",
    client_ip: str | None = None,
    details: dict[str, Any] | None = None,
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

    # No savepoint: a caller's own transaction (metering) commits or rolls
    # back the entry with its other writes.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"audit:{current_schema()}"]
        )
        cursor.execute(APPEND_SQL, [*values, content_digest(entry)])
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
