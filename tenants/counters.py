"""Shared counters behind the tenant quotas: Redis, or one process's memory.

Every decision is one atomic step on the store (a Lua script in Redis, a
lock in memory), so requests racing for the last unit cannot both win, and
web processes sharing one Redis share one limit. Knows nothing of Django.

Two kinds of counter:

- a sliding window of request times (requests per minute): a request is
  admitted while fewer than `limit` were admitted in the last `window`
  seconds, so exactly `limit` pass in any window;
- a month's running totals (tokens, spend) plus the holds of requests still
  in flight: a request is admitted while totals plus holds are below every
  limit, and its hold counts until it ends, so concurrent requests near a
  limit overshoot it by at most one request's hold.
"""

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import redis

# Running totals are read again from the usage table this often, so any
# drift (a metering that missed Redis) lasts minutes, not a month.
TOTALS_TTL_SECONDS = 600


class StoreUnavailable(Exception):
    """The counter store cannot be reached; quotas must fail closed."""


def reached(used: int, limit: int) -> bool:
    """The one comparison every quota uses: at the limit is over it."""
    return used >= limit


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after: float = 0.0


@dataclass(frozen=True)
class HoldDecision:
    """`refused_by` is the index of the first limit reached, or None."""

    hold_id: str
    refused_by: int | None = None
    needs_seed: bool = False


class CounterStore(Protocol):
    def take(self, key: str, limit: int, window: float) -> RateDecision: ...

    def recent(self, key: str, window: float) -> int: ...

    def hold(
        self,
        keys: Sequence[str],
        amounts: Sequence[int],
        limits: Sequence[int | None],
        hold_seconds: float,
        seeds: Sequence[int] | None = None,
    ) -> HoldDecision: ...

    def release(self, keys: Sequence[str], hold_id: str) -> None: ...

    def add(self, keys: Sequence[str], amounts: Sequence[int]) -> None: ...

    def totals(self, keys: Sequence[str]) -> list[int | None]: ...

    def clear(self) -> None: ...


# KEYS[1]: sorted set of admitted request times. ARGV: limit, window, id.
TAKE_SCRIPT = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local window_ms = tonumber(ARGV[2]) * 1000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - window_ms)
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[1]) then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    local wait_ms = window_ms
    if oldest[2] then wait_ms = tonumber(oldest[2]) + window_ms - now_ms end
    return {0, wait_ms}
end
redis.call('ZADD', KEYS[1], now_ms, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window_ms)
return {1, 0}
"""

# For each counter i: KEYS[2i-1] holds the total, KEYS[2i] a sorted set of
# holds ("id:amount", scored by expiry). ARGV: n, now_ms, hold_ms, id,
# ttl, then per counter amount, limit (-1 none), seed (-1 none).
HOLD_SCRIPT = """
local n = tonumber(ARGV[1])
local now_ms = tonumber(ARGV[2])
local hold_id = ARGV[4]
for i = 1, n do
    local base = 6 + (i - 1) * 3
    local seed = tonumber(ARGV[base + 2])
    if seed >= 0 then
        redis.call('SET', KEYS[2 * i - 1], seed, 'NX', 'EX', tonumber(ARGV[5]))
    elseif redis.call('EXISTS', KEYS[2 * i - 1]) == 0 then
        return {-1}
    end
end
for i = 1, n do
    local base = 6 + (i - 1) * 3
    local limit = tonumber(ARGV[base + 1])
    redis.call('ZREMRANGEBYSCORE', KEYS[2 * i], '-inf', now_ms)
    if limit >= 0 then
        local used = tonumber(redis.call('GET', KEYS[2 * i - 1]))
        for _, member in ipairs(redis.call('ZRANGE', KEYS[2 * i], 0, -1)) do
            used = used + tonumber(string.match(member, ':(%-?%d+)$'))
        end
        if used >= limit then return {i} end
    end
end
for i = 1, n do
    local base = 6 + (i - 1) * 3
    local member = hold_id .. ':' .. ARGV[base]
    redis.call('ZADD', KEYS[2 * i], now_ms + tonumber(ARGV[3]), member)
    redis.call('PEXPIRE', KEYS[2 * i], tonumber(ARGV[3]) + 60000)
end
return {0}
"""

# KEYS: totals; ARGV: amounts. A missing total stays missing: it is seeded
# from the usage table, which already holds this amount.
ADD_SCRIPT = """
for i, key in ipairs(KEYS) do
    if redis.call('EXISTS', key) == 1 then
        redis.call('INCRBY', key, ARGV[i])
    end
