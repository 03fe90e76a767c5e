"""The fake providers, driven by the official SDKs.

These prove each SDK accepts what the fake sends: replies, streams, usage,
request ids, errors and broken connections. No database is needed.
"""

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from tests.fakes.providers import (
    CutStream,
    Drop,
    Fail,
    FakeProviders,
    Reply,
    Stall,
    StreamError,
)

SYSTEM = "Answer briefly."
QUESTION = "What is the leave policy?"
PROMPT_WORDS = 7  # SYSTEM and QUESTION together
OPENAI_MESSAGES = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": QUESTION},
]
ANTHROPIC_MESSAGES = [{"role": "user", "content": QUESTION}]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProviders]:
    with FakeProviders() as server:
        yield server


@pytest.fixture(autouse=True)
def fake(server: FakeProviders) -> FakeProviders:
    """The module's server, with no requests or scripts left from other tests."""
    server.reset()
    return server


@pytest.fixture(scope="module")
def openai_client(server: FakeProviders) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-openai-test", base_url=f"{server.base_url}/v1", max_retries=0
    )


@pytest.fixture(scope="module")
def anthropic_client(server: FakeProviders) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="sk-ant-test", base_url=server.base_url, max_retries=0
    )


@pytest.fixture(scope="module")
def gemini_client(server: FakeProviders) -> genai.Client:
    # Retries are off unless retry_options is given; attempts=1 says so aloud.
    options = genai_types.HttpOptions(
        base_url=server.base_url,
        api_version="v1beta",
        retry_options=genai_types.HttpRetryOptions(attempts=1),
    )
    return genai.Client(api_key="gemini-test-key", http_options=options)


def ask_openai(client: openai.OpenAI, **kwargs: Any) -> Any:
    return client.chat.completions.create(
        model="gpt-x", messages=OPENAI_MESSAGES, **kwargs
    )


def ask_anthropic(client: anthropic.Anthropic, **kwargs: Any) -> Any:
    return client.messages.create(
        model="claude-x",
        max_tokens=100,
        system=SYSTEM,
        messages=ANTHROPIC_MESSAGES,
        **kwargs,
    )


def gemini_config(**kwargs: Any) -> genai_types.GenerateContentConfig:
    return genai_types.GenerateContentConfig(system_instruction=SYSTEM, **kwargs)


def ask_gemini(client: genai.Client, **kwargs: Any) -> Any:
    return client.models.generate_content(
        model="gemini-x", contents=QUESTION, config=gemini_config(**kwargs)
    )


def stream_gemini(
    client: genai.Client,
) -> Iterator[genai_types.GenerateContentResponse]:
    return client.models.generate_content_stream(
        model="gemini-x", contents=QUESTION, config=gemini_config()
    )


# OpenAI


def test_openai_reply_has_text_usage_and_request_id(
    openai_client: openai.OpenAI,
) -> None:
    completion = ask_openai(openai_client)

    assert (
        completion.choices[0].message.content == "Answer from openai:gpt-x citing [1]."
    )
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == PROMPT_WORDS
    assert completion.usage.completion_tokens == 5
    assert completion.usage.total_tokens == PROMPT_WORDS + 5
    assert completion.usage.prompt_tokens_details.cached_tokens == 0
    assert completion._request_id.startswith("req_")


def test_openai_request_is_recorded(
    fake: FakeProviders, openai_client: openai.OpenAI
) -> None:
    ask_openai(openai_client)

    [request] = fake.requests
    assert request.provider == "openai"
    assert request.path == "/v1/chat/completions"
    assert request.model == "gpt-x"
    assert request.body["messages"] == OPENAI_MESSAGES
    assert request.headers["authorization"] == "Bearer sk-openai-test"


def test_openai_stream_sends_deltas_then_usage(openai_client: openai.OpenAI) -> None:
    # given
    plain = ask_openai(openai_client)

    # when
    stream = ask_openai(
        openai_client, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)

    # then
    deltas = [c.choices[0].delta.content for c in chunks if c.choices]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(d for d in deltas if d) == plain.choices[0].message.content
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage == plain.usage
    assert stream.response.headers["x-request-id"].startswith("req_")


