"""A local HTTP server that answers like a Dify chat app's service API (`/v1`).

Tests and benchmarks point the platform (or a client, directly) at it::

    with FakeDify(api_key="app-test") as dify:
        dify.script(Reply(text="Hello there"), Fail(400, "invalid_param"))

Each `POST /v1/chat-messages` consumes the next scripted behaviour; with
nothing scripted it gets ``Reply()``. Conversations, messages and tasks are
kept per Dify `user`, as Dify does: another user's id is "not found".
Every request is recorded in ``dify.requests``.

Serve one by hand with ``python -m tests.fakes.dify --port 18200``.
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
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.serving import LocalServer, RoutedHandler, Running

# Behaviours a test can script, one consumed per chat message.


@dataclass(frozen=True)
class Reply:
    """Answer normally; a stream sends one `message` event per word."""

    text: str = "Dify says hello to you."
    prompt_tokens: int = 12
    completion_tokens: int | None = None
    total_price: str = "0.0000420"
    pings: int = 0  # `event: ping` lines sent before the first message event
    delay: float = 0.0  # seconds before answering (before the first event)


@dataclass(frozen=True)
class Fail:
    """Answer with Dify's error body `{code, message, status}` and this status."""

    status: int
    code: str = "invalid_param"
    message: str = "Fake Dify refused the request."


@dataclass(frozen=True)
class StreamError:
    """Stream this many message events, then Dify's in-stream `error` event."""

    after_events: int = 1
    status: int = 400
    code: str = "completion_request_error"
    message: str = "The model call failed."


@dataclass(frozen=True)
class Stall:
    """Stream this many message events, then send nothing for `seconds`."""

    after_events: int = 1
    seconds: float = 30.0


Behaviour = Reply | Fail | StreamError | Stall


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Conversation:
    id: str
    user: str
    name: str
    inputs: dict[str, Any]
    created_at: int
    updated_at: int
    messages: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "inputs": self.inputs,
            "status": "normal",
            "introduction": "",
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class DifyError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "status": self.status}


def not_found(what: str) -> DifyError:
    return DifyError(404, "not_found", f"{what} Not Exists.")


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


PING = b"event: ping\n\n"