end
return {0}
"""

RELEASE_SCRIPT = """
for _, key in ipairs(KEYS) do
    for _, member in ipairs(redis.call('ZRANGE', key, 0, -1)) do
        if string.sub(member, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ':' then
            redis.call('ZREM', key, member)
        end
    end
end
return {0}
"""


class RedisCounters:
    def __init__(self, url: str, timeout: float = 0.5) -> None:
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._take = self.client.register_script(TAKE_SCRIPT)
        self._hold = self.client.register_script(HOLD_SCRIPT)
        self._add = self.client.register_script(ADD_SCRIPT)
        self._release = self.client.register_script(RELEASE_SCRIPT)

    def take(self, key: str, limit: int, window: float) -> RateDecision:
        allowed, wait_ms = self._run(
            self._take, [key], [limit, window, uuid.uuid4().hex]
        )
        return RateDecision(bool(allowed), max(int(wait_ms), 1) / 1000)

    def recent(self, key: str, window: float) -> int:
        now_ms = int(time.time() * 1000)
        try:
            return int(self.client.zcount(key, now_ms - window * 1000, "+inf"))
        except redis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from None

    def hold(
        self,
        keys: Sequence[str],
        amounts: Sequence[int],
        limits: Sequence[int | None],
        hold_seconds: float,
        seeds: Sequence[int] | None = None,
    ) -> HoldDecision:
        hold_id = uuid.uuid4().hex
        redis_keys = [name for key in keys for name in (key, f"{key}:held")]
        args: list[int | str] = [
            len(keys),
            int(time.time() * 1000),
            int(hold_seconds * 1000),
            hold_id,
            TOTALS_TTL_SECONDS,
        ]
        for index, amount in enumerate(amounts):
            limit = limits[index]
            args += [
                amount,
                -1 if limit is None else limit,
                -1 if seeds is None else seeds[index],
            ]
        (outcome,) = self._run(self._hold, redis_keys, args)
        if outcome == -1:
            return HoldDecision(hold_id, needs_seed=True)
        return HoldDecision(hold_id, refused_by=None if outcome == 0 else outcome - 1)

    def release(self, keys: Sequence[str], hold_id: str) -> None:
        self._run(self._release, [f"{key}:held" for key in keys], [hold_id])

    def add(self, keys: Sequence[str], amounts: Sequence[int]) -> None:
        self._run(self._add, list(keys), list(amounts))

    def totals(self, keys: Sequence[str]) -> list[int | None]:
        try:
            values = self.client.mget(list(keys))
        except redis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from None
        return [None if value is None else int(value) for value in values]

    def clear(self) -> None:
        self.client.flushdb()

    def _run(
        self, script: object, keys: list[str], args: Sequence[object]
    ) -> list[int]:
        try:
            result = script(keys=keys, args=list(args))  # type: ignore[operator]
        except redis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from None
        return [int(value) for value in result]


class LocalCounters:
    """The same counters in this process's memory, for the embedded default.

    Correct for one process only: deployments with several web processes
    set REDIS_URL.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: dict[str, list[float]] = {}
        self._totals: dict[str, int] = {}
        self._holds: dict[str, dict[str, tuple[int, float]]] = {}

    def take(self, key: str, limit: int, window: float) -> RateDecision:
        now = time.monotonic()
        with self._lock:
            times = [t for t in self._times.get(key, []) if t > now - window]
            self._times[key] = times
            if reached(len(times), limit):
                return RateDecision(False, max(times[0] + window - now, 0.001))
            times.append(now)
        return RateDecision(True)

    def recent(self, key: str, window: float) -> int:
        now = time.monotonic()
        with self._lock:
            return sum(1 for t in self._times.get(key, []) if t > now - window)

    def hold(
        self,
        keys: Sequence[str],
        amounts: Sequence[int],
        limits: Sequence[int | None],
        hold_seconds: float,
        seeds: Sequence[int] | None = None,
    ) -> HoldDecision:
        hold_id = uuid.uuid4().hex
        now = time.monotonic()
        with self._lock:
            for index, key in enumerate(keys):
                if key not in self._totals:
                    if seeds is None:
                        return HoldDecision(hold_id, needs_seed=True)
                    self._totals[key] = seeds[index]
            for index, key in enumerate(keys):
                holds = self._live_holds(key, now)
                limit = limits[index]
                used = self._totals[key] + sum(amount for amount, _ in holds.values())
                if limit is not None and reached(used, limit):
                    return HoldDecision(hold_id, refused_by=index)
            for index, key in enumerate(keys):
                self._holds[key][hold_id] = (amounts[index], now + hold_seconds)
        return HoldDecision(hold_id)

    def release(self, keys: Sequence[str], hold_id: str) -> None:
        with self._lock:
            for key in keys:
                self._holds.get(key, {}).pop(hold_id, None)

    def add(self, keys: Sequence[str], amounts: Sequence[int]) -> None:
        with self._lock:
            for key, amount in zip(keys, amounts, strict=True):
                if key in self._totals:
                    self._totals[key] += amount

    def totals(self, keys: Sequence[str]) -> list[int | None]:
        with self._lock:
            return [self._totals.get(key) for key in keys]

    def clear(self) -> None:
        with self._lock:
            self._times.clear()
            self._totals.clear()
            self._holds.clear()

    def _live_holds(self, key: str, now: float) -> dict[str, tuple[int, float]]:
        holds = {
            hold_id: hold
            for hold_id, hold in self._holds.get(key, {}).items()
            if hold[1] > now
        }
        self._holds[key] = holds
        return holds
