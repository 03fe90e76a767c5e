"""Claude through the official anthropic SDK (Messages API)."""

from collections.abc import Iterator, Sequence
from typing import Any

import anthropic

from llm.providers.base import (
    TIMEOUT_ERRORS,
    TRANSPORT_ERRORS,
    ChatMessage,
    Completion,
    CompletionRequest,
    CompletionStream,
    ErrorKind,
    Provider,
    ProviderError,
    Usage,
    conversation_turns,
    retry_after_seconds,
    status_error,
    system_text,
)

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "refusal": "content_filter",
}


class AnthropicProvider(Provider):
    name = "anthropic"

    def __init__(
        self, *, api_key: str, base_url: str | None = None, timeout: float = 30.0
    ) -> None:
        self._client = anthropic.Anthropic(
            api_key=api_key, base_url=base_url or None, timeout=timeout, max_retries=0
        )

    def complete(self, request: CompletionRequest) -> Completion:
        try:
            raw = self._client.messages.with_raw_response.create(**_arguments(request))
            message = raw.parse()
        except (anthropic.AnthropicError, *TRANSPORT_ERRORS) as exc:
            raise provider_error(exc) from exc

        text = "".join(
            block.text
            for block in message.content
            if getattr(block, "type", "") == "text"
        )
        return Completion(
            text=text,
            model=request.model,
            usage=_usage(message.usage),
            finish_reason=FINISH_REASONS.get(
                message.stop_reason or "", message.stop_reason or ""
            ),
            request_id=raw.headers.get("request-id") or message.id,
        )

    def stream(self, request: CompletionRequest) -> CompletionStream:
        try:
            raw = self._client.messages.with_raw_response.create(
                **_arguments(request), stream=True
            )
        except (anthropic.AnthropicError, *TRANSPORT_ERRORS) as exc:
            raise provider_error(exc) from exc
        return _AnthropicStream(raw, request.model, request.messages)


class _AnthropicStream(CompletionStream):
    def __init__(self, raw: Any, model: str, prompt: Sequence[ChatMessage]) -> None:
        super().__init__(model, prompt)
        self._events = raw.parse()
        self.completion.request_id = raw.headers.get("request-id") or ""

    def _deltas(self) -> Iterator[str]:
        try:
            for event in self._events:
                yield from self._read(event)
        except (anthropic.AnthropicError, *TRANSPORT_ERRORS) as exc:
            raise provider_error(exc) from exc

    def _read(self, event: Any) -> Iterator[str]:
        if event.type == "message_start":
            self.completion.request_id = self.completion.request_id or event.message.id
            self._set_usage(_usage(event.message.usage))
        elif event.type == "content_block_delta" and event.delta.type == "text_delta":
            yield event.delta.text
        elif event.type == "message_delta":
            self.completion.usage.output_tokens = event.usage.output_tokens or 0
            reason = event.delta.stop_reason or ""
            self.completion.finish_reason = FINISH_REASONS.get(reason, reason)

    def close(self) -> None:
        self._events.close()


def _arguments(request: CompletionRequest) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": [
            {"role": turn.role, "content": turn.content}
            for turn in conversation_turns(request.messages)
        ],
    }
    system = system_text(request.messages)
    if system:
        arguments["system"] = system
    if request.temperature is not None:
        arguments["temperature"] = request.temperature
    return arguments


def _usage(usage: Any) -> Usage:
    # Claude's input_tokens leaves out cache reads and writes; ours counts all.
    cached = getattr(usage, "cache_read_input_tokens", 0) or 0
    cache_write = getattr(usage, "cache_creation_input_tokens", 0) or 0
    return Usage(
        input_tokens=(usage.input_tokens or 0) + cached + cache_write,
        output_tokens=getattr(usage, "output_tokens", 0) or 0,
        cached_tokens=cached,
        cache_write_tokens=cache_write,
    )


def provider_error(exc: Exception) -> ProviderError:
    if isinstance(exc, (anthropic.APITimeoutError, *TIMEOUT_ERRORS)):
        return ProviderError(ErrorKind.TIMEOUT, "The provider did not answer in time.")
    if isinstance(exc, (anthropic.APIConnectionError, *TRANSPORT_ERRORS)):
        return ProviderError(ErrorKind.CONNECTION, "The provider could not be reached.")
    if isinstance(exc, anthropic.APIStatusError) and exc.status_code < 400:
        # An error event inside a 200 stream (overloaded, api_error).
        kind = (
            ErrorKind.RATE_LIMITED
            if "rate_limit" in str(exc.type)
            else ErrorKind.SERVER
        )
        return ProviderError(kind, "The provider's stream reported an error.")
    if isinstance(exc, anthropic.APIStatusError):
        retry_after = retry_after_seconds(exc.response.headers.get("retry-after"))
        return status_error(exc.status_code, retry_after, exc.message)
    return ProviderError(ErrorKind.SERVER, "The provider's stream failed.")
