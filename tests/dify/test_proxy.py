"""The Dify proxy against a local server speaking Dify's service API."""

import json
import time
from decimal import Decimal

from audit.models import AuditEntry
from dify.models import DifyConnection, DifyObject
from llm.models import UsageRecord
from tests.conftest import api
from tests.dify.conftest import DIFY_KEY, connect
from tests.fakes.dify import Fail, Reply, Stall, StreamError


def chat(client, tenant, **body):  # type: ignore[no-untyped-def]
    return client.post(
        api(tenant, "dify/chat-messages"), {"query": "Hi", **body}, format="json"
    )


def events_of(response):  # type: ignore[no-untyped-def]
    """Each chunk the platform sent, and the JSON of its data line (None for pings)."""
    chunks = [bytes(chunk) for chunk in response.streaming_content]
    parsed = []
    for chunk in chunks:
        data = [line[5:] for line in chunk.split(b"\n") if line.startswith(b"data:")]
        parsed.append(json.loads(data[0]) if data else None)
    return chunks, parsed


# Settings


def test_admin_connects_an_app_and_never_sees_the_key_again(
    hr, dify, client_for, in_schema
):
    # when
    described = connect(hr, dify.base_url, app_mode="advanced-chat", read_timeout=30)

    # then
    assert described["connected"] is True
    assert described["api_key"] == "…" + DIFY_KEY[-4:]
    assert described["app_mode"] == "advanced-chat"
    reread = client_for(hr, "hr_admin").get(api(hr, "settings/dify")).json()
    assert DIFY_KEY not in json.dumps(reread)
    with in_schema(hr):
        row = DifyConnection.objects.get()
        assert DIFY_KEY not in row.api_key_encrypted
        assert row.api_key == DIFY_KEY
        entry = AuditEntry.objects.filter(action="settings.dify.update").last()
    assert DIFY_KEY not in json.dumps(entry.details)


def test_a_member_cannot_change_the_connection(hr, dify, client_for):
    # when
    response = client_for(hr, "hr_member").put(
        api(hr, "settings/dify"),
        {"base_url": dify.base_url, "api_key": "app-x"},
        format="json",
    )

    # then
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_a_bad_address_is_refused_with_a_clear_error(hr, client_for):
    # when
    response = client_for(hr, "hr_admin").put(
        api(hr, "settings/dify"),
        {"base_url": "ftp://dify", "api_key": "k"},
        format="json",
    )

    # then
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_chat_without_a_connected_app_says_so(hr, client_for):
    # when
    response = chat(client_for(hr, "hr_member"), hr)

    # then
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "dify_not_connected"


# Blocking chat


def test_blocking_answer_passes_through_and_is_metered(
    hr, dify, connected, client_for, in_schema
):
    # given
    connected(hr)
    dify.script(Reply(text="Leave is 25 days.", prompt_tokens=40, total_price="0.0012"))

    # when
    response = chat(client_for(hr, "hr_member"), hr, user="someone-else")

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["answer"] == "Leave is 25 days."
    sent = next(dify.chats())
    assert sent.body["user"].startswith(f"tenant-{hr.id}-user-")
    assert sent.headers["authorization"] == f"Bearer {DIFY_KEY}"
    with in_schema(hr):
        usage = UsageRecord.objects.get(provider="dify")
        entry = AuditEntry.objects.filter(action="dify.chat-messages").last()
        owned = set(DifyObject.objects.values_list("kind", "dify_id"))
    assert (usage.model, usage.input_tokens, usage.output_tokens) == ("chat", 40, 4)
    assert usage.cost == Decimal("0.0012")
    assert entry.details["cost_usd"] == "0.0012"
    assert entry.details["conversation_id"] == body["conversation_id"]
    assert owned == {
        ("conversation", body["conversation_id"]),
        ("task", body["task_id"]),
        ("message", body["message_id"]),
    }


