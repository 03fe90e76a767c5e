"""Call a tenant's providers: route, retry, fall back, and meter every attempt.

`Gateway.complete` returns a whole answer; `Gateway.stream` yields text as it
arrives. A stream may still fall back to the next provider until its first
delta has been handed to the caller; after that a failure ends the stream
with StreamInterrupted, and what was used is metered all the same.
"""

import hashlib
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from audit.models import Outcome
from llm.config import ProviderConfig, TenantLLMConfig
from llm.metering import CallRecord, meter
from llm.providers.anthropic import AnthropicProvider
from llm.providers.base import (
    CHARS_PER_TOKEN,
    ChatMessage,
    Completion,
    CompletionRequest,
    CompletionStream,
    ErrorKind,
    Provider,
    ProviderError,
    Usage,
)
from llm.providers.gemini import GeminiProvider
from llm.providers.openai import OpenAICompatibleProvider, OpenAIProvider
from llm.resilience import backoff_seconds, breaker_for
from llm.router import RouteDecision, RouteRequest, Task, route
from portal.bounded_cache import BoundedCache
from pricing.catalogue import TokenCounts, cost_of, price_of
from pricing.tiers import Tier
from tenants import quotas
from tenants.models import Tenant

PROVIDER_CLASSES: dict[
    str, type[OpenAIProvider | AnthropicProvider | GeminiProvider]
] = {
    "openai": OpenAIProvider,
    "openai_compatible": OpenAICompatibleProvider,
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
}
# SDK clients hold connection pools; keep the most recently used ones.
MAX_CACHED_CLIENTS = 128


class LLMUnavailable(Exception):
    """Every provider in the chain failed or was skipped."""

    def __init__(self, attempts: list[str]) -> None:
        super().__init__(
            "No language model provider could answer: " + "; ".join(attempts)
        )
        self.attempts = attempts
        # Every provider that was tried timed out (a 504 rather than a 502).
        self.timed_out = bool(attempts) and all(
            TIMED_OUT in attempt for attempt in attempts
        )


TIMED_OUT = "did not answer in time"


class StreamInterrupted(Exception):
    """The provider failed after part of the answer was already sent."""


@dataclass(frozen=True)
class Caller:
    """Who the call is made for, as the audit trail names them."""

    actor_id: int | None = None
    actor: str = ""


@dataclass
class Answer:
    completion: Completion
    provider: str
    model: str
    decision: RouteDecision


