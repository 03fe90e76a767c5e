"""Append entries to the current tenant's audit trail.

Each entry's hash is SHA-256 of its predecessor's hash followed by the
digest of its own content, so changing, removing or slipping in a row breaks
every hash after it. Appends are serialised per tenant by a transaction-scoped
advisory lock, taken inside the database function audit_append() before it
reads the predecessor and writes the entry: one round trip per entry.
"""

import hashlib
import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

import structlog
from django.conf import settings
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
# Plain SQL: every metered model call appends an entry, and the ORM's insert
# costs more than the round trip. audit_append() (migration 0004) takes the
# tenant's advisory lock, reads the predecessor and inserts in one call.
APPEND_SQL = """
    SELECT new_id, new_previous_hash, new_entry_hash FROM audit_append(
        %s::timestamptz, %s::bigint, %s::text, %s::text, %s::text, %s::text,
        %s::inet, %s::jsonb, %s::text, %s::boolean
    )
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
    """Append one entry in the tenant schema the connection is on.

    Called outside a transaction, the entry commits on its own without
    waiting for the WAL flush (AUDIT_SYNCHRONOUS_COMMIT=true restores the
    wait): a database crash can then lose the last fraction of a second of
    entries, whole and from the end, which leaves the chain valid.
    """
    request_context = structlog.contextvars.get_contextvars()
    request_id = request_context.get("request_id", "")
    client_ip = client_ip or request_context.get("client_ip")
    entry = AuditEntry(
        created_at=timezone.now(),
        actor_id=actor_id,
        actor=actor,
        action=action,
        outcome=outcome,
        request_id=str(request_id)[:64],
        client_ip=_canonical_ip(client_ip),
        details=details or {},
    )
    values = [getattr(entry, column) for column in CONTENT_COLUMNS]
    values[CONTENT_COLUMNS.index("details")] = Jsonb(entry.details)

    # Only a transaction of our own is relaxed; a caller's (an upload, a
    # metered call) keeps its own commit mode and commits or rolls back the
    # entry with its other writes.
    relax = not connection.in_atomic_block and not settings.AUDIT_SYNCHRONOUS_COMMIT
    sql, params = APPEND_SQL, [*values, content_digest(entry), relax]
    if companion is not None:
        sql = f"WITH companion AS ({companion.sql}) {APPEND_SQL}"
        params = [*companion.params, *params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        entry.id, entry.previous_hash, entry.entry_hash = cursor.fetchone()
    return entry


def _canonical_ip(address: str | None) -> str | None:
    # Hashed as Postgres will give it back (lower case, zeros compressed),
    # or verify_audit would take a spelling difference for tampering.
    if not address:
        return None
    # A link-local address may carry its interface ("fe80::1%eth0"), which
    # Postgres inet refuses and which says nothing about the caller.
    address = address.split("%", 1)[0]
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped:
        return f"::ffff:{parsed.ipv4_mapped}"
    return parsed.compressed


def content_digest(entry: AuditEntry) -> str:
    """SHA-256 of the entry's content in a canonical JSON form."""
    content = {column: getattr(entry, column) for column in CONTENT_COLUMNS}
    content["created_at"] = entry.created_at.isoformat()
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def entry_hash(previous_hash: str, entry: AuditEntry) -> str:
    """What an entry's hash must be, given the hash before it."""
    return hashlib.sha256((previous_hash + content_digest(entry)).encode()).hexdigest()