def test_difys_error_body_and_status_pass_through(
    hr, dify, connected, client_for, in_schema
):
    # given
    connected(hr)
    dify.script(Fail(400, "provider_quota_exceeded", "Your quota is used up."))

    # when
    response = chat(client_for(hr, "hr_member"), hr)

    # then
    assert response.status_code == 400
    assert response.json() == {
        "code": "provider_quota_exceeded",
        "message": "Your quota is used up.",
        "status": 400,
    }
    with in_schema(hr):
        entry = AuditEntry.objects.filter(action="dify.chat-messages").last()
    assert entry.outcome == "error"


def test_unreachable_dify_is_a_502(hr, client_for):
    # given: nothing listens on the port
    connect(hr, "http://127.0.0.1:9/v1")

    # when
    response = chat(client_for(hr, "hr_member"), hr)

    # then
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "dify_unreachable"


def test_a_slow_answer_is_a_504(hr, dify, connected, client_for):
    # given
    connected(hr, read_timeout=1)
    dify.script(Reply(delay=3))

    # when
    response = chat(client_for(hr, "hr_member"), hr)

    # then
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "dify_timeout"


def test_bad_input_gets_a_json_error(hr, dify, connected, client_for):
    # given
    connected(hr)

    # when
    response = client_for(hr, "hr_member").post(
        api(hr, "dify/chat-messages"), {"inputs": []}, format="json"
    )

    # then
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert list(dify.chats()) == []


# Streaming


def test_stream_is_relayed_event_by_event_with_pings(
    hr, dify, connected, client_for, in_schema
):
    # given
    connected(hr)
    dify.script(Reply(text="One two three", pings=1, total_price="0.0003"))

    # when
    response = chat(client_for(hr, "hr_member"), hr, response_mode="streaming")
    chunks, events = events_of(response)

    # then
    assert response["Content-Type"] == "text/event-stream"
    assert chunks[0] == b"event: ping\n\n"
    kinds = [event and event["event"] for event in events]
    assert kinds == [None, "message", "message", "message", "message_end"]
    assert (
        "".join(e["answer"] for e in events if e and e["event"] == "message")
        == "One two three"
    )
    with in_schema(hr):
        usage = UsageRecord.objects.get(provider="dify")
        entry = AuditEntry.objects.filter(action="dify.chat-messages").last()
        tasks = list(
            DifyObject.objects.filter(kind="task").values_list("dify_id", flat=True)
        )
    assert usage.output_tokens == 3 and usage.cost == Decimal("0.0003")
    assert entry.details["streamed"] is True
    assert tasks == [events[1]["task_id"]]


def test_stream_is_not_buffered(hr, dify, connected, client_for):
    # given: Dify sends one event, then nothing for two seconds
    connected(hr, read_timeout=10)
    dify.script(Stall(after_events=1, seconds=2))
    response = chat(client_for(hr, "hr_member"), hr, response_mode="streaming")
    stream = iter(response.streaming_content)

    # when
    started = time.monotonic()
    first = bytes(next(stream))
    waited = time.monotonic() - started

    # then
    assert first.startswith(b"data: ") and b'"message"' in first
    assert waited < 1.0
    list(stream)


def test_an_error_event_ends_the_stream_and_is_metered_as_failed(
    hr, dify, connected, client_for, in_schema
):
    # given
    connected(hr)
    dify.script(StreamError(after_events=2, code="completion_request_error"))

    # when
    response = chat(client_for(hr, "hr_member"), hr, response_mode="streaming")
    _, events = events_of(response)

    # then
    assert [e["event"] for e in events] == ["message", "message", "error"]
    assert events[-1]["code"] == "completion_request_error"
    with in_schema(hr):
        entry = AuditEntry.objects.filter(action="dify.chat-messages").last()
    assert entry.outcome == "error"


def test_a_stalled_stream_ends_with_a_timeout_event(hr, dify, connected, client_for):
    # given
    connected(hr, read_timeout=1)
    dify.script(Stall(after_events=1, seconds=5))

    # when
    response = chat(client_for(hr, "hr_member"), hr, response_mode="streaming")
    _, events = events_of(response)

    # then
    assert [e["event"] for e in events] == ["message", "error"]
    assert events[-1]["status"] == 504
    assert events[-1]["code"] == "dify_timeout"


