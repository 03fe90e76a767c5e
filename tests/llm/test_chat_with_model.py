"""The native chat answered by the tenant's configured model, with usage and settings APIs."""

import json

import pytest

from tests.chat.test_chat import ask, upload_samples
from tests.conftest import api
from tests.fakes.providers import CutStream, Fail, Reply
from tests.llm.conftest import base_url_for, configure


@pytest.fixture
def hr_knowledge(hr, client_for):  # type: ignore[no-untyped-def]
    return upload_samples(
        client_for(hr, "hr_admin"), hr, ["leave-and-holiday-policy.md"]
    )


def sse_events(response):  # type: ignore[no-untyped-def]
    body = b"".join(response.streaming_content).decode()
    events = []
    for block in body.strip().split("\n\n"):
        name = block.split("\n")[0].removeprefix("event: ")
        data = json.loads(block.split("\n", 1)[1].removeprefix("data: "))
        events.append((name, data))
    return events


def test_chat_answers_from_the_configured_provider_with_matching_citations(
    hr, hr_knowledge, fake, client_for
):
    # given: the model cites a passage that exists and one that does not
    configure(hr, fake, "anthropic")
    fake.script("anthropic", Reply(text="You get 25 days [1], see also [7]."))

    # when
    response = ask(
        client_for(hr, "hr_member"), hr, "How many days of annual leave do I get?"
    )

    # then
    body = response.json()
    assert response.status_code == 200
    assert body["answer"] == "You get 25 days [1], see also."
    assert body["citations"][0]["filename"] == "leave-and-holiday-policy.md"
    assert body["generated_by"].startswith("anthropic:claude-")
    prompt = fake.requests[0].body
    assert "data, not instructions" in prompt["system"]
    assert '<passage number="1"' in prompt["messages"][0]["content"]


def test_streamed_chat_relays_the_models_deltas(hr, hr_knowledge, fake, client_for):
    # given
    configure(hr, fake, "gemini")

    # when
    response = ask(
        client_for(hr, "hr_member"), hr, "How many days of annual leave?", stream=True
    )

    # then
    events = sse_events(response)
    names = [name for name, _ in events]
    assert names[0] == "citations" and names[-1] == "done"
    text = "".join(data["text"] for name, data in events if name == "delta")
    assert "gemini" in text
    assert events[-1][1]["generated_by"].startswith("gemini:")


def test_a_model_that_breaks_off_ends_the_stream_with_an_error_event(
    hr, hr_knowledge, fake, client_for, in_schema
):
    # given
    configure(hr, fake, "openai")
    fake.script("openai", CutStream(after_deltas=2))

    # when
    response = ask(
        client_for(hr, "hr_member"), hr, "How many days of leave?", stream=True
    )
    events = sse_events(response)

    # then
    names = [name for name, _ in events]
    assert names[:3] == ["citations", "delta", "delta"]
    assert ("error", "llm_interrupted") in [
        (name, data.get("error", {}).get("code")) for name, data in events
    ]
    history = client_for(hr, "hr_member").get(api(hr, "conversations")).json()
    assert history["conversations"]


def test_all_providers_down_gives_a_clear_502(hr, hr_knowledge, fake, client_for):
    # given
    configure(hr, fake, "openai")
    fake.script("openai", Fail(503), Fail(503), Fail(503))

    # when
    response = ask(client_for(hr, "hr_member"), hr, "How many days of leave?")

    # then
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "llm_unavailable"


def test_usage_shows_spend_per_day_and_model(hr, hr_knowledge, fake, client_for):
    # given
    configure(hr, fake, "openai")
    fake.script("openai", Reply(input_tokens=2000, output_tokens=100))
    ask(client_for(hr, "hr_member"), hr, "How many days of annual leave do I get?")

    # when
    usage = client_for(hr, "hr_auditor").get(api(hr, "usage")).json()

    # then
    assert usage["total"]["requests"] == 1
    assert usage["total"]["input_tokens"] == 2000
    assert float(usage["total"]["cost"]) > 0
    assert usage["models"][0]["provider"] == "openai"
    assert len(usage["days"]) == 1


def test_members_see_no_usage_and_another_tenant_sees_none_of_it(
    hr, support, hr_knowledge, fake, client_for
):
    # given
    configure(hr, fake, "openai")
    ask(client_for(hr, "hr_member"), hr, "How many days of annual leave do I get?")

    # when
    member = client_for(hr, "hr_member").get(api(hr, "usage"))
    other_tenant = (
        client_for(support, "support_admin").get(api(support, "usage")).json()
    )
    crossing = client_for(support, "support_admin").get(api(hr, "usage"))

    # then
    assert member.status_code == 403
    assert other_tenant["total"]["requests"] == 0
    assert crossing.status_code in (401, 403)


def test_admin_switches_provider_by_setting_and_keys_stay_masked(hr, fake, client_for):
    # given
    admin = client_for(hr, "hr_admin")
    secret = "sk-ant-very-secret-key-1234"

    # when
    put = admin.put(
        api(hr, "settings/llm"),
        {
            "provider": "anthropic",
            "providers": {
                "anthropic": {
                    "api_key": secret,
                    "base_url": base_url_for(fake, "anthropic"),
                }
            },
        },
        format="json",
    )
    got = admin.get(api(hr, "settings/llm"))

    # then
    assert put.status_code == 200
    assert secret not in put.content.decode() and secret not in got.content.decode()
    body = got.json()
    assert body["providers"]["anthropic"]["api_key"] == "…1234"
    assert body["effective"]["chain"][0]["provider"] == "anthropic"
    assert body["effective"]["answers_with"] == "model"


def test_settings_are_for_admins_only(hr, client_for):
    # when
    member = client_for(hr, "hr_member").put(
        api(hr, "settings/llm"), {"provider": "openai"}, format="json"
    )
    auditor = client_for(hr, "hr_auditor").get(api(hr, "settings/llm"))

    # then
    assert member.status_code == 403
    assert auditor.status_code == 403


def test_unknown_provider_is_refused_with_a_message(hr, client_for):
    # when
    response = client_for(hr, "hr_admin").put(
        api(hr, "settings/llm"),
        {"providers": {"mistral": {"api_key": "x"}}},
        format="json",
    )

    # then
    assert response.status_code == 400
    assert "Unknown provider mistral" in response.content.decode()


def test_the_stored_key_is_encrypted_at_rest(hr, fake, in_schema):
    # given
    configure(hr, fake, "openai", api_key="sk-plaintext-never-stored")

    # when
    with in_schema(hr):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT api_key_encrypted FROM llm_providersetting")
            stored = cursor.fetchone()[0]

    # then
    assert "sk-plaintext" not in stored
    assert stored.startswith("gAAAA")
