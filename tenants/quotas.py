"""Tenant quotas: the one place every entry path asks before doing work.

- `admit_request`: requests per minute, for chat, the OpenAI-compatible
  endpoint and the Dify proxy alike.
- `check_budget`, `budget_hold`: tokens and spend per calendar month in the
  tenant's time zone; a call holds its largest possible cost until it has
  been metered, so concurrent calls cannot all take the last dollar.
- `check_prompt`: an oversized prompt is refused before any provider call.
- `check_storage`: megabytes and documents, inside the upload's transaction.

Counters live in Redis when QUOTAS["REDIS_URL"] is set (shared by every
process); if that Redis is down, quota-bound work is refused with 503
rather than let through uncounted. Without a URL (the embedded single
process default) they live in this process's memory.
"""

import logging
import math
import threading
import time
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Sum
from django.utils import timezone

from portal.errors import ApiError
from tenants.context import in_schema_of
from tenants.counters import (
    CounterStore,
    LocalCounters,
    RedisCounters,
    StoreUnavailable,
)
from tenants.models import Tenant, TenantQuota

logger = logging.getLogger(__name__)

MICRO = 1_000_000
MB = 1024 * 1024
RATE_WINDOW_SECONDS = 60
BUDGETS = ("monthly_tokens", "monthly_spend_usd")


class QuotaExceeded(ApiError):
    def __init__(
        self, quota: str, message: str, retry_after: int | None = None, **extra: Any
    ) -> None:
        super().__init__(
            429,
            "quota_exceeded",
            message,
            extra={"quota": quota, **extra},
            retry_after=retry_after,
        )


def store_unavailable() -> ApiError:
    return ApiError(
        503,
        "quota_store_unavailable",
        "Usage limits cannot be checked right now, so the request was refused; "
        "try again shortly.",
        retry_after=5,
    )


# --- Limits -------------------------------------------------------------------


# Limits are read on every request, so each process keeps them this long;
# the operator's changes (set_quota, often from another process) apply
# within that time, at once in the process that made them.
QUOTA_CACHE_SECONDS = 10.0
_quotas: dict[object, tuple[float, TenantQuota | None]] = {}
_quotas_lock = threading.Lock()


def quota_for(tenant: Tenant) -> TenantQuota | None:
    now = time.monotonic()
    with _quotas_lock:
        cached = _quotas.get(tenant.id)
    if cached is not None and now - cached[0] < QUOTA_CACHE_SECONDS:
        return cached[1]
    quota = TenantQuota.objects.filter(tenant=tenant).first()
    with _quotas_lock:
        _quotas[tenant.id] = (now, quota)
    return quota


def forget_cached_quota(**kwargs: object) -> None:
    with _quotas_lock:
        _quotas.clear()


def set_quota(tenant: Tenant, **limits: Any) -> TenantQuota:
    """Change some limits (None removes one); the others stay as they are."""
    quota, _ = TenantQuota.objects.get_or_create(tenant=tenant)
    for name, value in limits.items():
        setattr(quota, name, value)
    quota.full_clean()
    quota.save()
    return quota


# --- Requests per minute --------------------------------------------------------


def admit_request(tenant: Tenant, quota: TenantQuota | None = None) -> None:
    """Count one request against the tenant's rate; refuse the one over it."""
    quota = quota or quota_for(tenant)
    if quota is None or quota.requests_per_minute is None:
        return

    try:
        decision = counters().take(
            _rate_key(tenant), quota.requests_per_minute, RATE_WINDOW_SECONDS
        )
    except StoreUnavailable:
        logger.error("quota.store_unavailable", extra={"tenant": tenant.slug})
        raise store_unavailable() from None
    if not decision.allowed:
        wait = math.ceil(decision.retry_after)
        raise QuotaExceeded(
            "requests_per_minute",
            f"This tenant may send {quota.requests_per_minute} requests per minute "
            f"(quota requests_per_minute); try again in {wait} seconds.",
            retry_after=wait,
            limit=quota.requests_per_minute,
        )


# --- Monthly budgets ---------------------------------------------------------------


@dataclass(frozen=True)
class Month:
    """A calendar month in the tenant's time zone."""

    first_day: date
    resets_at: datetime

    @property
    def label(self) -> str:
        return self.first_day.strftime("%Y-%m")