def test_a_refusal_before_the_stream_is_a_plain_error(hr, dify, connected, client_for):
    # given
    connected(hr)
    dify.script(Fail(429, "too_many_requests", "Too many requests."))

    # when
    response = chat(client_for(hr, "hr_member"), hr, response_mode="streaming")

    # then
    assert response.status_code == 429
    assert response.json()["code"] == "too_many_requests"


# Conversations, messages, feedback, app


def test_a_user_manages_their_own_conversation(hr, dify, connected, client_for):
    # given
    connected(hr)
    client = client_for(hr, "hr_member")
    first = chat(client, hr).json()
    conversation_id = first["conversation_id"]

    # when
    follow_up = chat(client, hr, conversation_id=conversation_id)
    listed = client.get(api(hr, "dify/conversations"))
    history = client.get(api(hr, "dify/messages"), {"conversation_id": conversation_id})
    renamed = client.post(
        api(hr, f"dify/conversations/{conversation_id}/name"),
        {"name": "Leave"},
        format="json",
    )
    feedback = client.post(
        api(hr, f"dify/messages/{first['message_id']}/feedbacks"),
        {"rating": "like"},
        format="json",
    )
    deleted = client.delete(api(hr, f"dify/conversations/{conversation_id}"))

    # then
    assert follow_up.status_code == 200
    assert [c["id"] for c in listed.json()["data"]] == [conversation_id]
    assert len(history.json()["data"]) == 2
    assert renamed.json()["name"] == "Leave"
    assert feedback.json() == {"result": "success"}
    assert deleted.status_code == 204
    assert chat(client, hr, conversation_id=conversation_id).status_code == 404


def test_stop_reaches_dify_with_the_callers_user(hr, dify, connected, client_for):
    # given
    connected(hr)
    client = client_for(hr, "hr_member")
    task_id = chat(client, hr).json()["task_id"]

    # when
    response = client.post(
        api(hr, f"dify/chat-messages/{task_id}/stop"), {}, format="json"
    )

    # then
    assert response.json() == {"result": "success"}
    assert dify.app.stopped == [(task_id, next(dify.chats()).body["user"])]


def test_parameters_and_info(hr, dify, connected, client_for, in_schema):
    # given
    connected(hr)
    client = client_for(hr, "hr_member")

    # when
    parameters = client.get(api(hr, "dify/parameters"))
    info = client.get(api(hr, "dify/info"))

    # then
    assert parameters.json()["opening_statement"]
    assert info.json()["mode"] == "chat"
    with in_schema(hr):
        actions = list(AuditEntry.objects.values_list("action", flat=True))
    assert "dify.parameters" in actions and "dify.info" in actions


def test_an_auditor_cannot_chat(hr, dify, connected, client_for):
    # given
    connected(hr)

    # when
    response = chat(client_for(hr, "hr_auditor"), hr)

    # then
    assert response.status_code == 403
    assert list(dify.chats()) == []


def test_a_wrong_app_key_is_the_platforms_502_not_the_callers_401(hr, dify, client_for):
    # given: the admin typed a key Dify does not know
    connect(hr, dify.base_url, api_key="app-not-the-right-one")

    # when
    response = client_for(hr, "hr_member").get(api(hr, "dify/parameters"))

    # then
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "dify_auth_failed"
    assert "app-not-the-right-one" not in response.content.decode()


def test_a_client_leaving_a_stream_stops_difys_task_and_is_not_a_success(
    hr, dify, connected, client_for, in_schema
):
    # given
    connected(hr, read_timeout=10)
    dify.script(Stall(after_events=2, seconds=2))
    response = chat(client_for(hr, "hr_member"), hr, response_mode="streaming")
    stream = iter(response.streaming_content)
    first = json.loads(bytes(next(stream)).split(b"data: ", 1)[1])

    # when: the client goes away and the server closes the body's generator
    # (closed directly: the test client's close would also end the test's
    # database connection)
    response._iterator.close()

    # then
    assert [task for task, _ in dify.app.stopped] == [first["task_id"]]
    with in_schema(hr):
        entry = AuditEntry.objects.filter(action="dify.chat-messages").last()
    assert entry is not None and entry.outcome == "error"
    assert entry.details["status"] == 499
