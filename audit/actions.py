"""Audited changes and records that need a request: settings, exports, denials."""

from typing import Any

from django.db import transaction
from rest_framework.request import Request

from audit.models import AuditSettings, Outcome
from audit.trail import record
from tenants.context import PUBLIC_SCHEMA, current_schema


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


# Set on the HttpRequest once its refusal is in the trail, so the DRF
# exception handler does not record the same refusal a second time.
RECORDED_FLAG = "audit_denial_recorded"


def record_denied(
    request: Any, action: str, reason: str, user: Any = None, **details: Any
) -> None:
    """Append a refused attempt; `request` is Django's or DRF's.

    `user` names the actor when the request has none yet (a token refused
    during authentication); otherwise the request's signed-in user is used.
    Outside a tenant schema (an unknown tenant) there is no trail to write to.
    """
    if current_schema() == PUBLIC_SCHEMA:
        return
    if user is None:
        user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    setattr(getattr(request, "_request", request), RECORDED_FLAG, True)
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


def already_recorded(request: Any) -> bool:
    return bool(getattr(getattr(request, "_request", request), RECORDED_FLAG, False))


def record_sign_in(request: Any, user: Any, role: str, action: str) -> None:
    record(
        action,
        actor_id=user.pk,
        actor=user.get_username(),
        client_ip=client_ip(request),
        details={"role": role},
    )