def month_of(tenant: Tenant, now: datetime | None = None) -> Month:
    zone = zoneinfo.ZoneInfo(tenant.time_zone)
    local = (now or timezone.now()).astimezone(zone)
    first = local.date().replace(day=1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    resets_at = datetime(following.year, following.month, 1, tzinfo=zone)
    return Month(first, resets_at)


@contextmanager
def budget_hold(
    tenant: Tenant,
    tokens: int,
    cost: Decimal,
    *,
    quota: TenantQuota | None = None,
    now: datetime | None = None,
) -> Iterator[None]:
    """Hold a call's largest possible use while it runs; refuse when a budget is spent.

    What the call really used is added by `count_usage` when it is metered;
    the hold is let go when the block ends.
    """
    quota = quota if quota is not None else quota_for(tenant)
    limits = _budget_limits(quota)
    if not any(limit is not None for limit in limits):
        yield
        return

    month = month_of(tenant, now)
    keys = _budget_keys(tenant, month)
    amounts = [max(tokens, 0), _micro(cost)]
    hold_id = _take_hold(tenant, month, keys, amounts, limits, quota)
    try:
        yield
    finally:
        try:
            counters().release(keys, hold_id)
        except StoreUnavailable:
            # The hold expires by itself after QUOTAS["HOLD_SECONDS"].
            logger.warning("quota.release_failed", extra={"tenant": tenant.slug})


def check_budget(
    tenant: Tenant, quota: TenantQuota | None = None, now: datetime | None = None
) -> None:
    """Refuse when the month's tokens or spend already reached their limit."""
    with budget_hold(tenant, 0, Decimal(0), quota=quota, now=now):
        pass


def count_usage(
    tenant: Tenant, tokens: int, cost: Decimal, now: datetime | None = None
) -> None:
    """Add a metered call to the month's running totals, if they are kept."""
    if not any(limit is not None for limit in _budget_limits(quota_for(tenant))):
        return
    try:
        counters().add(
            _budget_keys(tenant, month_of(tenant, now)), [tokens, _micro(cost)]
        )
    except StoreUnavailable:
        # The usage row is written; the totals are read from it again soon.
        logger.warning("quota.count_failed", extra={"tenant": tenant.slug})


def _take_hold(
    tenant: Tenant,
    month: Month,
    keys: list[str],
    amounts: list[int],
    limits: list[int | None],
    quota: TenantQuota | None,
) -> str:
    hold_seconds = settings.QUOTAS["HOLD_SECONDS"]
    try:
        decision = counters().hold(keys, amounts, limits, hold_seconds)
        if decision.needs_seed:
            seeds = month_totals(tenant, month)
            decision = counters().hold(keys, amounts, limits, hold_seconds, seeds)
    except StoreUnavailable:
        logger.error("quota.store_unavailable", extra={"tenant": tenant.slug})
        raise store_unavailable() from None
    if decision.refused_by is not None:
        raise _budget_refusal(BUDGETS[decision.refused_by], quota, month)
    return decision.hold_id


def month_totals(tenant: Tenant, month: Month) -> list[int]:
    """Tokens and micro-dollars the usage table holds for the month."""
    from llm.models import UsageRecord

    with in_schema_of(tenant):
        sums = UsageRecord.objects.filter(
            day__gte=month.first_day, day__lt=month.resets_at.date()
        ).aggregate(
            tokens=Sum(F("input_tokens") + F("output_tokens")), cost=Sum("cost")
        )
    return [int(sums["tokens"] or 0), _micro(sums["cost"] or Decimal(0))]


def _budget_refusal(name: str, quota: TenantQuota | None, month: Month) -> ApiError:
    limit = getattr(quota, name)
    shown = f"{limit} USD" if name == "monthly_spend_usd" else f"{limit} tokens"
    resets = month.resets_at.isoformat()
    return QuotaExceeded(
        name,
        f"This tenant has used its quota {name} ({shown}) for {month.label}; "
        f"it resets at {resets}.",
        retry_after=max(int((month.resets_at - timezone.now()).total_seconds()), 1),
        limit=str(limit),
        resets_at=resets,
    )


def _budget_limits(quota: TenantQuota | None) -> list[int | None]:
    if quota is None:
        return [None, None]
    spend = quota.monthly_spend_usd
    return [quota.monthly_tokens, None if spend is None else _micro(spend)]


def _budget_keys(tenant: Tenant, month: Month) -> list[str]:
    return [f"quota:{tenant.id}:{month.label}:{name}" for name in ("tokens", "spend")]


def _micro(dollars: Decimal) -> int:
    return math.ceil(dollars * MICRO)


# --- Prompt size --------------------------------------------------------------------


def max_prompt_tokens(quota: TenantQuota | None) -> int:
    if quota is not None and quota.max_prompt_tokens is not None:
        return quota.max_prompt_tokens
    return int(settings.QUOTAS["MAX_PROMPT_TOKENS"])


def check_prompt(
    tenant: Tenant, prompt_tokens: int, quota: TenantQuota | None = None
) -> None:
    limit = max_prompt_tokens(quota if quota is not None else quota_for(tenant))
    if prompt_tokens > limit:
        raise ApiError(
            413,
            "prompt_too_large",
            f"The prompt is about {prompt_tokens} tokens; this tenant's quota "
            f"max_prompt_tokens allows {limit}. Nothing was sent to a model.",
            extra={"quota": "max_prompt_tokens", "limit": limit},
        )


# --- Storage --------------------------------------------------------------------------


def check_storage(tenant: Tenant, new_bytes: int = 0, new_documents: int = 0) -> None:
    """Refuse when stored documents (plus those about to be) pass a quota.

    Call inside the upload's transaction, after its rows are written: a lock
    per tenant makes uploads wait for each other here, and each then counts
    what the ones before it committed, so two cannot both take the last
    megabyte.
    """
    quota = quota_for(tenant)
    if quota is None or (quota.storage_mb is None and quota.documents is None):
        return

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"storage:{tenant.id}"]
        )
    used_bytes, used_documents = storage_used(tenant)
    if quota.documents is not None and used_documents + new_documents > quota.documents:
        raise QuotaExceeded(
            "documents",
            f"This tenant may keep {quota.documents} documents (quota documents) "
            f"and has {used_documents}; nothing was stored.",
            limit=quota.documents,
        )
    if quota.storage_mb is not None and used_bytes + new_bytes > quota.storage_mb * MB:
        raise QuotaExceeded(
            "storage_mb",
            f"This upload would take the tenant past its {quota.storage_mb} MB "
            "(quota storage_mb); nothing was stored.",
            limit=quota.storage_mb,
        )


