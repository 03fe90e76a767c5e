"""Each provider adapter over its official SDK, against the local wire-protocol server."""

from decimal import Decimal

import pytest

from llm.providers.anthropic import AnthropicProvider
from llm.providers.base import ChatMessage, CompletionRequest, ErrorKind, ProviderError
from llm.providers.gemini import GeminiProvider
from llm.providers.openai import OpenAIProvider
from pricing.catalogue import TokenCounts, cost_of, load_price_file
from tests.fakes.providers import CutStream, Fail, Reply, Stall, StreamError
from tests.llm.conftest import base_url_for

ADAPTERS = {
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
}
MESSAGES = (
    ChatMessage("system", "You are terse."),
    ChatMessage("system", "Cite passages as [n]."),
    ChatMessage("user", "How many days of leave?"),
)


def adapter(fake, name, timeout=5.0):  # type: ignore[no-untyped-def]
    return ADAPTERS[name](
        api_key=f"sk-{name}-key", base_url=base_url_for(fake, name), timeout=timeout
    )


def request(model="model-a"):  # type: ignore[no-untyped-def]
    return CompletionRequest(messages=MESSAGES, model=model, max_tokens=64)


def streamed(stream):  # type: ignore[no-untyped-def]
    return "".join(stream), stream.completion


@pytest.mark.parametrize("name", ADAPTERS)
def test_streamed_and_whole_calls_report_the_same_usage(fake, name):
    # given
    fake.script(
        name,
        Reply(
            text="Twenty days [1].", input_tokens=120, output_tokens=7, cached_tokens=40
        ),
        Reply(
            text="Twenty days [1].", input_tokens=120, output_tokens=7, cached_tokens=40
        ),
    )
    provider = adapter(fake, name)

    # when
    whole = provider.complete(request())
    text, streamed_completion = streamed(provider.stream(request()))

    # then
    assert whole.text == text == "Twenty days [1]."
    for completion in (whole, streamed_completion):
        assert completion.usage.input_tokens == 120
        assert completion.usage.cached_tokens == 40
        assert completion.usage.output_tokens == 7
        assert not completion.usage.estimated
        assert completion.finish_reason == "stop"
        assert completion.request_id


def test_claude_cache_reads_and_writes_count_as_input(fake):
    # given: Claude reports input_tokens without cache reads and writes
    fake.script(
        "anthropic",
        Reply(
            input_tokens=1000,
            output_tokens=10,
            cached_tokens=600,
            cache_write_tokens=300,
        ),
    )

    # when
    completion = adapter(fake, "anthropic").complete(request())

    # then
    assert completion.usage.input_tokens == 1000
    assert completion.usage.cached_tokens == 600
    assert completion.usage.cache_write_tokens == 300


def test_several_system_messages_reach_claude_and_gemini_in_order(fake):
    # when
    adapter(fake, "anthropic").complete(request())
    adapter(fake, "gemini").complete(request())
    adapter(fake, "openai").complete(request())

    # then
    claude, gemini, openai = fake.requests
    assert claude.body["system"] == "You are terse.\n\nCite passages as [n]."
    assert [m["role"] for m in claude.body["messages"]] == ["user"]
    instruction = gemini.body["systemInstruction"]["parts"][0]["text"]
    assert instruction == "You are terse.\n\nCite passages as [n]."
    assert [c["role"] for c in gemini.body["contents"]] == ["user"]
    assert [m["role"] for m in openai.body["messages"]] == ["system", "system", "user"]


def test_each_sdk_sends_its_own_key_header(fake):
    # when
    for name in ADAPTERS:
        adapter(fake, name).complete(request())

    # then
    openai, claude, gemini = fake.requests
    assert openai.headers["authorization"] == "Bearer sk-openai-key"
    # The anthropic SDK sends the key as x-api-key or as a bearer token.
    claude_key = claude.headers.get("x-api-key") or claude.headers["authorization"]
    assert claude_key.removeprefix("Bearer ") == "sk-anthropic-key"
    assert gemini.headers["x-goog-api-key"] == "sk-gemini-key"


