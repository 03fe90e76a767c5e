"""State changes of the Dify bridge: the connection, ownership records, metering."""

import logging
from collections.abc import Iterable
from contextlib import ExitStack
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection as database
from django.db import transaction
from django.http import Http404

from audit.models import Outcome
from audit.trail import record
from dify.models import DifyConnection, DifyObject, DifyObjectKind
from llm.metering import CallRecord, meter
from llm.providers.base import Usage
from portal.errors import ApiError
from tenants import quotas
from tenants.models import Tenant

logger = logging.getLogger(__name__)


CONNECTION_CACHE_KEY = "dify:connection"
CONNECTION_CACHE_SECONDS = 300
_NONE = "none"


def current_connection() -> DifyConnection | None:
    """The tenant's Dify connection, cached per tenant until it is saved again.

    The cached row holds the key encrypted, as the table does.
    """
    cached = cache.get(CONNECTION_CACHE_KEY)
    if cached == _NONE:
        return None
    if isinstance(cached, DifyConnection):
        return cached
    found = DifyConnection.objects.first()
    cache.set(CONNECTION_CACHE_KEY, found or _NONE, CONNECTION_CACHE_SECONDS)
    return found


def forget_cached_connection(**kwargs: object) -> None:
    cache.delete(CONNECTION_CACHE_KEY)
    # A reader in another process may have cached the old row before commit.
    transaction.on_commit(lambda: cache.delete(CONNECTION_CACHE_KEY))


def require_connection() -> DifyConnection:
    connection = current_connection()
    if connection is None or not connection.api_key_encrypted:
        raise ApiError(
            409,
            "dify_not_connected",
            "No Dify app is connected to this tenant; an admin sets one under "
            "settings/dify.",
        )
    return connection


def describe_connection(connection: DifyConnection | None) -> dict[str, Any]:
    if connection is None:
        return {"connected": False}
    return {
        "connected": True,
        "base_url": connection.base_url,
        "api_key": connection.masked_api_key,
        "app_mode": connection.app_mode,
        "connect_timeout": connection.connect_timeout,
        "read_timeout": connection.read_timeout,
        "updated_at": connection.updated_at.isoformat(),
    }


@transaction.atomic
def connect_dify_app(
    changes: dict[str, Any], actor_id: int | None, actor: str
) -> DifyConnection:
    """Store the tenant's Dify app; a missing key keeps the stored one."""
    connection = DifyConnection.objects.select_for_update().first()
    before = describe_connection(connection)
    if connection is None:
        if not changes.get("api_key"):
            raise ApiError(
                400,
                "invalid_request",
                "Invalid request. api_key: This field is required.",
            )
        connection = DifyConnection()

    for field in ("base_url", "app_mode", "connect_timeout", "read_timeout"):
        setattr(connection, field, changes[field])
    if changes.get("api_key"):
        connection.api_key = changes["api_key"]
    connection.save()

    record(
        "settings.dify.update",
        actor_id=actor_id,
        actor=actor,
        details={"before": before, "after": describe_connection(connection)},
    )
    return connection


def dify_user(tenant: Tenant, user_id: int) -> str:
    """The `user` Dify sees: made here from the tenant and the caller, never sent by clients."""
    return f"tenant-{tenant.id}-user-{user_id}"


def require_owned(kind: DifyObjectKind, dify_id: str, user_id: int) -> None:
    """404 unless this user of this tenant made the Dify object through the platform."""
    if not DifyObject.objects.filter(
        kind=kind, dify_id=dify_id, user_id=user_id
    ).exists():
        raise Http404


