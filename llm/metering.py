"""Write every provider call to the tenant's usage records and audit trail."""

import logging
import zoneinfo
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from audit.models import Outcome
from audit.trail import Companion, record
from llm.providers.base import Usage
from pricing.catalogue import TokenCounts, cost_of, price_of
from tenants.context import in_schema_of
from tenants.models import Tenant
from tenants.quotas import count_usage

logger = logging.getLogger(__name__)


@dataclass
class CallRecord:
    """One attempt at one provider: what it cost and how it went."""

    provider: str
    model: str
    tier: str
    task: str
    route_reason: str
    usage: Usage
    latency_ms: int
    outcome: str = Outcome.SUCCESS
    error: str = ""
    request_id: str = ""
    finish_reason: str = ""
    streamed: bool = False
    first_token_ms: int | None = None
    actor_id: int | None = None
    actor: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # What the upstream itself charged (Dify reports its own price); when
    # set, it is used instead of the catalogue's price for the model.
    known_cost: Decimal | None = None
    audit_action: str = "llm.call"

    @property
    def cost(self) -> Decimal:
        if self.known_cost is not None:
            return self.known_cost
        tokens = TokenCounts(
            input=self.usage.input_tokens,
            output=self.usage.output_tokens,
            cached=self.usage.cached_tokens,
            cache_write=self.usage.cache_write_tokens,
        )
        return cost_of(price_of(self.provider, self.model), tokens)


def meter(tenant: Tenant, call: CallRecord) -> Decimal:
    """Add the call to today's usage row and append it to the audit trail."""
    cost = call.cost
    # Streams are metered while the response is sent, after the request's
    # schema was reset: name the tenant's schema explicitly.
    with in_schema_of(tenant):
        record(
            call.audit_action,
            outcome=call.outcome,
            actor_id=call.actor_id,
            actor=call.actor,
            details=_audit_details(call, cost),
            # One statement: the usage row and the entry are written together.
            companion=_usage_upsert(local_day(tenant), call, cost),
        )
    count_usage(tenant, call.usage.input_tokens + call.usage.output_tokens, cost)
    logger.info(
        "llm.call",
        extra={
            "provider": call.provider,
            "model": call.model,
            "tier": call.tier,
            "outcome": call.outcome,
            "input_tokens": call.usage.input_tokens,
            "output_tokens": call.usage.output_tokens,
            "cost": str(cost),
            "latency_ms": call.latency_ms,
        },
    )
    return cost


def local_day(tenant: Tenant) -> date:
    return timezone.now().astimezone(zoneinfo.ZoneInfo(tenant.time_zone)).date()


USAGE_UPSERT_SQL = """
    WITH commit_mode AS (
        SELECT set_config(
            'synchronous_commit',
            coalesce(%s, current_setting('synchronous_commit')),
            true
        )
    )
    INSERT INTO llm_usagerecord AS usage (
        day, provider, model, tier, requests, failed_requests, input_tokens,
        cached_tokens, output_tokens, cost, latency_ms_total
    )
    SELECT %s, %s, %s, %s, 1, %s, %s, %s, %s, %s, %s FROM commit_mode
    ON CONFLICT (day, provider, model, tier) DO UPDATE SET
        requests = usage.requests + 1,
        failed_requests = usage.failed_requests + EXCLUDED.failed_requests,
        input_tokens = usage.input_tokens + EXCLUDED.input_tokens,
        cached_tokens = usage.cached_tokens + EXCLUDED.cached_tokens,
        output_tokens = usage.output_tokens + EXCLUDED.output_tokens,
        cost = usage.cost + EXCLUDED.cost,
        latency_ms_total = usage.latency_ms_total + EXCLUDED.latency_ms_total
"""


def _usage_upsert(day: date, call: CallRecord, cost: Decimal) -> Companion:
    """Add the call to its day's usage row; concurrent calls add up, never race."""
    return Companion(
        USAGE_UPSERT_SQL,
        [
            _commit_mode(),
            day,
            call.provider,
            call.model,
            call.tier,
            0 if call.outcome == Outcome.SUCCESS else 1,
            call.usage.input_tokens,
            call.usage.cached_tokens,
            call.usage.output_tokens,
            cost,
            call.latency_ms,
        ],
    )


def _commit_mode() -> str | None:
    """'off' to commit without waiting for the disk, None to keep the default.

    Waiting for the WAL flush is a large part of a call's metering time.
    Without it a database crash can lose the last fraction of a second of
    usage rows and their audit entries, never half of one: Postgres keeps
    them consistent. LLM_METERING_SYNCHRONOUS_COMMIT=true restores the wait.
    """
    return None if settings.LLM["METERING_SYNCHRONOUS_COMMIT"] else "off"


def _audit_details(call: CallRecord, cost: Decimal) -> dict[str, Any]:
    details: dict[str, Any] = {
        "provider": call.provider,
        "model": call.model,
        "tier": call.tier,
        "task": call.task,
        "route_reason": call.route_reason,
        "input_tokens": call.usage.input_tokens,
        "cached_tokens": call.usage.cached_tokens,
        "output_tokens": call.usage.output_tokens,
        "usage_estimated": call.usage.estimated,
        "cost_usd": str(cost),
        "latency_ms": call.latency_ms,
        "streamed": call.streamed,
        "provider_request_id": call.request_id,
        "finish_reason": call.finish_reason,
    }
    if call.first_token_ms is not None:
        details["first_token_ms"] = call.first_token_ms
    if call.error:
        details["error"] = call.error
    details.update(call.extra)
    return details
