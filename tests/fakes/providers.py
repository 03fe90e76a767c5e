"""One local HTTP server that answers like OpenAI, Anthropic and Gemini.

Tests and benchmarks point the official SDKs at it::

    with FakeProviders() as fake:
        client = openai.OpenAI(api_key="sk-test", base_url=f"{fake.base_url}/v1")
        fake.script("openai", Fail(429, retry_after=1), Reply(text="Hi there"))

Every generation request is recorded in ``fake.requests`` and consumes the next
scripted behaviour for its provider; with nothing scripted it gets ``Reply()``.
``GET /v1/models`` is recorded but consumes nothing.

Serve one by hand with ``python -m tests.fakes.providers --port 18100``.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Any, Literal
from urllib.parse import SplitResult, parse_qsl, urlsplit

from tests.fakes.serving import LocalHandler, LocalServer, Running, shutdown_socket

PROVIDERS = ("openai", "anthropic", "gemini")
OPENAI_MODELS = ("gpt-x", "gpt-x-mini")


# Behaviours a test can script, one consumed per request.


@dataclass(frozen=True)
class Reply:
    """Answer normally; fields left as None are derived from the request.

    ``input_tokens`` is the whole prompt, cached and cache-written tokens
    included; each wire format splits it the way its provider documents. By
    default it is the number of words in the request's messages (system
    included) plus the cached and cache-written tokens.
    ``finish`` uses OpenAI's words ("stop", "length", "tool_calls",
    "content_filter") and is translated for the other providers.
    """

    text: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    finish: str = "stop"


@dataclass(frozen=True)
class Fail:
    """Answer with the provider's own error body and this status."""

    status: int
    retry_after: float | None = None
    message: str | None = None


@dataclass(frozen=True)
class Stall:
    """Wait this long, then answer with the default reply."""

    seconds: float


@dataclass(frozen=True)
class CutStream:
    """Close the connection after this many content deltas.

    A non-streamed request gets half of its JSON body instead.
    """

    after_deltas: int


@dataclass(frozen=True)
class StreamError:
    """Send this many deltas, then the provider's in-stream error.

    A non-streamed request gets a plain error response with ``status``.
    """

    after_deltas: int
    status: int = 500
    message: str | None = None


@dataclass(frozen=True)
class Drop:
    """Close the connection without sending anything."""


@dataclass(frozen=True)
class Raw:
    """Answer 200 with these bytes, whatever the provider would have sent.

    With ``after_deltas`` a streamed request first gets that many real
    deltas and then the bytes, as if the stream went bad halfway; a
    non-streamed request gets the bytes alone.
    """

    body: bytes
    content_type: str = "application/json"
    after_deltas: int | None = None


Behaviour = Reply | Fail | Stall | CutStream | StreamError | Drop | Raw


@dataclass(frozen=True)
class RecordedRequest:
    """One request as it arrived; header names are lower-case."""

    provider: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    model: str | None


# What a request asked for, and what the fake answers.


@dataclass(frozen=True)
class Call:
    provider: str
    model: str
    stream: bool
    include_usage: bool
    prompt_words: int
    request_id: str
    response_id: str
    created: int


@dataclass(frozen=True)
class Answer:
    text: str
    deltas: tuple[str, ...]
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    finish: str

    @property
    def fresh_input_tokens(self) -> int:
        """Prompt tokens neither read from nor written to a cache."""
        return self.input_tokens - self.cached_tokens - self.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def answer_for(call: Call, reply: Reply) -> Answer:
    text = reply.text
    if text is None:
        text = f"Answer from {call.provider}:{call.model} citing [1]."
    # One delta per word, each keeping the whitespace before it.
    deltas = tuple(re.findall(r"\s*\S+|\s+$", text))
    cached = reply.cached_tokens + reply.cache_write_tokens
    input_tokens = reply.input_tokens
    if input_tokens is None:
        input_tokens = call.prompt_words + cached
    output_tokens = reply.output_tokens
    if output_tokens is None:
        output_tokens = len(deltas)

    return Answer(
        text=text,
        deltas=deltas,
        input_tokens=max(input_tokens, cached),
        output_tokens=output_tokens,
        cached_tokens=reply.cached_tokens,
        cache_write_tokens=reply.cache_write_tokens,
        finish=reply.finish,
    )


# Only the text a model would read is counted, not roles, types or settings.
TEXT_KEYS = frozenset(
    {"messages", "content", "text", "system", "contents", "parts", "systemInstruction"}
)


