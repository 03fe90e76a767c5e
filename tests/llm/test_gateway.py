"""Routing, retries, fallback, the circuit breaker and metering, per tenant."""

from decimal import Decimal

import pytest
from django.test import override_settings

from audit.models import AuditEntry
from llm.config import config_for_current_tenant
from llm.gateway import Gateway, LLMUnavailable, StreamInterrupted
from llm.models import UsageRecord
from llm.providers.base import ChatMessage
from llm.router import RouteDecision, RouteRequest, Task
from tests.fakes.providers import CutStream, Drop, Fail, Reply, StreamError
from tests.llm.conftest import configure

MESSAGES = [ChatMessage("user", "What is the notice period?")]
HEAVY = RouteDecision("heavy", "test")
LLM_FAST_BREAKER = {
    "BREAKER_FAILURES": 2,
    "BREAKER_RESET_SECONDS": 0.2,
}


def gateway_for(tenant):  # type: ignore[no-untyped-def]
    return Gateway(tenant, config_for_current_tenant())


def calls(fake, provider):  # type: ignore[no-untyped-def]
    return [r for r in fake.requests if r.provider == provider]


def test_a_call_is_metered_in_usage_and_audit(hr, fake, in_schema):
    # given
    configure(hr, fake, "openai")
    fake.script(
        "openai", Reply(text="Four weeks.", input_tokens=1000, output_tokens=200)
    )

    # when
    with in_schema(hr):
        answer = gateway_for(hr).complete(MESSAGES, HEAVY, task=Task.ANSWER)
        usage = UsageRecord.objects.get()
        entry = AuditEntry.objects.filter(action="llm.call").get()

    # then: gpt-4.1 is the catalogue's heavy OpenAI model at $2 / $8 per million
    expected = (1000 * Decimal("2.00") + 200 * Decimal("8.00")) / 1_000_000
    assert answer.completion.text == "Four weeks."
    assert answer.model == "gpt-4.1"
    assert (usage.provider, usage.model, usage.tier) == ("openai", "gpt-4.1", "heavy")
    assert (usage.requests, usage.input_tokens, usage.output_tokens) == (1, 1000, 200)
    assert usage.cost == expected
    assert entry.details["cost_usd"] == str(expected)
    assert entry.details["route_reason"] == "test"
    assert entry.outcome == "success"


def test_streamed_and_whole_calls_cost_the_same(hr, fake, in_schema):
    # given
    configure(hr, fake, "anthropic")
    reply = Reply(
        text="Four weeks.", input_tokens=900, output_tokens=30, cached_tokens=500
    )
    fake.script("anthropic", reply, reply)

    # when
    with in_schema(hr):
        gateway = gateway_for(hr)
        gateway.complete(MESSAGES, HEAVY, task=Task.ANSWER)
        stream = gateway.stream(MESSAGES, HEAVY, task=Task.ANSWER)
        text = "".join(stream)
        costs = [
            e.details["cost_usd"] for e in AuditEntry.objects.filter(action="llm.call")
        ]

    # then
    assert text == "Four weeks."
    assert costs[0] == costs[1]
    assert Decimal(costs[0]) > 0


def test_retries_a_rate_limit_then_succeeds(hr, fake, in_schema):
    # given
    configure(hr, fake, "gemini")
    fake.script("gemini", Fail(429, retry_after=0), Reply(text="Done."))

    # when
    with in_schema(hr):
        answer = gateway_for(hr).complete(MESSAGES, HEAVY, task=Task.ANSWER)
        outcomes = list(AuditEntry.objects.values_list("outcome", flat=True))

    # then
    assert answer.completion.text == "Done."
    assert len(calls(fake, "gemini")) == 2
    assert outcomes[-2:] == ["error", "success"]


def test_falls_back_to_the_next_provider_after_retries(hr, fake, in_schema):
    # given
    configure(hr, fake, "anthropic", fallbacks=("openai",))
    fake.script("anthropic", Fail(529), Fail(529), Fail(529))

    # when
    with in_schema(hr):
        answer = gateway_for(hr).complete(MESSAGES, HEAVY, task=Task.ANSWER)
        failed = UsageRecord.objects.get(provider="anthropic")

    # then
    assert answer.provider == "openai"
    assert len(calls(fake, "anthropic")) == 3
    assert failed.failed_requests == 3


def test_a_long_retry_after_moves_on_at_once(hr, fake, in_schema):
    # given
    configure(hr, fake, "openai", fallbacks=("gemini",))
    fake.script("openai", Fail(429, retry_after=600))

    # when
    with in_schema(hr):
        answer = gateway_for(hr).complete(MESSAGES, HEAVY, task=Task.ANSWER)

    # then
    assert answer.provider == "gemini"
    assert len(calls(fake, "openai")) == 1


def test_a_bad_request_is_not_retried(hr, fake, in_schema):
    # given
    configure(hr, fake, "openai")
    fake.script("openai", Fail(400, message="unknown parameter"))

    # when
    with in_schema(hr), pytest.raises(LLMUnavailable):
        gateway_for(hr).complete(MESSAGES, HEAVY, task=Task.ANSWER)

    # then
    assert len(calls(fake, "openai")) == 1


