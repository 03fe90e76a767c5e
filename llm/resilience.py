"""Retries with backoff and a circuit breaker per provider account.

A breaker belongs to one tenant's use of one provider account (provider,
address and key): a tenant whose calls keep failing, even on the platform's
shared key, opens only its own breaker, never another tenant's. Breakers
live in the process: each web or worker process learns on its own that a
provider is down, after BREAKER_FAILURES failures.
"""

import hashlib
import random
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum

from django.conf import settings


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    failure_threshold: int
    reset_seconds: float
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def allows_call(self) -> bool:
        """Closed: yes. Open: only once the reset time has passed, as one trial."""
        with self._lock:
            if self.state == BreakerState.CLOSED:
                return True
            if self.state == BreakerState.OPEN:
                if time.monotonic() - self.opened_at >= self.reset_seconds:
                    self.state = BreakerState.HALF_OPEN
                    return True
                return False
            # Half open: a trial call is already out.
            return False

    def record_success(self) -> None:
        with self._lock:
            self.state = BreakerState.CLOSED
            self.failures = 0

    def record_failure(self) -> None:
        with self._lock:
            self.failures += 1
            if (
                self.state == BreakerState.HALF_OPEN
                or self.failures >= self.failure_threshold
            ):
                self.state = BreakerState.OPEN
                self.opened_at = time.monotonic()


_breakers: dict[str, CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(
    tenant_id: object, provider: str, base_url: str, api_key: str
) -> CircuitBreaker:
    account = hashlib.sha256(
        f"{tenant_id}|{provider}|{base_url}|{api_key}".encode()
    ).hexdigest()
    with _breakers_lock:
        breaker = _breakers.get(account)
        if breaker is None:
            breaker = CircuitBreaker(
                failure_threshold=settings.LLM["BREAKER_FAILURES"],
                reset_seconds=settings.LLM["BREAKER_RESET_SECONDS"],
            )
            _breakers[account] = breaker
        return breaker


def reset_breakers() -> None:
    with _breakers_lock:
        _breakers.clear()


def backoff_seconds(attempt: int, retry_after: float | None) -> float | None:
    """Seconds to wait before retry `attempt` (1-based), or None to move on.

    A provider asking for a longer pause than we would make a user wait is
    skipped in favour of the next provider.
    """
    if retry_after is not None:
        if retry_after > settings.LLM["MAX_RETRY_AFTER_SECONDS"]:
            return None
        return retry_after
    base = settings.LLM["BACKOFF_SECONDS"] * (2 ** (attempt - 1))
    return float(base * (0.5 + random.random() / 2))