def count_prompt_words(value: Any) -> int:
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(count_prompt_words(item) for item in value)
    if isinstance(value, dict):
        return sum(count_prompt_words(v) for k, v in value.items() if k in TEXT_KEYS)
    return 0


@dataclass(frozen=True)
class Frame:
    """One SSE event; "delta" frames carry answer text, "tail" frames end it."""

    data: bytes
    kind: Literal["head", "delta", "tail"]


def sse(payload: Any, event: str | None = None) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


class BadRequest(Exception):
    pass


# Wire formats. Each one reads a request and writes replies, streams and
# errors the way its provider documents them.


class Wire:
    provider: str
    id_prefix: str
    request_id_header: str | None = None

    def read(self, match: re.Match[str], body: Any) -> Call:
        """Return what the request asks for; raise BadRequest if it can't tell."""
        if not isinstance(body, dict) or not body.get("model"):
            raise BadRequest("The request body needs a 'model'.")
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return self.call(body["model"], bool(body.get("stream")), include_usage, body)

    def call(self, model: str, stream: bool, include_usage: bool, body: Any) -> Call:
        return Call(
            provider=self.provider,
            model=model,
            stream=stream,
            include_usage=include_usage,
            prompt_words=count_prompt_words(body),
            request_id=new_id("req_"),
            response_id=new_id(self.id_prefix),
            created=int(time.time()),
        )

    def reply(self, call: Call, answer: Answer) -> dict[str, Any]:
        raise NotImplementedError

    def stream(self, call: Call, answer: Answer) -> Iterator[Frame]:
        raise NotImplementedError

    def error(
        self, status: int, message: str | None, retry_after: float | None = None
    ) -> dict[str, Any]:
        raise NotImplementedError

    def stream_error(self, status: int, message: str | None) -> bytes:
        return sse(self.error(status, message))


class OpenAIWire(Wire):
    provider = "openai"
    id_prefix = "chatcmpl-"
    request_id_header = "x-request-id"

    ERRORS: dict[int, tuple[str | None, str | None]] = {
        401: ("invalid_request_error", "invalid_api_key"),
        404: ("invalid_request_error", "model_not_found"),
        429: ("requests", "rate_limit_exceeded"),
    }

    def reply(self, call: Call, answer: Answer) -> dict[str, Any]:
        message = {"role": "assistant", "content": answer.text, "refusal": None}
        choice = {"index": 0, "message": message, "finish_reason": answer.finish}
        return {
            "id": call.response_id,
            "object": "chat.completion",
            "created": call.created,
            "model": call.model,
            "choices": [{**choice, "logprobs": None}],
            "usage": self.usage(answer),
        }

    def usage(self, answer: Answer) -> dict[str, Any]:
        # OpenAI counts cached tokens inside prompt_tokens.
        return {
            "prompt_tokens": answer.input_tokens,
            "completion_tokens": answer.output_tokens,
            "total_tokens": answer.total_tokens,
            "prompt_tokens_details": {"cached_tokens": answer.cached_tokens},
        }

    def stream(self, call: Call, answer: Answer) -> Iterator[Frame]:
        first = {"role": "assistant", "content": ""}
        yield Frame(self.chunk(call, [self.choice(first)]), "head")
        for delta in answer.deltas:
            yield Frame(self.chunk(call, [self.choice({"content": delta})]), "delta")
        yield Frame(self.chunk(call, [self.choice({}, answer.finish)]), "tail")
        if call.include_usage:
            yield Frame(self.chunk(call, [], self.usage(answer)), "tail")
        yield Frame(sse("[DONE]"), "tail")

    def choice(
        self, delta: dict[str, Any], finish: str | None = None
    ) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    def chunk(
        self, call: Call, choices: list[Any], usage: dict[str, Any] | None = None
    ) -> bytes:
        chunk = {
            "id": call.response_id,
            "object": "chat.completion.chunk",
            "created": call.created,
            "model": call.model,
            "choices": choices,
        }
        if call.include_usage:
            chunk["usage"] = usage
        return sse(chunk)

    def models(self) -> dict[str, Any]:
        data = [
            {"id": model, "object": "model", "created": 0, "owned_by": "fake"}
            for model in OPENAI_MODELS
        ]
        return {"object": "list", "data": data}

    def error(
        self, status: int, message: str | None, retry_after: float | None = None
    ) -> dict[str, Any]:
        kind, code = self.ERRORS.get(status, (None, None))
        if kind is None:
            kind = "server_error" if status >= 500 else "invalid_request_error"
        message = message or f"Fake OpenAI error (HTTP {status})."
        return {
            "error": {"message": message, "type": kind, "param": None, "code": code}
        }