class Gateway:
    def __init__(self, tenant: Tenant, config: TenantLLMConfig) -> None:
        self.tenant = tenant
        self.config = config

    def decide(self, request: RouteRequest, tier: str | None = None) -> RouteDecision:
        if tier in (Tier.LIGHT, Tier.HEAVY):
            return RouteDecision(tier, "tier asked for by the caller")
        if not self.config.routing_enabled:
            return RouteDecision(Tier.HEAVY, "routing is switched off for this tenant")
        return route(request)

    def complete(
        self,
        messages: Sequence[ChatMessage],
        decision: RouteDecision,
        *,
        task: Task,
        caller: Caller | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Answer:
        requests = self._requests(decision, messages, max_tokens, temperature)
        failures: list[str] = []
        with self.budget_hold(messages, requests):
            for provider_config, request in requests:
                attempt = _Attempt(
                    self, provider_config, request, decision, task, caller or Caller()
                )
                completion = attempt.complete(failures)
                if completion is not None:
                    return Answer(
                        completion, provider_config.name, request.model, decision
                    )
        raise LLMUnavailable(failures or ["no provider is configured"])

    def stream(
        self,
        messages: Sequence[ChatMessage],
        decision: RouteDecision,
        *,
        task: Task,
        caller: Caller | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> "GatewayStream":
        requests = self._requests(decision, messages, max_tokens, temperature)
        # Refuse now, while the caller can still answer with an error status;
        # the stream takes its hold when it starts.
        self.check_quotas(messages)
        return GatewayStream(
            self, requests, decision, task, caller or Caller(), messages
        )

    def check_quotas(self, messages: Sequence[ChatMessage]) -> None:
        quota = quotas.quota_for(self.tenant)
        quotas.check_prompt(self.tenant, prompt_tokens(messages), quota)
        quotas.check_budget(self.tenant, quota)

    def budget_hold(
        self,
        messages: Sequence[ChatMessage],
        requests: Sequence[tuple[ProviderConfig, CompletionRequest]],
    ) -> AbstractContextManager[None]:
        """Refuse an oversized prompt or a spent budget; else hold the largest cost."""
        quota = quotas.quota_for(self.tenant)
        tokens = prompt_tokens(messages)
        quotas.check_prompt(self.tenant, tokens, quota)
        output = max((request.max_tokens for _, request in requests), default=0)
        cost = max(
            (
                cost_of(
                    price_of(config.name, request.model),
                    TokenCounts(input=tokens, output=request.max_tokens),
                )
                for config, request in requests
            ),
            default=Decimal(0),
        )
        return quotas.budget_hold(self.tenant, tokens + output, cost, quota=quota)

    def _requests(
        self,
        decision: RouteDecision,
        messages: Sequence[ChatMessage],
        max_tokens: int | None,
        temperature: float | None,
    ) -> list[tuple[ProviderConfig, CompletionRequest]]:
        return [
            (
                provider_config,
                self._request(
                    provider_config, decision, messages, max_tokens, temperature
                ),
            )
            for provider_config in self.config.chain
        ]

    def _request(
        self,
        provider_config: ProviderConfig,
        decision: RouteDecision,
        messages: Sequence[ChatMessage],
        max_tokens: int | None,
        temperature: float | None,
    ) -> CompletionRequest:
        return CompletionRequest(
            messages=tuple(messages),
            model=provider_config.model_for(decision.tier),
            max_tokens=max_tokens or settings.LLM["MAX_OUTPUT_TOKENS"],
            temperature=temperature,
        )


class GatewayStream:
    """Iterate for text deltas; `answer` is set once the stream has ended."""

    def __init__(
        self,
        gateway: Gateway,
        requests: list[tuple[ProviderConfig, CompletionRequest]],
        decision: RouteDecision,
        task: Task,
        caller: Caller,
        messages: Sequence[ChatMessage],
    ) -> None:
        self._gateway = gateway
        self._requests = requests
        self._messages = messages
        self.decision = decision
        self._task = task
        self._caller = caller
        self.answer: Answer | None = None
        # Known once a provider has produced its first delta.
        self.provider = ""
        self.model = ""

    def __iter__(self) -> Iterator[str]:
        with self._gateway.budget_hold(self._messages, self._requests):
            yield from self._relay_first_that_answers()

    def _relay_first_that_answers(self) -> Iterator[str]:
        failures: list[str] = []
        for provider_config, request in self._requests:
            attempt = _Attempt(
                self._gateway,
                provider_config,
                request,
                self.decision,
                self._task,
                self._caller,
            )
            opened = attempt.open_stream(failures)
            if opened is None:
                continue
            stream, first = opened
            self.provider, self.model = provider_config.name, request.model
            yield from attempt.relay(stream, first)
            self.answer = Answer(
                stream.completion, provider_config.name, request.model, self.decision
            )
            return
        raise LLMUnavailable(failures or ["no provider is configured"])


class _Attempt:
    """Calls to one provider: the first try and its retries."""

    def __init__(
        self,
        gateway: Gateway,
        provider_config: ProviderConfig,
        request: CompletionRequest,
        decision: RouteDecision,
        task: Task,
        caller: Caller,
    ) -> None:
        self.gateway = gateway
        self.config = provider_config
        self.request = request
        self.decision = decision
        self.task = task
        self.caller = caller
        self.breaker = breaker_for(
            gateway.tenant.id,
            provider_config.name,
            provider_config.base_url,
            provider_config.api_key,
        )
        self.provider = provider_for(provider_config)

    def complete(self, failures: list[str]) -> Completion | None:
        for attempt in self._tries(failures):
            started = time.monotonic()
            try:
                completion = self.provider.complete(self.request)
            except ProviderError as error:
                if not self._failed(error, started, attempt, failures):
                    return None
                continue
            self.breaker.record_success()
            self._meter(completion, started, Outcome.SUCCESS)
            return completion
        return None

    def open_stream(
        self, failures: list[str]
    ) -> tuple[CompletionStream, str | None] | None:
        """Open a stream and read up to its first delta, retrying on the way."""
        for attempt in self._tries(failures):
            started = time.monotonic()
            stream: CompletionStream | None = None
            try:
                stream = self.provider.stream(self.request)
                deltas = iter(stream)
                first = next(deltas, None)
            except ProviderError as error:
                if stream is not None:
                    stream.close()
                if not self._failed(error, started, attempt, failures):
                    return None
                continue
            self._started, self._deltas = started, deltas
            self._first_token_ms = _ms_since(started)
            return stream, first
        return None

    def relay(self, stream: CompletionStream, first: str | None) -> Iterator[str]:
        started = self._started
        try:
            if first is not None:
                yield first
            yield from self._deltas
        except ProviderError as error:
            self.breaker.record_failure()
            self._meter(
                stream.completion,
                started,
                Outcome.ERROR,
                error=str(error),
                streamed=True,
            )
            raise StreamInterrupted(
                "The model's answer broke off; what arrived is shown and was metered."
            ) from error
        except GeneratorExit:
            # The client went away: bill what was generated, then let go.
            stream.close()
            self.breaker.record_success()
            self._meter(
                stream.completion,
                started,
                Outcome.ERROR,
                error="client disconnected",
                streamed=True,
            )
            raise
        self.breaker.record_success()
        self._meter(stream.completion, started, Outcome.SUCCESS, streamed=True)

    def _tries(self, failures: list[str]) -> Iterator[int]:
        for attempt in range(1, settings.LLM["MAX_RETRIES"] + 2):
            if not self.breaker.allows_call():
                failures.append(f"{self.config.name}: circuit open, skipped")
                return
            yield attempt

    def _failed(
        self, error: ProviderError, started: float, attempt: int, failures: list[str]
    ) -> bool:
        """Record a failed try; True when it is worth trying this provider again."""
        if error.kind == ErrorKind.CLIENT:
            # The provider answered; the request was at fault, not the service.
            self.breaker.record_success()
        else:
            self.breaker.record_failure()
        failures.append(f"{self.config.name}: {error}")
        self._meter(
            Completion(text="", model=self.request.model, usage=Usage()),
            started,
            Outcome.ERROR,
            error=str(error),
        )
        if not error.retryable or attempt > settings.LLM["MAX_RETRIES"]:
            return False
        pause = backoff_seconds(attempt, error.retry_after)
        if pause is None:
            return False
        time.sleep(pause)
        return True

    def _meter(
        self,
        completion: Completion,
        started: float,
        outcome: str,
        *,
        error: str = "",
        streamed: bool = False,
    ) -> None:
        meter(
            self.gateway.tenant,
            CallRecord(
                provider=self.config.name,
                model=self.request.model,
                tier=self.decision.tier,
                task=self.task,
                route_reason=self.decision.reason,
                usage=completion.usage,
                latency_ms=_ms_since(started),
                outcome=outcome,
                error=error,
                request_id=completion.request_id,
                finish_reason=completion.finish_reason,
                streamed=streamed,
                first_token_ms=getattr(self, "_first_token_ms", None)
                if streamed
                else None,
                actor_id=self.caller.actor_id,
                actor=self.caller.actor,
            ),
        )


_clients: BoundedCache[str, Provider] = BoundedCache(MAX_CACHED_CLIENTS)


def provider_for(config: ProviderConfig) -> Provider:
    """One SDK client per provider account, reused across requests."""
    timeout = settings.LLM["TIMEOUT_SECONDS"]
    account = hashlib.sha256(
        f"{config.name}|{config.base_url}|{config.api_key}|{timeout}".encode()
    ).hexdigest()
    provider = _clients.get(account)
    if provider is None:
        provider = PROVIDER_CLASSES[config.name](
            api_key=config.api_key, base_url=config.base_url or None, timeout=timeout
        )
        _clients.put(account, provider)
    return provider


def prompt_tokens(messages: Sequence[ChatMessage]) -> int:
    """The prompt's size as estimated before a call (about 4 characters a token)."""
    return -(-sum(len(message.content) for message in messages) // CHARS_PER_TOKEN)


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
