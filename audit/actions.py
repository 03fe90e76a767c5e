"""Audited changes and records that need a request: settings, exports, denials."""

from typing import Any

from django.db import transaction
from rest_framework.request import Request

from audit.models import AuditSettings, Outcome
from audit.trail import record


def describe_settings() -> dict[str, Any]:
    return {"record_chat_text": AuditSettings.current().record_chat_text}


@transaction.atomic
def update_settings(
    changes: dict[str, Any], actor_id: int | None, actor: str
) -> dict[str, Any]:
    before = describe_settings()
    row = AuditSettings.current()
    row.record_chat_text = changes["record_chat_text"]
    row.save()

    after = describe_settings()
    record(
        "settings.audit.update",
        actor_id=actor_id,
        actor=actor,
        details={"before": before, "after": after},
    )
    return after


def record_export(request: Request, filters: dict[str, Any]) -> None:
    record(
        "audit.export",
        actor_id=request.user.pk,
        actor=request.user.get_username(),
        client_ip=client_ip(request),
        details={key: str(value) for key, value in filters.items()},
    )


def record_denied(request: Any, action: str, reason: str, **details: Any) -> None:
    """Append a refused attempt; `request` is Django's or DRF's."""
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    record(
        action,
        outcome=Outcome.DENIED,
        actor_id=user.pk if user is not None and signed_in else None,
        actor=user.get_username() if user is not None and signed_in else "",
        client_ip=client_ip(request),
        details={
            "reason": reason,
            "method": request.method,
            "path": request.path[:300],
            **details,
        },
    )


def client_ip(request: Any) -> str | None:
    address = request.META.get("REMOTE_ADDR")
    return str(address) if address else None
