"""A provider that answers 200 with something other than a completion.

A proxy's HTML page, an empty object or a stream of unparseable lines is a
server failure: retried, then the next provider, then a clear 502, and in a
stream that already sent text, an `error` event with what was used metered.
"""

import json

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEntry
from llm.providers.base import ErrorKind, ProviderError
from tenants.api_keys import issue_api_key
from tests.chat.test_chat import ask, upload_samples
from tests.fakes.providers import Raw, Reply
from tests.llm.conftest import configure
from tests.llm.test_chat_with_model import sse_events
from tests.llm.test_providers import ADAPTERS, adapter, request

GARBAGE = {
    "html_page": Raw(b"<html><body>Welcome to nginx!</body></html>", "text/html"),
    "empty_object": Raw(b"{}"),
    "json_list": Raw(b"[1, 2, 3]"),
    "choices_not_a_list": Raw(b'{"choices": "oops", "usage": 5}'),
    "truncated_json": Raw(b'{"id": "x", "choices": [{"mess'),
    "malformed_sse": Raw(b"data: {not json}\n\ndata: [DONE]\n\n", "text/event-stream"),
}
# The line that breaks each provider's stream after two good deltas; Claude's
# SDK reads only events it knows by name.
BROKEN_SSE_LINE = {
    "openai": b"data: {broken json\n\n",
    "anthropic": b"event: content_block_delta\ndata: {broken json\n\n",
    "gemini": b"data: {broken json\n\n",
}
# Where a chat turns when its provider fails before any text.
FALLBACK = {"openai": "anthropic", "anthropic": "openai", "gemini": "openai"}
QUESTION = "How many days of annual leave do I get?"
ATTEMPTS_PER_PROVIDER = 3  # the first try and two retries


@pytest.fixture
def hr_knowledge(hr, client_for):  # type: ignore[no-untyped-def]
    return upload_samples(
        client_for(hr, "hr_admin"), hr, ["leave-and-holiday-policy.md"]
    )


def trail(tenant, in_schema, action):  # type: ignore[no-untyped-def]
    with in_schema(tenant):
        return list(
            AuditEntry.objects.filter(action=action)
            .order_by("id")
            .values("outcome", "details")
        )


def calls(fake, provider):  # type: ignore[no-untyped-def]
    return [r for r in fake.requests if r.provider == provider and r.method == "POST"]


def after_two_deltas(provider):  # type: ignore[no-untyped-def]
    return Raw(BROKEN_SSE_LINE[provider], "text/event-stream", after_deltas=2)


# The adapters.


@pytest.mark.parametrize("garbage", GARBAGE)
@pytest.mark.parametrize("name", ADAPTERS)
def test_a_whole_reply_that_is_not_a_completion_is_a_server_error(fake, name, garbage):
    # given
    fake.script(name, GARBAGE[garbage])

    # when
    with pytest.raises(ProviderError) as raised:
        adapter(fake, name).complete(request())

    # then
    assert raised.value.kind == ErrorKind.SERVER
    assert raised.value.retryable


@pytest.mark.parametrize("garbage", GARBAGE)
@pytest.mark.parametrize("name", ADAPTERS)
def test_a_stream_that_is_not_a_completion_fails_before_any_text(fake, name, garbage):
    # given
    fake.script(name, GARBAGE[garbage])
    received = []

    # when
    with pytest.raises(ProviderError) as raised:
        for delta in adapter(fake, name).stream(request()):
            received.append(delta)

    # then
    assert raised.value.kind == ErrorKind.SERVER
    assert received == []


@pytest.mark.parametrize("name", ADAPTERS)
def test_a_malformed_line_mid_stream_keeps_the_text_and_usage(fake, name):
    # given
    fake.script(name, after_two_deltas(name))
    stream = adapter(fake, name).stream(request())
    received = []

    # when
    with pytest.raises(ProviderError) as raised:
        for delta in stream:
            received.append(delta)

    # then
    assert raised.value.kind == ErrorKind.SERVER
    assert len(received) == 2
    assert stream.completion.text == "".join(received)
    assert stream.completion.usage.output_tokens > 0


@pytest.mark.parametrize("name", ADAPTERS)
def test_an_empty_answer_with_a_finish_reason_is_still_an_answer(fake, name):
    # given
    fake.script(name, Reply(text=""), Reply(text=""))
    provider = adapter(fake, name)

    # when
    whole = provider.complete(request())
    stream = provider.stream(request())
    text = "".join(stream)

    # then
    assert (whole.text, whole.finish_reason) == ("", "stop")
    assert (text, stream.completion.finish_reason) == ("", "stop")


def test_a_prompt_gemini_refuses_is_an_answer_not_garbage(fake):
    # given: Gemini sends no candidates, only the reason it blocked the prompt
    refusal = {"promptFeedback": {"blockReason": "SAFETY"}}
    fake.script("gemini", Raw(json.dumps(refusal).encode()))

    # when
    completion = adapter(fake, "gemini").complete(request())

    # then
    assert (completion.text, completion.finish_reason) == ("", "content_filter")


