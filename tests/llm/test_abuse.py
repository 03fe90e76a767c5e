"""What a tenant could try against the LLM layer, and what it gets."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from llm.config import config_for_current_tenant
from llm.gateway import Gateway, LLMUnavailable
from llm.providers.base import ChatMessage, provider_message
from llm.router import RouteDecision, Task
from tenants.api_keys import issue_api_key
from tests.conftest import api
from tests.fakes.providers import Fail, Reply
from tests.llm.conftest import configure
from tests.llm.test_openai_endpoint import keep_the_test_connection, platform_client  # noqa: F401

HEAVY = RouteDecision("heavy", "test")
MESSAGES = [ChatMessage("user", "hello")]


@pytest.fixture
def platform_openai(settings, fake):  # type: ignore[no-untyped-def]
    """The platform's own OpenAI account, shared by tenants without a key."""
    settings.LLM = {
        **settings.LLM,
        "PROVIDER": "openai",
        "BREAKER_FAILURES": 2,
        "PROVIDERS": {
            **settings.LLM["PROVIDERS"],
            "openai": {
                "API_KEY": "sk-platform-shared",
                "BASE_URL": f"{fake.base_url}/v1",
                "LIGHT_MODEL": "",
                "HEAVY_MODEL": "",
            },
        },
    }


def test_one_tenants_failures_do_not_open_the_breaker_for_another(
    hr, support, fake, platform_openai, in_schema
):
    # given: hr's calls on the shared account keep failing
    fake.script("openai", *[Fail(500)] * 3)
    with in_schema(hr), pytest.raises(LLMUnavailable):
        Gateway(hr, config_for_current_tenant()).complete(
            MESSAGES, HEAVY, task=Task.CHAT
        )

    # when
    with in_schema(support):
        answer = Gateway(support, config_for_current_tenant()).complete(
            MESSAGES, HEAVY, task=Task.CHAT
        )

    # then
    assert answer.provider == "openai"


def test_an_unpriced_model_on_the_platforms_account_is_refused(
    hr, client_for, platform_openai
):
    # when
    response = client_for(hr, "hr_admin").put(
        api(hr, "settings/llm"),
        {"providers": {"openai": {"heavy_model": "o1-pro-2099"}}},
        format="json",
    )

    # then
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "model_not_in_catalogue"


def test_a_tenant_with_its_own_key_may_use_any_model(hr, client_for, fake):
    # when
    response = client_for(hr, "hr_admin").put(
        api(hr, "settings/llm"),
        {
            "provider": "openai",
            "providers": {
                "openai": {
                    "api_key": "sk-hr-own",
                    "base_url": f"{fake.base_url}/v1",
                    "heavy_model": "my-fine-tune",
                }
            },
        },
        format="json",
    )

    # then
    assert response.status_code == 200
    assert response.json()["effective"]["chain"][0]["heavy_model"] == "my-fine-tune"


def test_a_key_echoed_in_a_provider_error_is_redacted():
    message = provider_message(
        "Incorrect API key provided: HRcompatSECRET9876zz. See your account."
    )
    assert "HRcompatSECRET9876zz" not in message


def test_a_lone_surrogate_is_a_400_not_a_500(hr, fake):
    # given: JSON may escape a lone surrogate, which no UTF-8 text can hold
    configure(hr, fake, "openai")
    _, key = issue_api_key(hr, "k", ["llm"], created_by=None)
    body = '{"model": "auto", "messages": [{"role": "user", "content": "\\ud800 x"}]}'

    # when
    response = APIClient().post(
        f"/t/{hr.slug}/llm/v1/chat/completions",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )

    # then
    assert response.status_code == 400
    assert "not valid Unicode" in response.content.decode()
    assert fake.requests == []


def test_a_stream_no_provider_can_open_is_an_error_status(hr, fake):
    # given
    configure(hr, fake, "openai")
    fake.script("openai", *[Fail(503)] * 3)
    _, key = issue_api_key(hr, "k", ["llm"], created_by=None)

    # when
    with pytest.raises(Exception) as raised:
        list(
            platform_client(hr, key).chat.completions.create(
                model="auto", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        )

    # then
    assert getattr(raised.value, "status_code", None) == 502


def test_the_route_tier_header_is_a_plain_string(hr, fake):
    # given
    configure(hr, fake, "openai")
    fake.script("openai", Reply(text="ok"))
    _, key = issue_api_key(hr, "k", ["llm"], created_by=None)

    # when
    raw = platform_client(hr, key).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hi"}]
    )

    # then
    assert raw.headers["x-route-tier"] == "light"


@override_settings()
def test_a_month_that_is_no_date_is_a_400(hr, client_for):
    response = client_for(hr, "hr_admin").get(api(hr, "usage") + "?month=0000-01")
    assert response.status_code == 400