class AnthropicWire(Wire):
    provider = "anthropic"
    id_prefix = "msg_"
    request_id_header = "request-id"

    STOP_REASONS = {
        "stop": "end_turn",
        "length": "max_tokens",
        "tool_calls": "tool_use",
        "content_filter": "refusal",
    }
    ERRORS = {
        400: "invalid_request_error",
        401: "authentication_error",
        402: "billing_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        500: "api_error",
        504: "timeout_error",
        529: "overloaded_error",
    }

    def reply(self, call: Call, answer: Answer) -> dict[str, Any]:
        return {
            **self.message(call, answer),
            "content": [{"type": "text", "text": answer.text}],
            "stop_reason": self.STOP_REASONS.get(answer.finish, answer.finish),
            "usage": self.usage(answer, answer.output_tokens),
        }

    def message(self, call: Call, answer: Answer) -> dict[str, Any]:
        return {
            "id": call.response_id,
            "type": "message",
            "role": "assistant",
            "model": call.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": self.usage(answer, min(1, answer.output_tokens)),
        }

    def usage(self, answer: Answer, output_tokens: int) -> dict[str, Any]:
        # Anthropic's input_tokens leaves out cache reads and writes.
        return {
            "input_tokens": answer.fresh_input_tokens,
            "output_tokens": output_tokens,
            "cache_read_input_tokens": answer.cached_tokens,
            "cache_creation_input_tokens": answer.cache_write_tokens,
        }

    def stream(self, call: Call, answer: Answer) -> Iterator[Frame]:
        start = {"type": "message_start", "message": self.message(call, answer)}
        yield Frame(sse(start, "message_start"), "head")
        block = {"type": "text", "text": ""}
        block_start = {
            "type": "content_block_start",
            "index": 0,
            "content_block": block,
        }
        yield Frame(sse(block_start, "content_block_start"), "head")
        yield Frame(sse({"type": "ping"}, "ping"), "head")
        for delta in answer.deltas:
            yield Frame(self.text_delta(delta), "delta")
        yield from self.stream_end(answer)

    def text_delta(self, text: str) -> bytes:
        delta = {"type": "text_delta", "text": text}
        event = {"type": "content_block_delta", "index": 0, "delta": delta}
        return sse(event, "content_block_delta")

    def stream_end(self, answer: Answer) -> Iterator[Frame]:
        block_stop = {"type": "content_block_stop", "index": 0}
        yield Frame(sse(block_stop, "content_block_stop"), "tail")
        stop_reason = self.STOP_REASONS.get(answer.finish, answer.finish)
        message_delta = {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": answer.output_tokens},
        }
        yield Frame(sse(message_delta, "message_delta"), "tail")
        yield Frame(sse({"type": "message_stop"}, "message_stop"), "tail")

    def error(
        self, status: int, message: str | None, retry_after: float | None = None
    ) -> dict[str, Any]:
        default = "api_error" if status >= 500 else "invalid_request_error"
        kind = self.ERRORS.get(status, default)
        message = message or f"Fake Anthropic error (HTTP {status})."
        return {"type": "error", "error": {"type": kind, "message": message}}

    def stream_error(self, status: int, message: str | None) -> bytes:
        return sse(self.error(status, message), "error")


