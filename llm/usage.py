"""Spend of one tenant per day, per model and for a calendar month."""

import zoneinfo
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet, Sum
from django.utils import timezone

from llm.models import UsageRecord
from tenants.models import Tenant

TOTALS = (
    "requests",
    "failed_requests",
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "cost",
)


def month_usage(tenant: Tenant, month: str | None) -> dict[str, Any]:
    first_day = _first_day(tenant, month)
    rows = UsageRecord.objects.filter(
        day__year=first_day.year, day__month=first_day.month
    )
    return {
        "month": first_day.strftime("%Y-%m"),
        "time_zone": tenant.time_zone,
        "currency": "USD",
        "total": _sums(rows),
        "days": [
            {"day": row["day"].isoformat(), **_plain(row)}
            for row in rows.values("day").annotate(**_sum_columns()).order_by("day")
        ],
        "models": [
            {
                "provider": row["provider"],
                "model": row["model"],
                "tier": row["tier"],
                **_plain(row),
                "average_latency_ms": _average_latency(row),
            }
            for row in rows.values("provider", "model", "tier")
            .annotate(**_sum_columns(), latency_ms_total=Sum("latency_ms_total"))
            .order_by("provider", "model", "tier")
        ],
    }


def _first_day(tenant: Tenant, month: str | None) -> date:
    if month:
        year, number = month.split("-")
        return date(int(year), int(number), 1)
    today = timezone.now().astimezone(zoneinfo.ZoneInfo(tenant.time_zone)).date()
    return today.replace(day=1)


def _sum_columns() -> dict[str, Sum]:
    return {column: Sum(column) for column in TOTALS}


def _sums(rows: QuerySet[UsageRecord]) -> dict[str, Any]:
    return _plain(rows.aggregate(**_sum_columns()))


def _plain(row: Any) -> dict[str, Any]:
    values = {column: row.get(column) or 0 for column in TOTALS}
    # Dollars as a string: a float would round fractions of a cent.
    values["cost"] = str(Decimal(values["cost"]).quantize(Decimal("0.000001")))
    return values


def _average_latency(row: Any) -> int:
    return (
        int((row["latency_ms_total"] or 0) / row["requests"]) if row["requests"] else 0
    )
