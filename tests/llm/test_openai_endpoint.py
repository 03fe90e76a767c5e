"""The OpenAI-compatible endpoint, driven by the official openai SDK.

The SDK talks HTTP to the platform's WSGI application in the same process,
so each test still runs in its rolled-back transaction.
"""

import httpx2
import openai
import pytest
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections

from audit.models import AuditEntry
from tenants.api_keys import issue_api_key
from tests.conftest import api
from tests.fakes.providers import Fail, Reply
from tests.llm.conftest import configure


def platform_client(tenant, key):  # type: ignore[no-untyped-def]
    transport = httpx2.WSGITransport(app=get_wsgi_application())
    return openai.OpenAI(
        api_key=key,
        base_url=f"http://testserver/t/{tenant.slug}/llm/v1",
        http_client=httpx2.Client(transport=transport),
        max_retries=0,
    )


@pytest.fixture(autouse=True)
def keep_the_test_connection():  # type: ignore[no-untyped-def]
    """A real WSGI request closes old connections; the test's transaction must live on."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def hr_key(hr):  # type: ignore[no-untyped-def]
    _, plaintext = issue_api_key(hr, "dify", ["llm"], created_by=None)
    return plaintext


def test_difys_credential_check_gets_a_chat_completion(hr, hr_key, fake):
    # given
    configure(hr, fake, "anthropic")

    # when: Dify validates credentials with a tiny blocking call
    completion = platform_client(hr, hr_key).chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "ping"}], max_tokens=5
    )

    # then
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content
    assert completion.usage.prompt_tokens > 0


def test_streams_with_usage_in_the_final_chunk(hr, hr_key, fake, in_schema):
    # given
    configure(hr, fake, "openai")
    fake.script("openai", Reply(text="One two three", input_tokens=50, output_tokens=3))

    # when
    chunks = list(
        platform_client(hr, hr_key).chat.completions.create(
            model="heavy",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Count to three."},
            ],
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    # then
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "One two three"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.prompt_tokens == 50
    assert chunks[-1].usage.completion_tokens == 3
    with in_schema(hr):
        entry = AuditEntry.objects.filter(action="llm.call").last()
    assert entry is not None and entry.actor.startswith("api-key:")
    assert entry.details["streamed"] is True


def test_models_lists_the_routed_names_and_configured_models(hr, hr_key, fake):
    # given
    configure(hr, fake, "gemini")

    # when
    models = [m.id for m in platform_client(hr, hr_key).models.list()]

    # then
    assert models[:3] == ["auto", "light", "heavy"]
    assert "gemini-2.5-pro" in models


def test_another_tenants_key_is_refused(hr, support, fake):
    # given
    configure(hr, fake, "openai")
    _, support_key = issue_api_key(support, "theirs", ["llm"], created_by=None)

    # when / then
    with pytest.raises(openai.AuthenticationError):
        platform_client(hr, support_key).chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}]
        )
    assert fake.requests == []


def test_a_key_without_the_llm_scope_is_refused(hr, fake):
    # given
    configure(hr, fake, "openai")
    _, retrieval_key = issue_api_key(
        hr, "retrieval only", ["retrieval"], created_by=None
    )

    # when / then
    with pytest.raises(openai.PermissionDeniedError):
        platform_client(hr, retrieval_key).models.list()


def test_a_users_jwt_is_not_an_api_key(hr, fake, client_for):
    # given
    configure(hr, fake, "openai")

    # when
    response = client_for(hr, "hr_admin").post(
        f"/t/{hr.slug}/llm/v1/chat/completions",
        {"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
        format="json",
    )

    # then
    assert response.status_code == 401


def test_no_provider_configured_is_a_clear_503(hr, hr_key):
    # when / then
    with pytest.raises(openai.APIStatusError) as raised:
        platform_client(hr, hr_key).chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}]
        )
    assert raised.value.status_code == 503
    assert "No language model provider" in raised.value.message


def test_unsupported_content_gets_a_400_naming_the_problem(hr, hr_key, fake):
    # given
    configure(hr, fake, "openai")

    # when / then
    with pytest.raises(openai.BadRequestError) as raised:
        platform_client(hr, hr_key).chat.completions.create(
            model="auto",
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "x"}}],
                }
            ],
        )
    assert "Only text content" in str(raised.value)


def test_provider_failure_is_a_502_with_the_platforms_error(hr, hr_key, fake):
    # given
    configure(hr, fake, "openai")
    fake.script("openai", Fail(500), Fail(500), Fail(500))

    # when / then
    with pytest.raises(openai.APIStatusError) as raised:
        platform_client(hr, hr_key).chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}]
        )
    assert raised.value.status_code == 502


def test_admins_manage_keys_and_see_each_key_once(hr, client_for):
    # given
    admin = client_for(hr, "hr_admin")

    # when
    created = admin.post(
        api(hr, "api-keys"), {"name": "dify", "scopes": ["llm"]}, format="json"
    )
    listed = admin.get(api(hr, "api-keys")).json()
    revoked = admin.delete(api(hr, f"api-keys/{created.json()['id']}"))
    member = client_for(hr, "hr_member").get(api(hr, "api-keys"))

    # then
    key = created.json()["key"]
    assert created.status_code == 201 and key.startswith("pk_")
    assert key not in str(listed)
    assert revoked.status_code == 204
    assert member.status_code == 403


def test_another_tenants_key_id_cannot_be_revoked(hr, support, client_for):
    # given
    api_key, _ = issue_api_key(hr, "hr's", ["llm"], created_by=None)

    # when
    response = client_for(support, "support_admin").delete(
        api(support, f"api-keys/{api_key.id}")
    )

    # then
    api_key.refresh_from_db()
    assert response.status_code == 404
    assert api_key.revoked_at is None