def record_owned(user_id: int, objects: Iterable[tuple[DifyObjectKind, str]]) -> None:
    """Remember new Dify objects as this user's; objects already known keep their owner."""
    rows = [(kind, dify_id) for kind, dify_id in objects if dify_id]
    if not rows:
        return
    # One statement in autocommit: the ORM's bulk insert opens a transaction
    # around it, two more round trips on every proxied answer.
    with database.cursor() as cursor:
        cursor.execute(
            "INSERT INTO dify_difyobject (kind, dify_id, user_id, created_at) "
            "SELECT kind, dify_id, %s, now() FROM unnest(%s::text[], %s::text[]) "
            "AS given(kind, dify_id) ON CONFLICT DO NOTHING",
            [
                user_id,
                [str(kind) for kind, _ in rows],
                [dify_id for _, dify_id in rows],
            ],
        )


def forget_owned(kind: DifyObjectKind, dify_id: str) -> None:
    DifyObject.objects.filter(kind=kind, dify_id=dify_id).delete()


def owned_ids_in(answer: dict[str, Any]) -> list[tuple[DifyObjectKind, str]]:
    """The conversation, task and message a chat answer or stream event names."""
    found = []
    for kind, key in (
        (DifyObjectKind.CONVERSATION, "conversation_id"),
        (DifyObjectKind.TASK, "task_id"),
        (DifyObjectKind.MESSAGE, "message_id"),
    ):
        value = answer.get(key)
        if isinstance(value, str) and value:
            found.append((kind, value[:64]))
    return found


def audit_call(
    endpoint: str,
    status: int,
    actor_id: int | None,
    actor: str,
    latency_ms: int,
    details: dict[str, Any] | None = None,
) -> None:
    """One audit entry for a proxied call that reports no token usage."""
    record(
        f"dify.{endpoint}",
        outcome=Outcome.SUCCESS if status < 400 else Outcome.ERROR,
        actor_id=actor_id,
        actor=actor,
        details={"status": status, "latency_ms": latency_ms, **(details or {})},
    )


def meter_chat(
    tenant: Tenant,
    *,
    mode: str,
    metadata: Any,
    status: int,
    streamed: bool,
    latency_ms: int,
    first_event_ms: int | None,
    actor_id: int | None,
    actor: str,
    extra: dict[str, Any],
) -> None:
    """Meter one chat-messages call with the usage and price Dify reported."""
    usage = metadata.get("usage") if isinstance(metadata, dict) else None
    usage = usage if isinstance(usage, dict) else {}
    meter(
        tenant,
        CallRecord(
            provider="dify",
            model=mode or "unknown",
            tier="",
            task="dify.chat",
            route_reason="dify",
            usage=Usage(
                input_tokens=_int(usage.get("prompt_tokens")),
                output_tokens=_int(usage.get("completion_tokens")),
            ),
            latency_ms=latency_ms,
            outcome=Outcome.SUCCESS if status < 400 else Outcome.ERROR,
            streamed=streamed,
            first_token_ms=first_event_ms,
            actor_id=actor_id,
            actor=actor,
            extra={"status": status, "currency": usage.get("currency", ""), **extra},
            known_cost=_price(usage.get("total_price")),
            audit_action="dify.chat-messages",
        ),
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _price(value: Any) -> Decimal:
    # Dify sends prices as decimal strings.
    try:
        price = Decimal(str(value)) if value is not None else Decimal(0)
    except InvalidOperation:
        return Decimal(0)
    return price if price.is_finite() and price >= 0 else Decimal(0)


def hold_budget(tenant: Tenant, query: str) -> ExitStack:
    """Check the tenant's quotas for one relayed chat and hold its likely cost.

    Dify reports what a chat cost only when it is over, so a fixed amount
    (QUOTAS["DIFY_HOLD_*"]) is held meanwhile. Close the stack once the
    call has been metered.
    """
    quota = quotas.quota_for(tenant)
    prompt_tokens = -(-len(query) // 4)
    quotas.check_prompt(tenant, prompt_tokens, quota)

    stack = ExitStack()
    stack.enter_context(
        quotas.budget_hold(
            tenant,
            prompt_tokens + settings.QUOTAS["DIFY_HOLD_TOKENS"],
            Decimal(settings.QUOTAS["DIFY_HOLD_USD"]),
            quota=quota,
        )
    )
    return stack