class AppState:
    """What one Dify app remembers: conversations and messages per user."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.conversations: dict[str, Conversation] = {}
        self.message_owner: dict[str, str] = {}
        self.feedback: dict[str, Any] = {}
        self.stopped: list[tuple[str, str]] = []

    def conversation(self, conversation_id: str, user: str) -> Conversation:
        found = self.conversations.get(conversation_id)
        if found is None or found.user != user:
            raise not_found("Conversation")
        return found

    def start_message(self, body: dict[str, Any]) -> tuple[Conversation, str]:
        user = body.get("user")
        if not isinstance(user, str) or not user:
            raise DifyError(400, "invalid_param", "Arg user must be provided.")
        if not isinstance(body.get("query"), str):
            raise DifyError(400, "invalid_param", "query is required")
        conversation_id = body.get("conversation_id") or ""
        now = int(time.time())
        if conversation_id:
            conversation = self.conversation(conversation_id, user)
        else:
            conversation = Conversation(
                id=str(uuid.uuid4()),
                user=user,
                name="New conversation",
                inputs=body.get("inputs") or {},
                created_at=now,
                updated_at=now,
            )
            self.conversations[conversation.id] = conversation
        message_id = str(uuid.uuid4())
        self.message_owner[message_id] = user
        return conversation, message_id


def usage(reply: Reply, answer_words: int) -> dict[str, Any]:
    completion = reply.completion_tokens
    if completion is None:
        completion = answer_words
    return {
        "prompt_tokens": reply.prompt_tokens,
        "prompt_unit_price": "0.001",
        "prompt_price_unit": "0.001",
        "prompt_price": "0.0000120",
        "completion_tokens": completion,
        "completion_unit_price": "0.002",
        "completion_price_unit": "0.001",
        "completion_price": "0.0000300",
        "total_tokens": reply.prompt_tokens + completion,
        "total_price": reply.total_price,
        "currency": "USD",
        "latency": 0.01,
    }


# HTTP plumbing.


ROUTES = [
    ("POST", re.compile(r"/v1/chat-messages"), "chat"),
    ("POST", re.compile(r"/v1/chat-messages/(?P<id>[^/]+)/stop"), "stop"),
    ("GET", re.compile(r"/v1/conversations"), "list_conversations"),
    ("DELETE", re.compile(r"/v1/conversations/(?P<id>[^/]+)"), "delete_conversation"),
    ("POST", re.compile(r"/v1/conversations/(?P<id>[^/]+)/name"), "rename"),
    ("GET", re.compile(r"/v1/messages"), "messages"),
    ("POST", re.compile(r"/v1/messages/(?P<id>[^/]+)/feedbacks"), "feedback"),
    ("GET", re.compile(r"/v1/parameters"), "parameters"),
    ("GET", re.compile(r"/v1/info"), "info"),
]


class _Handler(RoutedHandler):
    def dispatch(self) -> None:
        url = urlsplit(self.path)
        raw = self.read_body()
        query = dict(parse_qsl(url.query))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        fake = self.server.fake
        fake._record(self.command, url.path, query, self.headers, body)
        try:
            self.check_key()
            for method, pattern, name in ROUTES:
                if method == self.command and (match := pattern.fullmatch(url.path)):
                    getattr(self, name)(
                        match, query, body if isinstance(body, dict) else {}
                    )
                    return
            raise DifyError(404, "not_found", "The requested URL was not found.")
        except DifyError as exc:
            self.send_json(exc.status, exc.body())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def check_key(self) -> None:
        header = self.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            raise DifyError(
                401,
                "unauthorized",
                "Authorization header must be provided and start with 'Bearer'",
            )
        if header[7:] != self.server.fake.api_key:
            raise DifyError(401, "unauthorized", "Access token is invalid")

    # Endpoints.

    def chat(
        self, match: re.Match[str], query: dict[str, str], body: dict[str, Any]
    ) -> None:
        fake = self.server.fake
        with fake._lock:
            conversation, message_id = fake.app.start_message(body)
        behaviour = fake._next_behaviour()
        if isinstance(behaviour, Fail):
            raise DifyError(behaviour.status, behaviour.code, behaviour.message)
        task_id = str(uuid.uuid4())
        base = {
            "task_id": task_id,
            "id": message_id,
            "message_id": message_id,
            "conversation_id": conversation.id,
            "created_at": int(time.time()),
        }
        reply = behaviour if isinstance(behaviour, Reply) else Reply()
        if reply.delay and fake._stopping.wait(reply.delay):
            return
        words = re.findall(r"\s*\S+", reply.text)
        with fake._lock:
            conversation.messages.append(
                {"id": message_id, "query": body.get("query"), "answer": reply.text}
            )
        if body.get("response_mode") == "streaming":
            self.stream(behaviour, reply, base, words)
            return

        metadata = {"usage": usage(reply, len(words)), "retriever_resources": []}
        self.send_json(
            200,
            {
                "event": "message",
                **base,
                "mode": fake.app.mode,
                "answer": reply.text,
                "metadata": metadata,
            },
        )

    def stream(
        self, behaviour: Behaviour, reply: Reply, base: dict[str, Any], words: list[str]
    ) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for _ in range(reply.pings):
            self.write_chunk(PING)
        limit = None
        if isinstance(behaviour, StreamError | Stall):
            limit = behaviour.after_events
        for number, word in enumerate(words):
            if limit is not None and number == limit:
                break
            self.write_chunk(sse({"event": "message", **base, "answer": word}))

        stopping = self.server.fake._stopping
        if isinstance(behaviour, Stall) and stopping.wait(behaviour.seconds):
            return
        if isinstance(behaviour, StreamError):
            error = {
                "event": "error",
                "message_id": base["message_id"],
                "conversation_id": base["conversation_id"],
                "created_at": base["created_at"],
                "status": behaviour.status,
                "code": behaviour.code,
                "message": behaviour.message,
            }
            self.write_chunk(sse(error))
        else:
            metadata = {"usage": usage(reply, len(words)), "retriever_resources": []}
            end = {"event": "message_end", **base, "metadata": metadata, "files": []}
            self.write_chunk(sse(end))
        self.wfile.write(b"0\r\n\r\n")

    def stop(
        self, match: re.Match[str], query: dict[str, str], body: dict[str, Any]
    ) -> None:
        fake = self.server.fake
        with fake._lock:
            fake.app.stopped.append((match["id"], str(body.get("user", ""))))
        self.send_json(200, {"result": "success"})

    def list_conversations(
        self, match: re.Match[str], query: dict[str, str], body: dict[str, Any]
    ) -> None:
        user = query.get("user", "DEFAULT-USER")
        limit = int(query.get("limit") or 20)
        with self.server.fake._lock:
            mine = [
                c.describe()
                for c in self.server.fake.app.conversations.values()
                if c.user == user
            ]
        mine.sort(key=lambda c: c["updated_at"], reverse=True)
        self.send_json(
            200, {"limit": limit, "has_more": len(mine) > limit, "data": mine[:limit]}
        )

    def delete_conversation(
        self, match: re.Match[str], query: dict[str, str], body: dict[str, Any]
    ) -> None:
        app = self.server.fake.app
        with self.server.fake._lock:
            app.conversation(match["id"], str(body.get("user", "")))
            del app.conversations[match["id"]]
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def rename(
        self, match: re.Match[str], query: dict[str, str], body: dict[str, Any]
    ) -> None:
        with self.server.fake._lock:
            conversation = self.server.fake.app.conversation(
                match["id"], str(body.get("user", ""))
            )
            conversation.name = body.get("name") or "Auto-named conversation"
            conversation.updated_at = int(time.time())
            described = conversation.describe()
        self.send_json(200, described)

    def messages(
        self, match: re.Match[str], query: dict[str, str], body: dict[str, Any]
    ) -> None:
        with self.server.fake._lock:
            conversation = self.server.fake.app.conversation(
                query.get("conversation_id", ""), query.get("user", "")
            )
            data = [
                {**m, "conversation_id": conversation.id, "feedback": None}
                for m in conversation.messages
            ]
        self.send_json(200, {"limit": 20, "has_more": False, "data": data})

    def feedback(
        self, match: re.Match[str], query: dict[str, str], body: dict[str, Any]
    ) -> None:
        app = self.server.fake.app
        with self.server.fake._lock:
            if app.message_owner.get(match["id"]) != body.get("user"):
                raise not_found("Message")
            app.feedback[match["id"]] = body.get("rating")
        self.send_json(200, {"result": "success"})

    def parameters(
        self, match: re.Match[str], query: dict[str, str], body: dict[str, Any]
    ) -> None:
        self.send_json(
            200,
            {
                "opening_statement": "Ask me about your department.",
                "suggested_questions": [],
                "suggested_questions_after_answer": {"enabled": False},
                "speech_to_text": {"enabled": False},
                "retriever_resource": {"enabled": True},
                "annotation_reply": {"enabled": False},
                "user_input_form": [],
                "file_upload": {},
                "system_parameters": {"file_size_limit": 15},
            },
        )

    def info(
        self, match: re.Match[str], query: dict[str, str], body: dict[str, Any]
    ) -> None:
        app = self.server.fake.app
        self.send_json(
            200,
            {
                "name": "Fake Dify app",
                "description": "",
                "tags": [],
                "mode": app.mode,
                "author_name": "tests",
            },
        )

    # Writing.

    def send_json(
        self, status: int, payload: Any, headers: dict[str, str] | None = None
    ) -> None:
        if status == 401:
            headers = {**(headers or {}), "www-authenticate": 'Bearer realm="api"'}
        super().send_json(status, payload, headers)

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


class FakeDify:
    """A fake Dify chat app on one local port."""

    def __init__(
        self,
        api_key: str = "app-fake-key",
        mode: str = "chat",
        port: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        self.api_key = api_key
        self.mode = mode
        self.host = host
        self.port = port
        self.app = AppState(mode)
        self.requests: list[RecordedRequest] = []
        self._script: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._running: Running | None = None

    def __enter__(self) -> FakeDify:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The service API root, as a tenant admin would enter it."""
        if self._running is None:
            raise RuntimeError("FakeDify is not running; call start() first.")
        return f"{self._running.url}/v1"

    def start(self) -> FakeDify:
        if self._running is None:
            self._stopping.clear()
            server = LocalServer((self.host, self.port), _Handler, self)
            self._running = Running(server, "fake-dify")
        return self

    def stop(self) -> None:
        if self._running is None:
            return
        self._stopping.set()
        self._running.stop()
        self._running = None

    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next chat messages, in order."""
        with self._lock:
            self._script.extend(behaviours)

    def reset(self) -> None:
        """Forget requests, unused behaviours and every conversation."""
        with self._lock:
            self.requests.clear()
            self._script.clear()
            self.app = AppState(self.mode)

    def _record(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: Any
    ) -> None:
        request = RecordedRequest(
            method=method,
            path=path,
            query=query,
            headers={name.lower(): value for name, value in headers.items()},
            body=body,
        )
        with self._lock:
            self.requests.append(request)

    def _next_behaviour(self) -> Behaviour:
        with self._lock:
            return self._script.popleft() if self._script else Reply()

    def chats(self) -> Iterator[RecordedRequest]:
        return (r for r in self.requests if r.path == "/v1/chat-messages")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", default="app-fake-key")
    parser.add_argument(
        "--forget", action="store_true", help="keep no requests (for benchmarks)"
    )
    args = parser.parse_args(argv)

    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    with FakeDify(api_key=args.api_key, port=args.port, host=args.host) as fake:
        if args.forget:
            fake._record = lambda *a, **k: None  # type: ignore[method-assign]
        print(fake.base_url, flush=True)
        done.wait()


if __name__ == "__main__":
    main()
