"""Load the price file into the database and price a call's usage.

Prices are per million tokens. A value outside PLAUSIBLE_RANGE is refused at
load time: the usual mistake is a per-token price typed into a per-million
column, which would make every call look a million times dearer or cheaper.
"""

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import transaction

from pricing.models import ModelPrice

logger = logging.getLogger(__name__)

PRICE_FILE = Path(__file__).resolve().parent / "data" / "model_prices.json"
PLAUSIBLE_RANGE = (Decimal("0"), Decimal("500"))
MILLION = Decimal(1_000_000)
# Prices change by hand a few times a year; a process re-reads them this often.
CACHE_SECONDS = 60.0


class PriceFileError(ValueError):
    """The price file is malformed or holds an implausible price."""


@dataclass(frozen=True)
class TokenCounts:
    """Normalised usage: `input` includes cached reads and cache writes."""

    input: int
    output: int
    cached: int = 0
    cache_write: int = 0


def load_price_file(path: Path = PRICE_FILE) -> list[ModelPrice]:
    """Parse and check the price file; nothing is written."""
    try:
        document = json.loads(path.read_text())
        rows = document["models"]
    except (OSError, ValueError, KeyError) as exc:
        raise PriceFileError(f"{path}: cannot read the model list ({exc})") from exc
    return [_price_from(row, path) for row in rows]


@transaction.atomic
def sync_prices(path: Path = PRICE_FILE) -> int:
    """Make the table hold exactly the models of the price file."""
    prices = load_price_file(path)
    keep = {(price.provider, price.model) for price in prices}
    for existing in ModelPrice.objects.all():
        if (existing.provider, existing.model) not in keep:
            existing.delete()
    for price in prices:
        ModelPrice.objects.update_or_create(
            provider=price.provider,
            model=price.model,
            defaults=_columns(price),
        )
    _cache.clear()
    return len(prices)


def sync_after_migrate(**kwargs: Any) -> None:
    from tenants.context import PUBLIC_SCHEMA, current_schema

    # django-tenants runs post_migrate for every tenant schema too; the
    # catalogue lives only in public.
    if current_schema() == PUBLIC_SCHEMA:
        sync_prices()


def price_of(provider: str, model: str) -> ModelPrice | None:
    return _cache.get().get((provider, model))


def models_of(provider: str) -> list[ModelPrice]:
    return [price for (name, _), price in _cache.get().items() if name == provider]


def default_model(provider: str, tier: str) -> str:
    for price in models_of(provider):
        if price.default_tier == tier:
            return price.model
    return ""


def cost_of(price: ModelPrice | None, tokens: TokenCounts) -> Decimal:
    """Dollars for one call; a model missing from the catalogue costs 0."""
    if price is None:
        return Decimal(0)
    input_rate, output_rate = price.input_per_mtok, price.output_per_mtok
    if price.long_context_above and tokens.input > price.long_context_above:
        input_rate = price.long_input_per_mtok or input_rate
        output_rate = price.long_output_per_mtok or output_rate
    cache_write_rate = price.cache_write_per_mtok or input_rate
    uncached = max(tokens.input - tokens.cached - tokens.cache_write, 0)

    dollars = (
        uncached * input_rate
        + tokens.cached * price.cached_input_per_mtok
        + tokens.cache_write * cache_write_rate
        + tokens.output * output_rate
    )
    return dollars / MILLION


class _PriceCache:
    """The catalogue, read from the database at most every CACHE_SECONDS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._prices: dict[tuple[str, str], ModelPrice] = {}
        self._read_at = 0.0

    def get(self) -> dict[tuple[str, str], ModelPrice]:
        with self._lock:
            if time.monotonic() - self._read_at > CACHE_SECONDS:
                self._prices = {
                    (price.provider, price.model): price
                    for price in ModelPrice.objects.using("default").all()
                }
                self._read_at = time.monotonic()
            return self._prices

    def clear(self) -> None:
        with self._lock:
            self._read_at = 0.0


_cache = _PriceCache()


def _price_from(row: dict[str, Any], path: Path) -> ModelPrice:
    where = f"{path.name}: {row.get('provider')}:{row.get('model')}"
    try:
        price = ModelPrice(
            provider=row["provider"],
            model=row["model"],
            default_tier=row.get("default_tier", ""),
            input_per_mtok=Decimal(row["input"]),
            cached_input_per_mtok=Decimal(row.get("cached_input", row["input"])),
            cache_write_per_mtok=_optional_decimal(row.get("cache_write")),
            output_per_mtok=Decimal(row["output"]),
            long_context_above=row.get("long_context_above"),
            long_input_per_mtok=_optional_decimal(row.get("long_input")),
            long_output_per_mtok=_optional_decimal(row.get("long_output")),
            prices_taken_on=date.fromisoformat(row["prices_taken_on"]),
            source=row.get("source", ""),
        )
    except (KeyError, ValueError, ArithmeticError) as exc:
        raise PriceFileError(f"{where}: {exc!r}") from exc
    _check_plausible(price, where)
    return price


def _check_plausible(price: ModelPrice, where: str) -> None:
    low, high = PLAUSIBLE_RANGE
    for field in (
        "input_per_mtok",
        "cached_input_per_mtok",
        "cache_write_per_mtok",
        "output_per_mtok",
        "long_input_per_mtok",
        "long_output_per_mtok",
    ):
        value = getattr(price, field)
        if value is not None and not low <= value <= high:
            raise PriceFileError(
                f"{where}: {field} = {value} is not a price per million tokens "
                f"(expected {low} to {high} dollars)"
            )
    if price.cached_input_per_mtok > price.input_per_mtok:
        raise PriceFileError(f"{where}: cached input costs more than input")


def _optional_decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _columns(price: ModelPrice) -> dict[str, Any]:
    return {
        field.name: getattr(price, field.name)
        for field in ModelPrice._meta.concrete_fields
        if field.name not in ("id", "provider", "model")
    }
