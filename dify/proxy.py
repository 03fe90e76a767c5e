"""Relay calls to the tenant's Dify app: answers as they are, streams event by event."""

import functools
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.http import HttpResponse, StreamingHttpResponse
from django_tenants.utils import schema_context

from dify import actions
from dify.client import DifyUnavailable, Upstream, send
from dify.models import DifyConnection, DifyObjectKind
from portal.errors import ApiError, error_body
from portal.logging import with_log_context
from tenants.models import Tenant

logger = logging.getLogger(__name__)

EVENT_END = b"\n\n"


@dataclass
class Caller:
    """Who a relayed call is for, and where its records go."""

    tenant: Tenant
    user_id: int
    actor: str

    @property
    def dify_user(self) -> str:
        return actions.dify_user(self.tenant, self.user_id)


def unavailable(exc: DifyUnavailable) -> ApiError:
    if exc.timed_out:
        return ApiError(
            504, "dify_timeout", "The tenant's Dify app did not answer in time."
        )
    return ApiError(
        502, "dify_unreachable", "The tenant's Dify app could not be reached."
    )


def relay(
    caller: Caller,
    endpoint: str,
    method: str,
    path: str,
    *,
    params: dict[str, str] | None = None,
    body: Any = None,
    connection: DifyConnection | None = None,
) -> tuple["RelayedResponse", httpx.Response]:
    """Send one call to Dify and answer with its status and body, audited."""
    upstream = Upstream.of(connection or actions.require_connection())
    started = time.monotonic()
    try:
        answer = send(upstream, method, path, params=params, body=body)
    except DifyUnavailable as exc:
        error = unavailable(exc)
        actions.audit_call(
            endpoint, error.status_code, caller.user_id, caller.actor, _ms(started)
        )
        raise error from None

    latency_ms = _ms(started)
    response = passthrough(answer, caller.tenant)
    if endpoint != "chat-messages":
        response.after_send(
            actions.audit_call,
            endpoint,
            answer.status_code,
            caller.user_id,
            caller.actor,
            latency_ms,
        )
    return response, answer