def test_openai_stream_without_include_usage_has_no_usage(
    openai_client: openai.OpenAI,
) -> None:
    chunks = list(ask_openai(openai_client, stream=True))

    assert all(chunk.usage is None for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_openai_lists_models(openai_client: openai.OpenAI) -> None:
    models = openai_client.models.list()

    assert [model.id for model in models] == ["gpt-x", "gpt-x-mini"]


def test_openai_rate_limit_carries_retry_after(
    fake: FakeProviders, openai_client: openai.OpenAI
) -> None:
    fake.script("openai", Fail(429, retry_after=1))

    with pytest.raises(openai.RateLimitError) as caught:
        ask_openai(openai_client)

    assert caught.value.status_code == 429
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.request_id.startswith("req_")


def test_openai_server_error(fake: FakeProviders, openai_client: openai.OpenAI) -> None:
    fake.script("openai", Fail(500, message="boom"))

    with pytest.raises(openai.InternalServerError) as caught:
        ask_openai(openai_client)

    assert caught.value.status_code == 500
    assert caught.value.type == "server_error"
    assert caught.value.body["message"] == "boom"


def test_openai_stall_times_out(
    fake: FakeProviders, openai_client: openai.OpenAI
) -> None:
    fake.script("openai", Stall(5))

    with pytest.raises(openai.APITimeoutError):
        ask_openai(openai_client, timeout=0.2)


def test_openai_cut_stream_fails_after_first_deltas(
    fake: FakeProviders, openai_client: openai.OpenAI
) -> None:
    fake.script("openai", CutStream(after_deltas=2))
    received = []

    with pytest.raises(openai.APIConnectionError):
        for chunk in ask_openai(openai_client, stream=True):
            received.append(chunk.choices[0].delta.content)

    assert received == ["", "Answer", " from"]


def test_openai_stream_error_raises_api_error(
    fake: FakeProviders, openai_client: openai.OpenAI
) -> None:
    fake.script("openai", StreamError(after_deltas=1, message="went away"))

    with pytest.raises(openai.APIError) as caught:
        list(ask_openai(openai_client, stream=True))

    assert not isinstance(caught.value, openai.APIStatusError)
    assert caught.value.message == "went away"
    assert caught.value.type == "server_error"


def test_openai_drop_is_a_connection_error(
    fake: FakeProviders, openai_client: openai.OpenAI
) -> None:
    fake.script("openai", Drop())

    with pytest.raises(openai.APIConnectionError):
        ask_openai(openai_client)


# Anthropic


def test_anthropic_reply_has_text_usage_and_request_id(
    anthropic_client: anthropic.Anthropic,
) -> None:
    message = ask_anthropic(anthropic_client)

    assert message.id.startswith("msg_")
    assert message.content[0].text == "Answer from anthropic:claude-x citing [1]."
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == PROMPT_WORDS
    assert message.usage.output_tokens == 5
    assert message.usage.cache_read_input_tokens == 0
    assert message.usage.cache_creation_input_tokens == 0
    assert message._request_id.startswith("req_")


def test_anthropic_request_is_recorded(
    fake: FakeProviders, anthropic_client: anthropic.Anthropic
) -> None:
    ask_anthropic(anthropic_client)

    [request] = fake.requests
    assert request.provider == "anthropic"
    assert request.model == "claude-x"
    assert request.body["system"] == SYSTEM
    # anthropic 2.x sends the API key as a bearer token, not in x-api-key.
    assert request.headers["authorization"] == "Bearer sk-ant-test"
    assert request.headers["anthropic-version"]


def test_anthropic_stream_sends_documented_events(
    anthropic_client: anthropic.Anthropic,
) -> None:
    # given
    plain = ask_anthropic(anthropic_client)

    # when
    stream = ask_anthropic(anthropic_client, stream=True)
    events = list(stream)

    # then
    kinds = [event.type for event in events]
    assert kinds == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 5,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert text == plain.content[0].text
    assert events[0].message.usage.input_tokens == plain.usage.input_tokens
    assert events[-2].delta.stop_reason == "end_turn"
    assert events[-2].usage.output_tokens == plain.usage.output_tokens
    assert stream.response.headers["request-id"].startswith("req_")


def test_anthropic_stream_helper_accumulates_usage(
    anthropic_client: anthropic.Anthropic,
) -> None:
    with anthropic_client.messages.stream(
        model="claude-x", max_tokens=100, system=SYSTEM, messages=ANTHROPIC_MESSAGES
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert text == "Answer from anthropic:claude-x citing [1]."
    assert final.usage.input_tokens == PROMPT_WORDS
    assert final.usage.output_tokens == 5


def test_anthropic_rate_limit_carries_retry_after(
    fake: FakeProviders, anthropic_client: anthropic.Anthropic
) -> None:
    fake.script("anthropic", Fail(429, retry_after=1))

    with pytest.raises(anthropic.RateLimitError) as caught:
        ask_anthropic(anthropic_client)

    assert caught.value.status_code == 429
    assert caught.value.type == "rate_limit_error"
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.request_id.startswith("req_")


def test_anthropic_overloaded_is_a_server_error(
    fake: FakeProviders, anthropic_client: anthropic.Anthropic
) -> None:
    fake.script("anthropic", Fail(529))

    with pytest.raises(anthropic.InternalServerError) as caught:
        ask_anthropic(anthropic_client)

    assert isinstance(caught.value, anthropic.OverloadedError)
    assert caught.value.status_code == 529
    assert caught.value.type == "overloaded_error"


def test_anthropic_stall_times_out(
    fake: FakeProviders, anthropic_client: anthropic.Anthropic
) -> None:
    fake.script("anthropic", Stall(5))

    with pytest.raises(anthropic.APITimeoutError):
        ask_anthropic(anthropic_client, timeout=0.2)


def test_anthropic_cut_stream_fails_after_first_deltas(
    fake: FakeProviders, anthropic_client: anthropic.Anthropic
) -> None:
    fake.script("anthropic", CutStream(after_deltas=2))
    received = []

    # The SDK does not wrap transport errors raised while a stream is read.
    with pytest.raises(httpx2.RemoteProtocolError):
        for event in ask_anthropic(anthropic_client, stream=True):
            if event.type == "content_block_delta":
                received.append(event.delta.text)

    assert received == ["Answer", " from"]


def test_anthropic_stream_error_event_raises(
    fake: FakeProviders, anthropic_client: anthropic.Anthropic
) -> None:
    fake.script("anthropic", StreamError(after_deltas=1, status=529))

    with pytest.raises(anthropic.APIStatusError) as caught:
        list(ask_anthropic(anthropic_client, stream=True))

    # The HTTP status was 200 when the stream began; the body names the error.
    assert caught.value.status_code == 200
    assert caught.value.type == "overloaded_error"


def test_anthropic_drop_is_a_connection_error(
    fake: FakeProviders, anthropic_client: anthropic.Anthropic
) -> None:
    fake.script("anthropic", Drop())

    with pytest.raises(anthropic.APIConnectionError):
        ask_anthropic(anthropic_client)


# Gemini


def test_gemini_reply_has_text_usage_and_response_id(
    gemini_client: genai.Client,
) -> None:
    response = ask_gemini(gemini_client)

    assert response.text == "Answer from gemini:gemini-x citing [1]."
    assert response.candidates[0].finish_reason == genai_types.FinishReason.STOP
    assert response.usage_metadata.prompt_token_count == PROMPT_WORDS
    assert response.usage_metadata.candidates_token_count == 5
    assert response.usage_metadata.total_token_count == PROMPT_WORDS + 5
    assert response.usage_metadata.cached_content_token_count == 0
    assert response.model_version == "gemini-x"
    assert response.response_id


def test_gemini_request_is_recorded(
    fake: FakeProviders, gemini_client: genai.Client
) -> None:
    ask_gemini(gemini_client)

    [request] = fake.requests
    assert request.provider == "gemini"
    assert request.path == "/v1beta/models/gemini-x:generateContent"
    assert request.model == "gemini-x"
    assert request.body["systemInstruction"]["parts"] == [{"text": SYSTEM}]
    assert request.headers["x-goog-api-key"] == "gemini-test-key"


def test_gemini_stream_ends_with_usage(
    fake: FakeProviders, gemini_client: genai.Client
) -> None:
    # given
    plain = ask_gemini(gemini_client)

    # when
    chunks = list(stream_gemini(gemini_client))

    # then
    assert fake.requests[-1].query == {"alt": "sse"}
    assert "".join(chunk.text for chunk in chunks) == plain.text
    assert [c.usage_metadata is None for c in chunks] == [True] * 4 + [False]
    assert chunks[-1].usage_metadata == plain.usage_metadata
    assert chunks[-1].candidates[0].finish_reason == genai_types.FinishReason.STOP
    assert len({chunk.response_id for chunk in chunks}) == 1


def test_gemini_rate_limit_is_a_client_error(
    fake: FakeProviders, gemini_client: genai.Client
) -> None:
    fake.script("gemini", Fail(429, retry_after=1))

    with pytest.raises(genai_errors.ClientError) as caught:
        ask_gemini(gemini_client)

    assert caught.value.code == 429
    assert caught.value.status == "RESOURCE_EXHAUSTED"
    assert caught.value.response.headers["retry-after"] == "1"
    [retry_info] = caught.value.details["error"]["details"]
    assert retry_info["retryDelay"] == "1s"


def test_gemini_unavailable_is_a_server_error(
    fake: FakeProviders, gemini_client: genai.Client
) -> None:
    fake.script("gemini", Fail(503))

    with pytest.raises(genai_errors.ServerError) as caught:
        ask_gemini(gemini_client)

    assert caught.value.code == 503
    assert caught.value.status == "UNAVAILABLE"


def test_gemini_stall_times_out(
    fake: FakeProviders, gemini_client: genai.Client
) -> None:
    fake.script("gemini", Stall(5))
    # google-genai takes its timeout in milliseconds.
    http_options = genai_types.HttpOptions(timeout=200)

    with pytest.raises(httpx2.TimeoutException):
        ask_gemini(gemini_client, http_options=http_options)


def test_gemini_cut_stream_fails_after_first_deltas(
    fake: FakeProviders, gemini_client: genai.Client
) -> None:
    fake.script("gemini", CutStream(after_deltas=2))
    received = []

    with pytest.raises(httpx2.RemoteProtocolError):
        for chunk in stream_gemini(gemini_client):
            received.append(chunk.text)

    assert received == ["Answer", " from"]


def test_gemini_stream_error_raises_server_error(
    fake: FakeProviders, gemini_client: genai.Client
) -> None:
    fake.script("gemini", StreamError(after_deltas=1))

    with pytest.raises(genai_errors.ServerError) as caught:
        list(stream_gemini(gemini_client))

    assert caught.value.code == 500
    assert caught.value.status == "INTERNAL"


def test_gemini_drop_is_a_transport_error(
    fake: FakeProviders, gemini_client: genai.Client
) -> None:
    fake.script("gemini", Drop())

    with pytest.raises(httpx2.RemoteProtocolError):
        ask_gemini(gemini_client)


# Scripting and usage rules shared by all providers


def test_cache_tokens_follow_each_provider_rule(
    fake: FakeProviders,
    openai_client: openai.OpenAI,
    anthropic_client: anthropic.Anthropic,
    gemini_client: genai.Client,
) -> None:
    # given
    reply = Reply(input_tokens=100, cached_tokens=60, cache_write_tokens=10)
    for provider in ("openai", "anthropic", "gemini"):
        fake.script(provider, reply)

    # when
    openai_usage = ask_openai(openai_client).usage
    anthropic_usage = ask_anthropic(anthropic_client).usage
    gemini_usage = ask_gemini(gemini_client).usage_metadata

    # then
    assert openai_usage.prompt_tokens == 100
    assert openai_usage.prompt_tokens_details.cached_tokens == 60
    assert anthropic_usage.input_tokens == 30
    assert anthropic_usage.cache_read_input_tokens == 60
    assert anthropic_usage.cache_creation_input_tokens == 10
    assert gemini_usage.prompt_token_count == 100
    assert gemini_usage.cached_content_token_count == 60


def test_scripted_text_and_tokens_are_used_once(
    fake: FakeProviders, openai_client: openai.OpenAI
) -> None:
    fake.script("openai", Fail(429), Reply(text="Hi there", output_tokens=9))

    with pytest.raises(openai.RateLimitError):
        ask_openai(openai_client)
    scripted = ask_openai(openai_client)
    default = ask_openai(openai_client)

    assert scripted.choices[0].message.content == "Hi there"
    assert scripted.usage.completion_tokens == 9
    assert default.choices[0].message.content == "Answer from openai:gpt-x citing [1]."


def test_scripts_are_kept_per_provider(
    fake: FakeProviders,
    openai_client: openai.OpenAI,
    anthropic_client: anthropic.Anthropic,
) -> None:
    fake.script("anthropic", Fail(529))

    ask_openai(openai_client)
    with pytest.raises(anthropic.OverloadedError):
        ask_anthropic(anthropic_client)


def test_reset_forgets_requests_and_scripts(
    fake: FakeProviders, openai_client: openai.OpenAI
) -> None:
    ask_openai(openai_client)
    fake.script("openai", Fail(500))

    fake.reset()

    assert fake.requests == []
    assert ask_openai(openai_client).choices[0].finish_reason == "stop"


def test_script_rejects_unknown_provider(fake: FakeProviders) -> None:
    with pytest.raises(ValueError, match="mistral"):
        fake.script("mistral", Reply())


def test_runs_as_a_command_until_sigterm() -> None:
    # given
    command = [sys.executable, "-m", "tests.fakes.providers", "--port", "0"]
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True)

    # when
    try:
        base_url = process.stdout.readline().strip()
        client = openai.OpenAI(api_key="sk", base_url=f"{base_url}/v1", max_retries=0)
        models = client.models.list()
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=5)

    # then
    assert base_url.startswith("http://127.0.0.1:")
    assert models.data[0].id == "gpt-x"
    assert returncode == 0