def test_a_stream_failing_before_its_first_token_falls_back(hr, fake, in_schema):
    # given
    configure(hr, fake, "openai", fallbacks=("anthropic",))
    fake.script(
        "openai", Drop(), StreamError(after_deltas=0), CutStream(after_deltas=0)
    )

    # when
    with in_schema(hr):
        stream = gateway_for(hr).stream(MESSAGES, HEAVY, task=Task.ANSWER)
        text = "".join(stream)

    # then
    assert "anthropic" in text
    assert stream.answer is not None and stream.answer.provider == "anthropic"


def test_a_stream_failing_after_tokens_ends_with_an_error_and_is_metered(
    hr, fake, in_schema
):
    # given
    configure(hr, fake, "openai", fallbacks=("anthropic",))
    fake.script("openai", CutStream(after_deltas=3))
    received = []

    # when
    with in_schema(hr):
        stream = gateway_for(hr).stream(MESSAGES, HEAVY, task=Task.ANSWER)
        with pytest.raises(StreamInterrupted):
            for delta in stream:
                received.append(delta)
        entry = AuditEntry.objects.filter(action="llm.call").last()

    # then: no second provider spliced into the same answer
    assert len(received) == 3
    assert calls(fake, "anthropic") == []
    assert entry is not None and entry.outcome == "error"
    assert entry.details["output_tokens"] > 0
    assert Decimal(entry.details["cost_usd"]) > 0


@override_settings(
    LLM={**__import__("django.conf").conf.settings.LLM, **LLM_FAST_BREAKER}
)
def test_the_breaker_opens_and_closes_again(hr, fake, in_schema):
    # given
    configure(hr, fake, "openai", fallbacks=("gemini",))
    fake.script("openai", Fail(500), Fail(500))

    # when: two failures open the breaker; the next call skips OpenAI
    with in_schema(hr):
        first = gateway_for(hr).complete(MESSAGES, HEAVY, task=Task.ANSWER)
        second = gateway_for(hr).complete(MESSAGES, HEAVY, task=Task.ANSWER)
        openai_calls_while_open = len(calls(fake, "openai"))
        __import__("time").sleep(0.25)
        third = gateway_for(hr).complete(MESSAGES, HEAVY, task=Task.ANSWER)

    # then
    assert (first.provider, second.provider, third.provider) == (
        "gemini",
        "gemini",
        "openai",
    )
    assert openai_calls_while_open == 2


def test_routing_sends_a_title_to_the_light_model(hr, fake, in_schema):
    # given
    configure(hr, fake, "openai")

    # when
    with in_schema(hr):
        gateway = gateway_for(hr)
        decision = gateway.decide(RouteRequest(task=Task.TITLE, prompt_tokens=40))
        answer = gateway.complete(MESSAGES, decision, task=Task.TITLE)

    # then
    assert decision.tier == "light"
    assert answer.model == "gpt-4o-mini"
    assert calls(fake, "openai")[0].body["model"] == "gpt-4o-mini"


def test_routing_switched_off_sends_everything_heavy(hr, fake, in_schema):
    # given
    configure(hr, fake, "openai", routing=False)

    # when
    with in_schema(hr):
        decision = gateway_for(hr).decide(
            RouteRequest(task=Task.TITLE, prompt_tokens=40)
        )

    # then
    assert decision.tier == "heavy"
    assert "switched off" in decision.reason


def test_a_forbidden_provider_is_never_called_even_as_fallback(hr, fake, in_schema):
    # given
    configure(
        hr,
        fake,
        "openai",
        fallbacks=("anthropic",),
        allowed_providers={"anthropic": False},
    )
    fake.script("openai", Fail(500), Fail(500), Fail(500))

    # when
    with in_schema(hr), pytest.raises(LLMUnavailable):
        gateway_for(hr).complete(MESSAGES, HEAVY, task=Task.ANSWER)

    # then
    assert calls(fake, "anthropic") == []


def test_one_tenants_key_model_and_switches_never_serve_another(
    hr, support, fake, in_schema
):
    # given
    configure(hr, fake, "anthropic", routing=False)
    configure(support, fake, "openai")

    # when
    with in_schema(support):
        support_config = config_for_current_tenant()
        gateway_for(support).complete(MESSAGES, HEAVY, task=Task.ANSWER)
    with in_schema(hr):
        gateway_for(hr).complete(MESSAGES, HEAVY, task=Task.ANSWER)

    # then
    support_call, hr_call = fake.requests
    assert support_config.routing_enabled
    assert [p.name for p in support_config.chain] == ["openai"]
    assert support_call.headers["authorization"] == "Bearer sk-support-openai-secret"
    assert "sk-hr" not in str(support_call.headers)
    assert hr_call.provider == "anthropic"
    with in_schema(support):
        assert not UsageRecord.objects.filter(provider="anthropic").exists()


def test_the_platform_key_is_never_sent_to_an_address_a_tenant_chose(
    hr, fake, in_schema, settings
):
    # given: the platform has an OpenAI key; the tenant sets only an address
    settings.LLM = {
        **settings.LLM,
        "PROVIDER": "openai",
        "PROVIDERS": {
            **settings.LLM["PROVIDERS"],
            "openai": {
                "API_KEY": "sk-platform",
                "BASE_URL": "",
                "LIGHT_MODEL": "",
                "HEAVY_MODEL": "",
            },
        },
    }
    with in_schema(hr):
        from llm.settings_api import update_settings

        update_settings(
            {"providers": {"openai": {"base_url": f"{fake.base_url}/v1"}}}, None, "test"
        )

        # when
        config = config_for_current_tenant()

    # then
    assert config.chain == ()
