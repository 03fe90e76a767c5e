"""OpenAI and every server that speaks its Chat Completions API (vLLM, Ollama, llama.cpp)."""

from collections.abc import Iterator, Sequence
from typing import Any

import openai

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
    retry_after_seconds,
    status_error,
)


class OpenAIProvider(Provider):
    name = "openai"

    def __init__(
        self, *, api_key: str, base_url: str | None = None, timeout: float = 30.0
    ) -> None:
        # Retries are ours (with fallback and a circuit breaker), not the SDK's.
        self._client = openai.OpenAI(
            api_key=api_key or "unused",
            base_url=base_url or None,
            timeout=timeout,
            max_retries=0,
        )

    def complete(self, request: CompletionRequest) -> Completion:
        try:
            response = self._client.chat.completions.create(**_arguments(request))
        except (openai.OpenAIError, *TRANSPORT_ERRORS) as exc:
            raise provider_error(exc) from exc

        choice = response.choices[0] if response.choices else None
        return Completion(
            text=(choice.message.content or "") if choice else "",
            model=request.model,
            usage=_usage(response.usage),
            finish_reason=(choice.finish_reason or "") if choice else "",
            request_id=response._request_id or response.id or "",
        )

    def stream(self, request: CompletionRequest) -> CompletionStream:
        try:
            chunks = self._client.chat.completions.create(
                **_arguments(request),
                stream=True,
                stream_options={"include_usage": True},
            )
        except (openai.OpenAIError, *TRANSPORT_ERRORS) as exc:
            raise provider_error(exc) from exc
        return _OpenAIStream(chunks, request.model, request.messages)


class OpenAICompatibleProvider(OpenAIProvider):
    """A self-hosted server at its own base URL; the key may be empty."""

    name = "openai_compatible"


class _OpenAIStream(CompletionStream):
    def __init__(self, chunks: Any, model: str, prompt: Sequence[ChatMessage]) -> None:
        super().__init__(model, prompt)
        self._chunks = chunks
        self.completion.request_id = chunks.response.headers.get("x-request-id") or ""

    def _deltas(self) -> Iterator[str]:
        try:
            for chunk in self._chunks:
                self.completion.request_id = self.completion.request_id or chunk.id
                # The usage chunk may also carry a last choice: read both.
                if chunk.usage is not None:
                    self._set_usage(_usage(chunk.usage))
                for choice in chunk.choices:
                    if choice.finish_reason:
                        self.completion.finish_reason = choice.finish_reason
                    if choice.delta and choice.delta.content:
                        yield choice.delta.content
        except (openai.OpenAIError, *TRANSPORT_ERRORS) as exc:
            raise provider_error(exc) from exc

    def close(self) -> None:
        self._chunks.close()


def _arguments(request: CompletionRequest) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "model": request.model,
        "messages": [
            {"role": message.role, "content": message.content}
            for message in request.messages
        ],
        "max_tokens": request.max_tokens,
    }
    if request.temperature is not None:
        arguments["temperature"] = request.temperature
    return arguments


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage(estimated=True)
    details = getattr(usage, "prompt_tokens_details", None)
    # OpenAI counts cached tokens inside prompt_tokens already.
    return Usage(
        input_tokens=usage.prompt_tokens or 0,
        output_tokens=usage.completion_tokens or 0,
        cached_tokens=(getattr(details, "cached_tokens", 0) or 0) if details else 0,
    )


def provider_error(exc: Exception) -> ProviderError:
    if isinstance(exc, (openai.APITimeoutError, *TIMEOUT_ERRORS)):
        return ProviderError(ErrorKind.TIMEOUT, "The provider did not answer in time.")
    if isinstance(exc, (openai.APIConnectionError, *TRANSPORT_ERRORS)):
        return ProviderError(ErrorKind.CONNECTION, "The provider could not be reached.")
    if isinstance(exc, openai.APIStatusError):
        retry_after = retry_after_seconds(exc.response.headers.get("retry-after"))
        return status_error(exc.status_code, retry_after, exc.message)
    # An error event inside a stream carries no HTTP status.
    return ProviderError(ErrorKind.SERVER, "The provider's stream failed.")