def storage_used(tenant: Tenant) -> tuple[int, int]:
    from rag.models import Document

    with in_schema_of(tenant):
        sums = Document.objects.aggregate(size=Sum("size_bytes"), count=Count("id"))
    return int(sums["size"] or 0), int(sums["count"] or 0)


# --- What the tenant admin sees ---------------------------------------------------------


def describe(tenant: Tenant) -> dict[str, Any]:
    quota = quota_for(tenant)
    month = month_of(tenant)
    tokens, micro = month_totals(tenant, month)
    used_bytes, used_documents = storage_used(tenant)

    def limit(name: str) -> Any:
        value = getattr(quota, name, None)
        return str(value) if isinstance(value, Decimal) else value

    return {
        "month": month.label,
        "time_zone": tenant.time_zone,
        "resets_at": month.resets_at.isoformat(),
        "quotas": {
            "requests_per_minute": {
                "limit": limit("requests_per_minute"),
                "used": _recent_requests(tenant),
            },
            "monthly_tokens": {"limit": limit("monthly_tokens"), "used": tokens},
            "monthly_spend_usd": {
                "limit": limit("monthly_spend_usd"),
                "used": str(Decimal(micro) / MICRO),
            },
            "storage_mb": {
                "limit": limit("storage_mb"),
                "used": round(used_bytes / MB, 3),
            },
            "documents": {"limit": limit("documents"), "used": used_documents},
            "max_prompt_tokens": {"limit": max_prompt_tokens(quota)},
        },
    }


def _recent_requests(tenant: Tenant) -> int | None:
    try:
        return counters().recent(_rate_key(tenant), RATE_WINDOW_SECONDS)
    except StoreUnavailable:
        return None


def _rate_key(tenant: Tenant) -> str:
    return f"quota:{tenant.id}:rpm"


# --- The counter store -------------------------------------------------------------------

_stores: dict[str, CounterStore] = {}


def counters() -> CounterStore:
    """Redis at QUOTAS["REDIS_URL"], or this process's memory without one."""
    url = settings.QUOTAS["REDIS_URL"]
    store = _stores.get(url)
    if store is None:
        store = RedisCounters(url) if url else LocalCounters()
        store = _stores.setdefault(url, store)
    return store


def forget_local_counters() -> None:
    """Drop this process's in-memory counters (tests start each one clean)."""
    _stores.pop("", None)