# Chat.


@pytest.mark.parametrize("garbage", GARBAGE)
def test_chat_falls_back_when_the_provider_answers_garbage(
    hr, hr_knowledge, fake, client_for, in_schema, garbage
):
    # given
    configure(hr, fake, "openai", fallbacks=("anthropic",))
    fake.script("openai", *[GARBAGE[garbage]] * ATTEMPTS_PER_PROVIDER)

    # when
    response = ask(client_for(hr, "hr_member"), hr, QUESTION)

    # then
    assert response.status_code == 200
    assert response.json()["generated_by"].startswith("anthropic:")
    assert response.json()["answer"]
    assert len(calls(fake, "openai")) == ATTEMPTS_PER_PROVIDER
    llm_calls = trail(hr, in_schema, "llm.call")
    assert [(e["details"]["provider"], e["outcome"]) for e in llm_calls] == [
        ("openai", "error"),
        ("openai", "error"),
        ("openai", "error"),
        ("anthropic", "success"),
    ]


@pytest.mark.parametrize("garbage", GARBAGE)
def test_chat_without_a_fallback_is_a_502_and_no_answer_is_recorded(
    hr, hr_knowledge, fake, client_for, in_schema, garbage
):
    # given
    configure(hr, fake, "openai")
    fake.script("openai", *[GARBAGE[garbage]] * ATTEMPTS_PER_PROVIDER)

    # when
    response = ask(client_for(hr, "hr_member"), hr, QUESTION)

    # then
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "llm_unavailable"
    outcomes = [e["outcome"] for e in trail(hr, in_schema, "llm.call")]
    assert outcomes == ["error"] * ATTEMPTS_PER_PROVIDER
    assert trail(hr, in_schema, "chat.answer") == []


def test_streamed_chat_falls_back_when_the_stream_is_garbage_from_the_start(
    hr, hr_knowledge, fake, client_for
):
    # given
    configure(hr, fake, "openai", fallbacks=("gemini",))
    fake.script("openai", *[GARBAGE["malformed_sse"]] * ATTEMPTS_PER_PROVIDER)

    # when
    response = ask(client_for(hr, "hr_member"), hr, QUESTION, stream=True)
    events = sse_events(response)

    # then
    names = [name for name, _ in events]
    assert names[0] == "citations" and names[-1] == "done"
    assert "error" not in names
    assert events[-1][1]["generated_by"].startswith("gemini:")


@pytest.mark.parametrize("provider", ADAPTERS)
def test_streamed_chat_broken_after_tokens_ends_with_an_error_and_meters_them(
    hr, hr_knowledge, fake, client_for, in_schema, provider
):
    # given
    configure(hr, fake, provider, fallbacks=(FALLBACK[provider],))
    fake.script(provider, after_two_deltas(provider))

    # when
    response = ask(client_for(hr, "hr_member"), hr, QUESTION, stream=True)
    events = sse_events(response)

    # then: too late to fall back
    names = [name for name, _ in events]
    assert names == ["citations", "delta", "delta", "error", "done"]
    assert events[3][1]["error"]["code"] == "llm_interrupted"
    (llm_call,) = trail(hr, in_schema, "llm.call")
    assert llm_call["outcome"] == "error"
    assert llm_call["details"]["provider"] == provider
    assert llm_call["details"]["output_tokens"] > 0
    (answer,) = trail(hr, in_schema, "chat.answer")
    assert "(interrupted)" in answer["details"]["generator"]


# The OpenAI-compatible endpoint.


@pytest.fixture
def hr_service(hr):  # type: ignore[no-untyped-def]
    _, key = issue_api_key(hr, "service", ["llm"], created_by=None)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def complete_via_endpoint(client, tenant, stream):  # type: ignore[no-untyped-def]
    return client.post(
        f"/t/{tenant.slug}/llm/v1/chat/completions",
        {
            "model": "auto",
            "messages": [{"role": "user", "content": "Say hello"}],
            "stream": stream,
        },
        format="json",
    )


@pytest.mark.parametrize("stream", [False, True], ids=["whole_case", "stream_case"])
@pytest.mark.parametrize("garbage", GARBAGE)
def test_the_openai_endpoint_answers_502_for_garbage(
    hr, hr_service, fake, in_schema, garbage, stream
):
    # given
    configure(hr, fake, "openai")
    fake.script("openai", *[GARBAGE[garbage]] * ATTEMPTS_PER_PROVIDER)

    # when
    response = complete_via_endpoint(hr_service, hr, stream)

    # then
    assert response.status_code == 502
    assert json.loads(response.content)["error"]["code"] == "llm_unavailable"
    outcomes = [e["outcome"] for e in trail(hr, in_schema, "llm.call")]
    assert outcomes == ["error"] * ATTEMPTS_PER_PROVIDER