class GeminiWire(Wire):
    provider = "gemini"
    id_prefix = ""

    FINISH_REASONS = {
        "stop": "STOP",
        "length": "MAX_TOKENS",
        "tool_calls": "STOP",
        "content_filter": "SAFETY",
    }
    STATUSES = {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        429: "RESOURCE_EXHAUSTED",
        500: "INTERNAL",
        503: "UNAVAILABLE",
        504: "DEADLINE_EXCEEDED",
    }

    def read(self, match: re.Match[str], body: Any) -> Call:
        # The model and the streaming choice live in the URL, not the body.
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.")
        stream = match["method"] == "streamGenerateContent"
        return self.call(match["model"], stream, stream, body)

    def reply(self, call: Call, answer: Answer) -> dict[str, Any]:
        return self.response(call, answer.text, answer, final=True)

    def stream(self, call: Call, answer: Answer) -> Iterator[Frame]:
        # The last text chunk carries the finish reason and the usage.
        deltas = answer.deltas or ("",)
        for number, delta in enumerate(deltas, start=1):
            final = number == len(deltas)
            yield Frame(sse(self.response(call, delta, answer, final)), "delta")

    def response(
        self, call: Call, text: str, answer: Answer, final: bool
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {
            "content": {"parts": [{"text": text}], "role": "model"},
            "index": 0,
        }
        response: dict[str, Any] = {
            "candidates": [candidate],
            "modelVersion": call.model,
            "responseId": call.response_id,
        }
        if final:
            finish = self.FINISH_REASONS.get(answer.finish, answer.finish)
            candidate["finishReason"] = finish
            response["usageMetadata"] = self.usage(answer)
        return response

    def usage(self, answer: Answer) -> dict[str, Any]:
        # Gemini counts cached tokens inside promptTokenCount.
        return {
            "promptTokenCount": answer.input_tokens,
            "candidatesTokenCount": answer.output_tokens,
            "cachedContentTokenCount": answer.cached_tokens,
            "thoughtsTokenCount": 0,
            "totalTokenCount": answer.total_tokens,
        }

    def error(
        self, status: int, message: str | None, retry_after: float | None = None
    ) -> dict[str, Any]:
        default = "INTERNAL" if status >= 500 else "FAILED_PRECONDITION"
        error: dict[str, Any] = {
            "code": status,
            "message": message or f"Fake Gemini error (HTTP {status}).",
            "status": self.STATUSES.get(status, default),
        }
        if retry_after is not None:
            retry_info = "type.googleapis.com/google.rpc.RetryInfo"
            error["details"] = [{"@type": retry_info, "retryDelay": f"{retry_after}s"}]
        return {"error": error}


OPENAI = OpenAIWire()
ROUTES = [
    (re.compile(r"/v1/chat/completions"), OPENAI),
    (re.compile(r"/v1/messages"), AnthropicWire()),
    (
        re.compile(
            r"/v1beta/models/(?P<model>[^/:]+):"
            r"(?P<method>generateContent|streamGenerateContent)"
        ),
        GeminiWire(),
    ),
]


def route(path: str) -> tuple[Wire, re.Match[str]] | None:
    for pattern, wire in ROUTES:
        if match := pattern.fullmatch(path):
            return wire, match
    return None


# HTTP plumbing.


class _Handler(LocalHandler):
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.read_body()
        if url.path != "/v1/models":
            self.send_not_found()
            return

        self.server.fake._record("openai", "GET", url, self.headers, None, None)
        self.send_json(200, OPENAI.models())

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        raw = self.read_body()
        found = route(url.path)
        if found is None:
            self.send_not_found()
            return

        wire, match = found
        try:
            body = json.loads(raw or b"null")
            call = wire.read(match, body)
        except (ValueError, BadRequest) as exc:
            self.send_json(400, wire.error(400, str(exc)))
            return

        fake = self.server.fake
        fake._record(wire.provider, "POST", url, self.headers, body, call.model)
        try:
            self.perform(wire, call, fake._next_behaviour(wire.provider))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def perform(self, wire: Wire, call: Call, behaviour: Behaviour) -> None:
        if isinstance(behaviour, Stall):
            behaviour = self.stall(behaviour)
        if isinstance(behaviour, Drop):
            self.drop()
        elif isinstance(behaviour, Fail):
            status, message = behaviour.status, behaviour.message
            self.send_error_body(wire, call, status, message, behaviour.retry_after)
        elif isinstance(behaviour, StreamError) and not call.stream:
            self.send_error_body(wire, call, behaviour.status, behaviour.message)
        elif isinstance(behaviour, Raw):
            self.send_raw(wire, call, behaviour)
        else:
            self.send_answer(wire, call, behaviour)

    def stall(self, stall: Stall) -> Behaviour:
        # stop() ends the wait early so a stalled request never delays teardown.
        stopping = self.server.fake._stopping.wait(stall.seconds)
        return Drop() if stopping else Reply()

    def send_answer(
        self, wire: Wire, call: Call, behaviour: Reply | CutStream | StreamError
    ) -> None:
        if isinstance(behaviour, Reply):
            reply, cut = behaviour, None
        else:
            reply, cut = Reply(), behaviour
        answer = answer_for(call, reply)
        if call.stream:
            self.send_stream(wire, call, answer, cut)
        else:
            self.send_reply(wire, call, answer, cut)

    def send_reply(
        self,
        wire: Wire,
        call: Call,
        answer: Answer,
        cut: CutStream | StreamError | None,
    ) -> None:
        data = json.dumps(wire.reply(call, answer)).encode()
        self.send_head(200, "application/json", wire, call, length=len(data))
        if cut is None:
            self.wfile.write(data)
            return

        self.wfile.write(data[: len(data) // 2])
        self.drop()

    def send_stream(
        self,
        wire: Wire,
        call: Call,
        answer: Answer,
        cut: CutStream | StreamError | None,
    ) -> None:
        self.send_head(200, "text/event-stream; charset=utf-8", wire, call)
        limit = None if cut is None else cut.after_deltas
        sent = 0
        for frame in wire.stream(call, answer):
            if limit is not None and (frame.kind == "tail" or sent == limit):
                break
            self.write_chunk(frame.data)
            sent += frame.kind == "delta"

        if isinstance(cut, CutStream):
            self.drop()
            return
        if isinstance(cut, StreamError):
            self.write_chunk(wire.stream_error(cut.status, cut.message))
        self.wfile.write(b"0\r\n\r\n")

    def send_raw(self, wire: Wire, call: Call, raw: Raw) -> None:
        if raw.after_deltas is None or not call.stream:
            self.send_head(200, raw.content_type, wire, call, length=len(raw.body))
            self.wfile.write(raw.body)
            return

        self.send_head(200, raw.content_type, wire, call)
        frames = wire.stream(call, answer_for(call, Reply()))
        deltas = (frame for frame in frames if frame.kind != "tail")
        sent = 0
        for frame in deltas:
            if sent == raw.after_deltas:
                break
            self.write_chunk(frame.data)
            sent += frame.kind == "delta"
        self.write_chunk(raw.body)
        self.wfile.write(b"0\r\n\r\n")

    def send_error_body(
        self,
        wire: Wire,
        call: Call,
        status: int,
        message: str | None,
        retry_after: float | None = None,
    ) -> None:
        extra = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
        data = json.dumps(wire.error(status, message, retry_after)).encode()
        self.send_head(status, "application/json", wire, call, len(data), extra)
        self.wfile.write(data)

    def send_head(
        self,
        status: int,
        content_type: str,
        wire: Wire,
        call: Call,
        length: int | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        if length is None:
            self.send_header("cache-control", "no-cache")
            self.send_header("transfer-encoding", "chunked")
        else:
            self.send_header("content-length", str(length))
        if wire.request_id_header:
            self.send_header(wire.request_id_header, call.request_id)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def send_not_found(self) -> None:
        message = f"The fake serves no {self.command} {urlsplit(self.path).path}."
        self.send_json(404, {"error": {"code": 404, "message": message}})

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def drop(self) -> None:
        self.close_connection = True
        shutdown_socket(self.connection)


# The public entry point.


class FakeProviders:
    """Fake OpenAI, Anthropic and Gemini APIs on one local port."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self._scripts: dict[str, deque[Behaviour]] = {p: deque() for p in PROVIDERS}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._running: Running | None = None

    def __enter__(self) -> FakeProviders:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._running is None:
            raise RuntimeError("FakeProviders is not running; call start() first.")
        return self._running.url

    def start(self) -> FakeProviders:
        if self._running is not None:
            return self

        self._stopping.clear()
        server = LocalServer((self.host, self.port), _Handler, self)
        self._running = Running(server, "fake-providers")
        return self

    def stop(self) -> None:
        if self._running is None:
            return

        self._stopping.set()
        self._running.stop()
        self._running = None

    def script(self, provider: str, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next requests to this provider, in order."""
        if provider not in PROVIDERS:
            raise ValueError(f"Unknown provider {provider!r}; use one of {PROVIDERS}.")

        with self._lock:
            self._scripts[provider].extend(behaviours)

    def reset(self) -> None:
        """Forget recorded requests and any behaviours not yet used."""
        with self._lock:
            self.requests.clear()
            for queue in self._scripts.values():
                queue.clear()

    def _record(
        self,
        provider: str,
        method: str,
        url: SplitResult,
        headers: Message,
        body: Any,
        model: str | None,
    ) -> None:
        request = RecordedRequest(
            provider=provider,
            method=method,
            path=url.path,
            query=dict(parse_qsl(url.query)),
            headers={name.lower(): value for name, value in headers.items()},
            body=body,
            model=model,
        )
        with self._lock:
            self.requests.append(request)

    def _next_behaviour(self, provider: str) -> Behaviour:
        with self._lock:
            queue = self._scripts[provider]
            return queue.popleft() if queue else Reply()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)

    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    with FakeProviders(port=args.port, host=args.host) as fake:
        print(fake.base_url, flush=True)
        done.wait()


if __name__ == "__main__":
    main()