class RelayedResponse(HttpResponse):
    """Dify's answer, with bookkeeping done once the server has sent it.

    Audit and usage rows are written after the client has the answer, so
    they add nothing to its latency; they are still written before the
    worker thread takes its next request. If the process dies in between,
    that one entry is lost: the price of the speed.
    """

    def __init__(self, content: bytes, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._tenant = tenant
        self._after: list[Callable[[], None]] = []

    def after_send(self, work: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        self._after.append(functools.partial(work, *args, **kwargs))

    def close(self) -> None:
        # The middleware has reset the connection to public by now.
        try:
            with schema_context(self._tenant.schema_name):
                for work in self._after:
                    work()
        except Exception:
            logger.exception(
                "dify.bookkeeping_failed", extra={"status": self.status_code}
            )
        finally:
            self._after.clear()
            super().close()


def passthrough(answer: httpx.Response, tenant: Tenant) -> RelayedResponse:
    if answer.status_code in (401, 403):
        # Dify refused the platform's app key, not the caller: passed on as
        # is, a client would take it for its own session ending.
        return RelayedResponse(
            json.dumps(
                error_body(
                    "dify_auth_failed",
                    "The tenant's Dify app refused the platform's app key; "
                    "an admin should check settings/dify.",
                )
            ).encode(),
            tenant,
            status=502,
            content_type="application/json",
        )
    content_type = answer.headers.get("content-type", "application/json")
    return RelayedResponse(
        answer.content,
        tenant,
        status=answer.status_code,
        content_type=content_type,
    )


def chat_blocking(
    caller: Caller, body: dict[str, Any], hold: ExitStack
) -> HttpResponse:
    connection = actions.require_connection()
    started = time.monotonic()
    response, answer = relay(
        caller,
        "chat-messages",
        "POST",
        "chat-messages",
        body=body,
        connection=connection,
    )

    reply = _json_object(answer.content) if answer.status_code == 200 else {}
    # Ownership first: the client may use these ids as soon as it has them.
    actions.record_owned(caller.user_id, actions.owned_ids_in(reply))
    response.after_send(
        actions.meter_chat,
        caller.tenant,
        mode=str(reply.get("mode") or connection.app_mode),
        metadata=reply.get("metadata"),
        status=answer.status_code,
        streamed=False,
        latency_ms=_ms(started),
        first_event_ms=None,
        actor_id=caller.user_id,
        actor=caller.actor,
        extra=_chat_ids(reply),
    )
    # The budget hold ends once the real cost is counted.
    response.after_send(hold.close)
    return response


def chat_streaming(
    caller: Caller, body: dict[str, Any], schema_name: str, hold: ExitStack
) -> HttpResponse | StreamingHttpResponse:
    connection = actions.require_connection()
    state = StreamState(mode=connection.app_mode)
    started = time.monotonic()
    try:
        answer = send(
            Upstream.of(connection), "POST", "chat-messages", body=body, stream=True
        )
    except DifyUnavailable as exc:
        error = unavailable(exc)
        _meter_stream(caller, state, error.status_code, started)
        raise error from None

    if answer.status_code != 200 or not _is_event_stream(answer):
        # Refusals before the stream starts come back as plain JSON errors.
        answer.read()
        answer.close()
        _meter_stream(caller, state, answer.status_code, started)
        hold.close()
        return passthrough(answer, caller.tenant)

    upstream = Upstream.of(connection)
    events = _relay_events(caller, answer, state, schema_name, started, hold, upstream)
    response = StreamingHttpResponse(
        with_log_context(events), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


@dataclass
class StreamState:
    mode: str = ""
    metadata: Any = None
    ids: dict[str, str] = field(default_factory=dict)
    first_event_ms: int | None = None
    failed_status: int | None = None
    owners_recorded: bool = False


def _relay_events(
    caller: Caller,
    answer: httpx.Response,
    state: "StreamState",
    schema_name: str,
    started: float,
    hold: ExitStack,
    upstream: Upstream,
) -> Iterator[bytes]:
    """Yield each event as soon as it is complete; meter the call at the end."""
    pending = b""
    try:
        for chunk in answer.iter_raw():
            pending += chunk
            while (end := pending.find(EVENT_END)) >= 0:
                event, pending = pending[: end + 2], pending[end + 2 :]
                _observe(caller, state, event, schema_name, started)
                yield event
        if pending.strip():
            yield pending
    except httpx.HTTPError as exc:
        failure = unavailable(DifyUnavailable(isinstance(exc, httpx.TimeoutException)))
        state.failed_status = failure.status_code
        yield _error_event(state, failure)
    except GeneratorExit:
        # The client left before the end: Dify would go on generating (and
        # billing) for nobody, and its usage would never arrive.
        state.failed_status = CLIENT_CLOSED_REQUEST
        _stop_task(caller, upstream, state)
        raise
    finally:
        answer.close()
        with schema_context(schema_name):
            _meter_stream(caller, state, state.failed_status or 200, started)
        hold.close()


# The status nginx uses for a request its client abandoned.
CLIENT_CLOSED_REQUEST = 499


def _stop_task(caller: Caller, upstream: Upstream, state: StreamState) -> None:
    task_id = state.ids.get("task_id")
    if not task_id:
        return
    try:
        send(
            upstream,
            "POST",
            f"chat-messages/{task_id}/stop",
            body={"user": actions.dify_user(caller.tenant, caller.user_id)},
        ).close()
    except DifyUnavailable:
        logger.warning("dify.stop_after_disconnect_failed", extra={"task_id": task_id})


def _observe(
    caller: Caller, state: StreamState, event: bytes, schema_name: str, started: float
) -> None:
    if state.first_event_ms is None:
        state.first_event_ms = _ms(started)
    data = _event_data(event)
    if data is None:
        return  # a ping, or a line that is not JSON

    kind = data.get("event")
    if not state.owners_recorded and kind != "error":
        owned = actions.owned_ids_in(data)
        if owned:
            # Before the client can see a task or conversation id, it is theirs.
            with schema_context(schema_name):
                actions.record_owned(caller.user_id, owned)
            state.ids = {key: data[key] for key in _ID_KEYS if key in data}
            state.owners_recorded = True
    if kind == "message_end":
        state.metadata = data.get("metadata")
    elif kind == "error":
        status = data.get("status")
        state.failed_status = status if isinstance(status, int) else 500
    if isinstance(data.get("mode"), str):
        state.mode = data["mode"]


_ID_KEYS = ("conversation_id", "task_id", "message_id")


def _meter_stream(
    caller: Caller, state: StreamState, status: int, started: float
) -> None:
    try:
        actions.meter_chat(
            caller.tenant,
            mode=state.mode,
            metadata=state.metadata,
            status=status,
            streamed=True,
            latency_ms=_ms(started),
            first_event_ms=state.first_event_ms,
            actor_id=caller.user_id,
            actor=caller.actor,
            extra=dict(state.ids),
        )
    except Exception:
        # The answer has reached the user; losing its usage row must not
        # break the stream, but it must be seen.
        logger.exception("dify.metering_failed", extra={"status": status})


def _event_data(event: bytes) -> dict[str, Any] | None:
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            return _json_object(line[5:])
    return None


def _error_event(state: StreamState, failure: ApiError) -> bytes:
    # Dify's own in-stream error shape, so clients handle both the same way.
    payload: dict[str, Any] = {"event": "error"}
    for key in ("conversation_id", "message_id"):
        if key in state.ids:
            payload[key] = state.ids[key]
    payload.update(
        status=failure.status_code,
        code=failure.error_code,
        message=str(failure.detail),
    )
    return b"data: " + json.dumps(payload).encode() + EVENT_END


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _chat_ids(reply: dict[str, Any]) -> dict[str, str]:
    return {key: reply[key] for key in _ID_KEYS if isinstance(reply.get(key), str)}


def _is_event_stream(answer: httpx.Response) -> bool:
    content_type: str = answer.headers.get("content-type", "")
    return content_type.startswith("text/event-stream")


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def require_owned(kind: DifyObjectKind, dify_id: str, caller: Caller) -> None:
    actions.require_owned(kind, dify_id, caller.user_id)
