"""Claude through the official anthropic SDK (Messages API)."""

from collections.abc import Iterator, Sequence
from typing import Any

import anthropic
from anthropic.types import (
    Message,
    RawContentBlockDeltaEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    TextBlock,
    TextDelta,
)
from anthropic.types import Usage as MessageUsage

from llm.providers.base import (
    TIMEOUT_ERRORS,
    TRANSPORT_ERRORS,
    UNREADABLE_REPLY_ERRORS,
    ChatMessage,
    Completion,
    CompletionRequest,
    CompletionStream,
    ErrorKind,
    Provider,
    ProviderError,
    Usage,
    check_answered,
    conversation_turns,
    count_field,
    retry_after_seconds,
    sdk_items,
    status_error,
    system_text,
    text_field,
    unreadable_reply,
)

SDK_ERRORS = (anthropic.AnthropicError, *TRANSPORT_ERRORS, *UNREADABLE_REPLY_ERRORS)

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
        arguments = _arguments(request)
        try:
            raw = self._client.messages.with_raw_response.create(**arguments)
            message = raw.parse()
        except SDK_ERRORS as exc:
            raise provider_error(exc) from exc

        content = _content(message)
        text = "".join(
            text_field(block.text) for block in content if isinstance(block, TextBlock)
        )
        stop_reason = text_field(message.stop_reason)
        completion = Completion(
            text=text,
            model=request.model,
            usage=_usage(message.usage),
            finish_reason=FINISH_REASONS.get(stop_reason, stop_reason),
            request_id=raw.headers.get("request-id") or text_field(message.id),
        )
        check_answered(completion)
        return completion

    def stream(self, request: CompletionRequest) -> CompletionStream:
        arguments = _arguments(request)
        try:
            raw = self._client.messages.with_raw_response.create(
                **arguments, stream=True
            )
        except SDK_ERRORS as exc:
            raise provider_error(exc) from exc
        return _AnthropicStream(raw, request.model, request.messages)


class _AnthropicStream(CompletionStream):
    def __init__(self, raw: Any, model: str, prompt: Sequence[ChatMessage]) -> None:
        super().__init__(model, prompt)
        self._events = raw.parse()
        self.completion.request_id = raw.headers.get("request-id") or ""

    def _deltas(self) -> Iterator[str]:
        for event in sdk_items(self._events, SDK_ERRORS, provider_error):
            yield from self._read(event)

    def _read(self, event: object) -> Iterator[str]:
        # The SDK builds events without checking them: read only those of the
        # shape it promises, so a server's stray object cannot break the loop.
        if isinstance(event, RawMessageStartEvent):
            self._start(event.message)
        elif isinstance(event, RawContentBlockDeltaEvent):
            delta = event.delta
            if isinstance(delta, TextDelta) and (text := text_field(delta.text)):
                yield text
        elif isinstance(event, RawMessageDeltaEvent):
            usage = event.usage
            output_tokens = getattr(usage, "output_tokens", 0)
            self.completion.usage.output_tokens = count_field(output_tokens)
            reason = text_field(getattr(event.delta, "stop_reason", ""))
            self.completion.finish_reason = FINISH_REASONS.get(reason, reason)

    def _start(self, message: object) -> None:
        if not isinstance(message, Message):
            return
        if not self.completion.request_id:
            self.completion.request_id = text_field(message.id)
        if isinstance(message.usage, MessageUsage):
            self._set_usage(_usage(message.usage))

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


def _content(message: object) -> Sequence[object]:
    """The message's content blocks; a reply without them is not a message."""
    content = message.content if isinstance(message, Message) else None
    if not isinstance(content, list):
        raise unreadable_reply()
    return content


def _usage(usage: object) -> Usage:
    if not isinstance(usage, MessageUsage):
        return Usage(estimated=True)
    # Claude's input_tokens leaves out cache reads and writes; ours counts all.
    cached = count_field(getattr(usage, "cache_read_input_tokens", 0))
    cache_write = count_field(getattr(usage, "cache_creation_input_tokens", 0))
    return Usage(
        input_tokens=count_field(usage.input_tokens) + cached + cache_write,
        output_tokens=count_field(getattr(usage, "output_tokens", 0)),
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
    if isinstance(exc, UNREADABLE_REPLY_ERRORS):
        return unreadable_reply()
    return ProviderError(ErrorKind.SERVER, "The provider's stream failed.")