@pytest.mark.parametrize("name", ADAPTERS)
def test_rate_limit_carries_retry_after(fake, name):
    # given
    fake.script(name, Fail(429, retry_after=2))

    # when
    with pytest.raises(ProviderError) as raised:
        adapter(fake, name).complete(request())

    # then
    assert raised.value.kind == ErrorKind.RATE_LIMITED
    assert raised.value.retryable
    assert raised.value.retry_after == 2.0


@pytest.mark.parametrize(
    ("name", "status"), [("openai", 500), ("anthropic", 529), ("gemini", 503)]
)
def test_server_errors_are_retryable(fake, name, status):
    # given
    fake.script(name, Fail(status))

    # when
    with pytest.raises(ProviderError) as raised:
        adapter(fake, name).complete(request())

    # then
    assert raised.value.kind == ErrorKind.SERVER
    assert raised.value.status == status


@pytest.mark.parametrize("name", ADAPTERS)
def test_bad_request_is_not_retryable(fake, name):
    # given
    fake.script(name, Fail(400, message="model 'nope' does not exist"))

    # when
    with pytest.raises(ProviderError) as raised:
        adapter(fake, name).complete(request())

    # then
    assert raised.value.kind == ErrorKind.CLIENT
    assert not raised.value.retryable


@pytest.mark.parametrize("name", ADAPTERS)
def test_a_stalled_provider_times_out(fake, name):
    # given
    fake.script(name, Stall(2.0))

    # when
    with pytest.raises(ProviderError) as raised:
        adapter(fake, name, timeout=0.3).complete(request())

    # then
    assert raised.value.kind == ErrorKind.TIMEOUT


@pytest.mark.parametrize("name", ADAPTERS)
def test_a_cut_stream_keeps_the_text_and_estimates_usage(fake, name):
    # given
    fake.script(name, CutStream(after_deltas=2))
    stream = adapter(fake, name).stream(request())
    received = []

    # when
    with pytest.raises(ProviderError):
        for delta in stream:
            received.append(delta)

    # then
    assert len(received) == 2
    assert stream.completion.text == "".join(received)
    assert stream.completion.usage.output_tokens > 0
    assert stream.completion.usage.input_tokens > 0


@pytest.mark.parametrize("name", ADAPTERS)
def test_an_error_event_mid_stream_raises(fake, name):
    # given
    fake.script(
        name, StreamError(after_deltas=1, status=529 if name == "anthropic" else 500)
    )
    stream = adapter(fake, name).stream(request())

    # when / then
    with pytest.raises(ProviderError):
        list(stream)
    assert stream.completion.text


def test_cost_formula_per_provider_semantics():
    # given
    prices = {(p.provider, p.model): p for p in load_price_file()}
    sonnet = prices[("anthropic", "claude-sonnet-4-5")]
    mini = prices[("openai", "gpt-4o-mini")]
    pro = prices[("gemini", "gemini-2.5-pro")]

    # when: 1,000 input tokens of which 600 read from cache, 300 written to it
    claude = cost_of(
        sonnet, TokenCounts(input=1000, output=100, cached=600, cache_write=300)
    )
    openai = cost_of(mini, TokenCounts(input=1_000_000, output=0, cached=500_000))
    long_prompt = cost_of(pro, TokenCounts(input=250_000, output=1000))

    # then
    assert (
        claude
        == (
            100 * Decimal("3.00")
            + 600 * Decimal("0.30")
            + 300 * Decimal("3.75")
            + 100 * Decimal("15.00")
        )
        / 1_000_000
    )
    assert openai == Decimal("0.075") + Decimal("0.0375")
    assert (
        long_prompt == (250_000 * Decimal("2.50") + 1000 * Decimal("15.00")) / 1_000_000
    )
