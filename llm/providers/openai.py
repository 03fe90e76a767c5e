"""OpenAI and every server that speaks its Chat Completions API (vLLM, Ollama, llama.cpp)."""

from collections.abc import Iterator, Sequence
from typing import Any

import openai
from openai.types import CompletionUsage
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
)
from openai.types.chat.chat_completion import Choice
from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice
from openai.types.chat.chat_completion_chunk import ChoiceDelta

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
    count_field,
    retry_after_seconds,
    sdk_items,
    status_error,
    text_field,
    unreadable_reply,
)

SDK_ERRORS = (openai.OpenAIError, *TRANSPORT_ERRORS, *UNREADABLE_REPLY_ERRORS)


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
        arguments = _arguments(request)
        try:
            response = self._client.chat.completions.create(**arguments)
        except SDK_ERRORS as exc:
            raise provider_error(exc) from exc

        choice = _first_choice(response)
        completion = Completion(
            text=text_field(choice.message.content),
            model=request.model,
            usage=_usage(response.usage),
            finish_reason=text_field(choice.finish_reason),
            request_id=response._request_id or text_field(response.id),
        )
        check_answered(completion)
        return completion

    def stream(self, request: CompletionRequest) -> CompletionStream:
        arguments = _arguments(request)
        try:
            chunks = self._client.chat.completions.create(
                **arguments, stream=True, stream_options={"include_usage": True}
            )
        except SDK_ERRORS as exc:
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
        for chunk in sdk_items(self._chunks, SDK_ERRORS, provider_error):
            choices = _chunk_choices(chunk)
            if not self.completion.request_id:
                self.completion.request_id = text_field(chunk.id)
            # The usage chunk may also carry a last choice: read both.
            if isinstance(chunk.usage, CompletionUsage):
                self._set_usage(_usage(chunk.usage))
            for choice in choices:
                if finish_reason := text_field(choice.finish_reason):
                    self.completion.finish_reason = finish_reason
                delta = choice.delta
                if isinstance(delta, ChoiceDelta) and (
                    text := text_field(delta.content)
                ):
                    yield text

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


def _first_choice(response: object) -> Choice:
    """The reply's first choice; a reply without one is not a completion.

    The SDK builds its objects without checking them, so a server's `{}`, a
    list or an HTML page (returned as a string) arrive here as they are.
    """
    choices = response.choices if isinstance(response, ChatCompletion) else None
    if not isinstance(choices, list) or not choices:
        raise unreadable_reply()
    choice = choices[0]
    if not isinstance(choice, Choice):
        raise unreadable_reply()
    if not isinstance(choice.message, ChatCompletionMessage):
        raise unreadable_reply()
    return choice


def _chunk_choices(chunk: object) -> list[ChunkChoice]:
    choices = chunk.choices if isinstance(chunk, ChatCompletionChunk) else None
    if not isinstance(choices, list):
        raise unreadable_reply()
    return [choice for choice in choices if isinstance(choice, ChunkChoice)]


def _usage(usage: object) -> Usage:
    if not isinstance(usage, CompletionUsage):
        return Usage(estimated=True)
    details = getattr(usage, "prompt_tokens_details", None)
    # OpenAI counts cached tokens inside prompt_tokens already.
    return Usage(
        input_tokens=count_field(usage.prompt_tokens),
        output_tokens=count_field(usage.completion_tokens),
        cached_tokens=count_field(getattr(details, "cached_tokens", 0)),
    )


def provider_error(exc: Exception) -> ProviderError:
    if isinstance(exc, (openai.APITimeoutError, *TIMEOUT_ERRORS)):
        return ProviderError(ErrorKind.TIMEOUT, "The provider did not answer in time.")
    if isinstance(exc, (openai.APIConnectionError, *TRANSPORT_ERRORS)):
        return ProviderError(ErrorKind.CONNECTION, "The provider could not be reached.")
    if isinstance(exc, openai.APIStatusError):
        retry_after = retry_after_seconds(exc.response.headers.get("retry-after"))
        return status_error(exc.status_code, retry_after, exc.message)
    if isinstance(exc, UNREADABLE_REPLY_ERRORS):
        return unreadable_reply()
    # An error event inside a stream carries no HTTP status.
    return ProviderError(ErrorKind.SERVER, "The provider's stream failed.")
