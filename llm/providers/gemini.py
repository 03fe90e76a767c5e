"""Gemini through the official google-genai SDK (Gemini Developer API)."""

from collections.abc import Iterator, Sequence
from typing import Any

from google import genai
from google.genai import errors, types

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
    retry_after_seconds,
    sdk_items,
    status_error,
    system_text,
    unreadable_reply,
)

SDK_ERRORS = (errors.APIError, *TRANSPORT_ERRORS, *UNREADABLE_REPLY_ERRORS)

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
}


class GeminiProvider(Provider):
    name = "gemini"

    def __init__(
        self, *, api_key: str, base_url: str | None = None, timeout: float = 30.0
    ) -> None:
        options = types.HttpOptions(
            base_url=base_url or None,
            api_version="v1beta",
            timeout=int(timeout * 1000),
            # One attempt: retries are ours, with fallback and a circuit breaker.
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        self._client = genai.Client(api_key=api_key, http_options=options)

    def complete(self, request: CompletionRequest) -> Completion:
        arguments = _arguments(request)
        try:
            response = self._client.models.generate_content(**arguments)
        except SDK_ERRORS as exc:
            raise provider_error(exc) from exc

        completion = Completion(
            text=response.text or "",
            model=request.model,
            usage=_usage(response.usage_metadata),
            finish_reason=_finish_reason(response),
            request_id=response.response_id or "",
        )
        check_answered(completion)
        return completion

    def stream(self, request: CompletionRequest) -> CompletionStream:
        arguments = _arguments(request)
        try:
            chunks = self._client.models.generate_content_stream(**arguments)
        except SDK_ERRORS as exc:
            raise provider_error(exc) from exc
        return _GeminiStream(self._client, chunks, request.model, request.messages)


class _GeminiStream(CompletionStream):
    def __init__(
        self,
        client: genai.Client,
        chunks: Any,
        model: str,
        prompt: Sequence[ChatMessage],
    ) -> None:
        super().__init__(model, prompt)
        # The SDK closes its connections when the client is collected, even
        # while a stream it opened is still being read.
        self._client = client
        self._chunks = chunks

    def _deltas(self) -> Iterator[str]:
        # The SDK checks each chunk against its schema as it parses it.
        for chunk in sdk_items(self._chunks, SDK_ERRORS, provider_error):
            self.completion.request_id = chunk.response_id or self.completion.request_id
            if chunk.usage_metadata is not None:
                self._set_usage(_usage(chunk.usage_metadata))
            self.completion.finish_reason = (
                _finish_reason(chunk) or self.completion.finish_reason
            )
            if chunk.text:
                yield chunk.text

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


def _arguments(request: CompletionRequest) -> dict[str, Any]:
    config = types.GenerateContentConfig(
        system_instruction=system_text(request.messages) or None,
        max_output_tokens=request.max_tokens,
        temperature=request.temperature,
        # Plain text generation: no tool calls for the SDK to run on its own.
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    contents = [
        types.Content(
            role="model" if turn.role == "assistant" else "user",
            parts=[types.Part(text=turn.content)],
        )
        for turn in conversation_turns(request.messages)
    ]
    return {"model": request.model, "contents": contents, "config": config}


def _usage(metadata: Any) -> Usage:
    if metadata is None:
        return Usage(estimated=True)
    # promptTokenCount already includes cached tokens; thinking is billed as output.
    return Usage(
        input_tokens=metadata.prompt_token_count or 0,
        output_tokens=(metadata.candidates_token_count or 0)
        + (metadata.thoughts_token_count or 0),
        cached_tokens=metadata.cached_content_token_count or 0,
    )


def _finish_reason(response: Any) -> str:
    candidates = response.candidates or []
    if not candidates:
        # A prompt Gemini refuses to answer comes back without candidates.
        feedback = response.prompt_feedback
        return "content_filter" if feedback and feedback.block_reason else ""
    if candidates[0].finish_reason is None:
        return ""
    reason = str(
        getattr(candidates[0].finish_reason, "value", candidates[0].finish_reason)
    )
    return FINISH_REASONS.get(reason, reason.lower())


def provider_error(exc: Exception) -> ProviderError:
    if isinstance(exc, TIMEOUT_ERRORS):
        return ProviderError(ErrorKind.TIMEOUT, "The provider did not answer in time.")
    if isinstance(exc, TRANSPORT_ERRORS):
        return ProviderError(ErrorKind.CONNECTION, "The provider could not be reached.")
    if isinstance(exc, errors.APIError):
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None) or {}
        retry_after = retry_after_seconds(headers.get("retry-after"))
        return status_error(int(exc.code or 500), retry_after, exc.message or "")
    if isinstance(exc, UNREADABLE_REPLY_ERRORS):
        return unreadable_reply()
    return ProviderError(ErrorKind.SERVER, "The provider's stream failed.")
