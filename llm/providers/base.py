"""One call shape for every provider: messages in, text or text deltas out.

Each provider module translates this shape to its official SDK and its
errors to ProviderError, and normalises usage so that `input_tokens` always
counts every prompt token, cached ones included.
"""

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

import httpx
import httpx2

# The SDKs move between httpx and its successor httpx2; catch both.
TRANSPORT_ERRORS = (httpx.HTTPError, httpx2.HTTPError)
TIMEOUT_ERRORS = (httpx.TimeoutException, httpx2.TimeoutException)

# What the SDKs raise, instead of an error of their own, when a 200 reply is
# not what they expect: json.JSONDecodeError and pydantic's ValidationError
# (both ValueErrors), or AttributeError and TypeError from a parser that
# meets a list or a string where an object belongs. Caught only around the
# SDK's own call or read, so that a bug of ours is never taken for a broken
# provider.
UNREADABLE_REPLY_ERRORS = (ValueError, TypeError, AttributeError)

T = TypeVar("T")

# Anything shaped like a credential is cut out of provider messages we keep:
# key-ish prefixes, and any long run of letters and digits mixed (an
# "Incorrect API key provided: <key>" message names the key itself).
_CREDENTIAL = re.compile(
    r"(sk-|key[-_=: ]+|bearer )[A-Za-z0-9_\-*.]{4,}"
    r"|\b(?=[A-Za-z0-9_\-]*\d)(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{12,}\b",
    re.IGNORECASE,
)
PROVIDER_MESSAGE_CHARS = 200

# Used only when a provider reports no usage: about four characters a token.
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system", "user" or "assistant"
    content: str


@dataclass(frozen=True)
class CompletionRequest:
    messages: Sequence[ChatMessage]
    model: str
    max_tokens: int = 1024
    temperature: float | None = None


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    # True when the provider sent no usage and the numbers are our estimate.
    estimated: bool = False


@dataclass
class Completion:
    text: str
    model: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = ""
    request_id: str = ""


class ErrorKind(StrEnum):
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    SERVER = "server"
    CONNECTION = "connection"
    AUTH = "auth"
    CLIENT = "client"


RETRYABLE = frozenset(
    {ErrorKind.TIMEOUT, ErrorKind.RATE_LIMITED, ErrorKind.SERVER, ErrorKind.CONNECTION}
)


class ProviderError(Exception):
    """A provider call failed; `kind` decides whether to retry or fall back."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


class CompletionStream(ABC):
    """Text deltas as they arrive; `completion` is filled in as the stream goes.

    After the last delta it holds the provider's usage and finish reason.
    If iteration raises, it still holds the text and usage seen so far.
    """

    def __init__(self, model: str, prompt: Sequence[ChatMessage]) -> None:
        self.completion = Completion(text="", model=model)
        self._prompt = prompt
        self._usage_seen = False

    def __iter__(self) -> Iterator[str]:
        try:
            for delta in self._deltas():
                self.completion.text += delta
                yield delta
            check_answered(self.completion)
        finally:
            self._fill_missing_usage()

    @abstractmethod
    def _deltas(self) -> Iterator[str]:
        """Yield text deltas, calling `_set_usage` when usage arrives."""

    def _fill_missing_usage(self) -> None:
        # A stream cut short may have reported its input but not its output.
        estimate = estimate_usage(self._prompt, self.completion.text)
        usage = self.completion.usage
        if not self._usage_seen:
            self.completion.usage = estimate
        elif usage.output_tokens == 0 and self.completion.text:
            usage.output_tokens = estimate.output_tokens
            usage.estimated = True

    def _set_usage(self, usage: Usage) -> None:
        self.completion.usage = usage
        self._usage_seen = True

    @abstractmethod
    def close(self) -> None:
        """Release the connection of a stream abandoned early."""


class Provider(ABC):
    #: "openai", "anthropic", "gemini" or "openai_compatible".
    name: str

    @abstractmethod
    def complete(self, request: CompletionRequest) -> Completion: ...

    @abstractmethod
    def stream(self, request: CompletionRequest) -> CompletionStream:
        """Open the stream; errors before the first delta may surface here or on iteration."""


def estimate_usage(prompt: Sequence[ChatMessage], answer: str) -> Usage:
    return Usage(
        input_tokens=sum(estimate_tokens(message.content) for message in prompt),
        output_tokens=estimate_tokens(answer),
        estimated=True,
    )


def estimate_tokens(text: str) -> int:
    """Tokens a provider would count, erring high rather than low.

    About four characters of Latin text make a token; a character outside
    ASCII (Chinese, Japanese, accented text) is often a token on its own.
    """
    non_ascii = sum(1 for character in text if ord(character) > 127)
    return non_ascii + -(-(len(text) - non_ascii) // CHARS_PER_TOKEN)


def system_text(messages: Sequence[ChatMessage]) -> str:
    """Every system message, in order, as one instruction."""
    return "\n\n".join(m.content for m in messages if m.role == "system")


def conversation_turns(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """User and assistant turns with consecutive same-role turns merged.

    Claude and Gemini require turns to alternate; two user messages in a row
    become one.
    """
    turns: list[ChatMessage] = []
    for message in messages:
        if message.role == "system":
            continue
        if turns and turns[-1].role == message.role:
            merged = turns[-1].content + "\n\n" + message.content
            turns[-1] = ChatMessage(message.role, merged)
        else:
            turns.append(message)
    return turns


def check_answered(completion: Completion) -> None:
    """Raise unless the completion holds text or a finish reason.

    A model ends every answer with a reason, an empty one included; a reply
    with neither came from something else (a proxy's page, an empty object,
    a stream of nothing).
    """
    if not completion.text and not completion.finish_reason:
        raise unreadable_reply()


def unreadable_reply() -> ProviderError:
    return ProviderError(
        ErrorKind.SERVER, "The provider's reply could not be read as an answer."
    )


def sdk_items(
    items: Iterable[T],
    errors: tuple[type[Exception], ...],
    convert: Callable[[Exception], ProviderError],
) -> Iterator[T]:
    """Items an SDK stream parses, its `errors` turned into ProviderError.

    Only the SDK's reading of the next item is guarded, not the code that
    uses it.
    """
    iterator = iter(items)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except errors as exc:
            raise convert(exc) from exc
        yield item


def text_field(value: object) -> str:
    """A text field of a parsed reply; a server may put anything there."""
    return value if isinstance(value, str) else ""


def count_field(value: object) -> int:
    """A token count of a parsed reply; a server may put anything there."""
    return value if isinstance(value, int) and value > 0 else 0


def provider_message(message: str) -> str:
    """A provider's error text, short and without anything key-like."""
    return _CREDENTIAL.sub("[redacted]", message)[:PROVIDER_MESSAGE_CHARS]


def status_error(status: int, retry_after: float | None, message: str) -> ProviderError:
    """Classify an HTTP error status the same way for every provider."""
    if status == 429:
        kind = ErrorKind.RATE_LIMITED
    elif status >= 500:
        kind = ErrorKind.SERVER
    elif status in (401, 403):
        kind = ErrorKind.AUTH
    elif status == 408:
        kind = ErrorKind.TIMEOUT
    else:
        kind = ErrorKind.CLIENT
    text = f"The provider answered HTTP {status}"
    if kind == ErrorKind.CLIENT:
        text += f": {provider_message(message)}"
    return ProviderError(kind, text, status=status, retry_after=retry_after)


def retry_after_seconds(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None
