"""Append entries to the current tenant's audit trail.

Appends are serialised per tenant by a transaction-scoped advisory lock, so
two processes never chain onto the same predecessor.
"""

import hashlib
import json
from typing import Any

import structlog
from django.db import connection, transaction
from django.utils import timezone

from audit.models import AuditEntry, Outcome
from tenants.context import current_schema

GENESIS_HASH = "0" * 64


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
    with transaction.atomic():
        _lock_trail()
        previous = (
            AuditEntry.objects.order_by("-id")
            .values_list("entry_hash", flat=True)
            .first()
        )
        entry = AuditEntry(
            created_at=timezone.now(),
            actor_id=actor_id,
            actor=actor,
            action=action,
            outcome=outcome,
            request_id=str(request_id)[:64],
            client_ip=client_ip,
            details=details or {},
            previous_hash=previous or GENESIS_HASH,
        )
        entry.entry_hash = entry_hash(entry)
        entry.save()
    return entry


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 over the entry's content and its predecessor's hash."""
    content = {
        "created_at": entry.created_at.isoformat(),
        "actor_id": entry.actor_id,
        "actor": entry.actor,
        "action": entry.action,
        "outcome": entry.outcome,
        "request_id": entry.request_id,
        "client_ip": entry.client_ip,
        "details": entry.details,
        "previous_hash": entry.previous_hash,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _lock_trail() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))",
            [f"audit:{current_schema()}"],
        )
