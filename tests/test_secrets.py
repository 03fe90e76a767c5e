"""Secrets at rest: rotation to a new key, and no secret in any log, stream or body."""

import io
import logging
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from dify.models import DifyConnection
from llm.models import ProviderSetting
from tenants.api_keys import issue_api_key
from tests.conftest import api
from tests.dify import conftest as dify_fixtures
from tests.dify.conftest import DIFY_KEY
from tests.fakes.providers import Fail, Reply
from tests.llm import conftest as llm_fixtures
from tests.llm.conftest import base_url_for

fake_server, fake = llm_fixtures.fake_server, llm_fixtures.fake
dify_server, dify = dify_fixtures.dify_server, dify_fixtures.dify

PROVIDER_KEY = "sk-live-provider-key-7f3a9c0e5d1b"
SECOND_PROVIDER_KEY = "sk-ant-second-key-4e8d2b6a0c9f"


def set_provider(client, tenant, fake, provider, key):  # type: ignore[no-untyped-def]
    return client.put(
        api(tenant, "settings/llm"),
        {
            "provider": provider,
            "providers": {
                provider: {"api_key": key, "base_url": base_url_for(fake, provider)}
            },
        },
        format="json",
    )


def set_dify(client, tenant, dify, key=DIFY_KEY):  # type: ignore[no-untyped-def]
    return client.put(
        api(tenant, "settings/dify"),
        {"base_url": dify.base_url, "api_key": key},
        format="json",
    )


# --- Rotation ------------------------------------------------------------------------


def test_rotate_secrets_moves_every_schema_to_the_newest_key(
    hr, support, client_for, fake, dify, settings
):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SECRETS_ENCRYPTION_KEYS = [old]
    set_provider(client_for(hr, "hr_admin"), hr, fake, "openai", PROVIDER_KEY)
    set_dify(client_for(support, "support_admin"), support, dify)

    settings.SECRETS_ENCRYPTION_KEYS = [new, old]
    first, second = StringIO(), StringIO()
    call_command("rotate_secrets", stdout=first)
    call_command("rotate_secrets", stdout=second)
    settings.SECRETS_ENCRYPTION_KEYS = [new]

    assert "total: 2 rotated, 0 already current, 0 unreadable" in first.getvalue()
    assert "total: 0 rotated, 2 already current" in second.getvalue()
    with schema_context(hr.schema_name):
        assert ProviderSetting.objects.get(provider="openai").api_key == PROVIDER_KEY
    with schema_context(support.schema_name):
        assert DifyConnection.objects.get().api_key == DIFY_KEY
    assert PROVIDER_KEY not in first.getvalue() + second.getvalue()


def test_rotate_secrets_reports_a_secret_no_key_can_read(
    hr, client_for, fake, settings
):
    settings.SECRETS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    set_provider(client_for(hr, "hr_admin"), hr, fake, "openai", PROVIDER_KEY)
    settings.SECRETS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    out, err = StringIO(), StringIO()

    call_command("rotate_secrets", stdout=out, stderr=err)

    assert "1 unreadable" in out.getvalue()
    assert "set them again" in err.getvalue()


# --- Nothing secret in the output ----------------------------------------------------------


@pytest.fixture
def all_log_output():  # type: ignore[no-untyped-def]
    """Every record of every logger, at every level, as the project formats it."""
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(root.handlers[0].formatter)
    handler.setLevel(logging.DEBUG)
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.setLevel(previous)
    root.removeHandler(handler)


def test_main_flows_never_show_a_secret(  # type: ignore[no-untyped-def]
    hr, client_for, fake, dify, all_log_output, capfd
):
    admin, member = client_for(hr, "hr_admin"), client_for(hr, "hr_member")
    _, tenant_api_key = issue_api_key(hr, "svc", ["llm"], created_by=None)
    jwt = member._credentials["HTTP_AUTHORIZATION"].split()[1]
    bodies: list[bytes] = []

    def keep(response):  # type: ignore[no-untyped-def]
        content = (
            b"".join(response.streaming_content)
            if response.streaming
            else response.content
        )
        bodies.append(content)
        return response

    # the admin sets provider keys and reads the settings back
    keep(set_provider(admin, hr, fake, "openai", PROVIDER_KEY))
    keep(admin.get(api(hr, "settings/llm")))
    # chat answered by the provider, streamed and not
    keep(member.post(api(hr, "chat"), {"query": "annual leave"}, format="json"))
    keep(
        member.post(
            api(hr, "chat"), {"query": "annual leave", "stream": True}, format="json"
        )
    )
    # provider failures: refused key, server errors, a cut stream
    fake.script("openai", Fail(401), Fail(500), Fail(500), Fail(500))
    keep(member.post(api(hr, "chat"), {"query": "leave"}, format="json"))
    keep(member.post(api(hr, "chat"), {"query": "leave"}, format="json"))
    # the OpenAI-compatible endpoint with a tenant API key, and a wrong one
    openai_client = APIClient()
    for key in (tenant_api_key, tenant_api_key[:-4] + "zzzz"):
        fake.script("openai", Reply(text="hi"))
        keep(
            openai_client.post(
                f"/t/{hr.slug}/llm/v1/chat/completions",
                {"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
                format="json",
                HTTP_AUTHORIZATION=f"Bearer {key}",
            )
        )
    # a second provider key replaces the first
    keep(set_provider(admin, hr, fake, "anthropic", SECOND_PROVIDER_KEY))
    # Dify settings with a key, a relayed chat, and a key Dify refuses
    keep(set_dify(admin, hr, dify))
    keep(admin.get(api(hr, "settings/dify")))
    keep(member.post(api(hr, "dify/chat-messages"), {"query": "hi"}, format="json"))
    keep(set_dify(admin, hr, dify, key="app-wrong-key-000000000"))
    keep(member.post(api(hr, "dify/chat-messages"), {"query": "hi"}, format="json"))

    logs = all_log_output.getvalue()
    captured = capfd.readouterr()
    everything = logs + captured.out + captured.err + b"".join(bodies).decode()
    assert "llm.call" in logs  # the flows did log
    for secret in (
        PROVIDER_KEY,
        SECOND_PROVIDER_KEY,
        DIFY_KEY,
        "app-wrong-key-000000000",
        tenant_api_key,
        tenant_api_key.rsplit("_", 1)[1],
        jwt,
    ):
        assert secret not in everything


# --- Masked keys sent back --------------------------------------------------------


def test_settings_sent_back_as_shown_keep_the_stored_keys(
    hr, client_for, fake, dify, in_schema
):
    # given
    admin = client_for(hr, "hr_admin")
    set_provider(admin, hr, fake, "openai", PROVIDER_KEY)
    set_dify(admin, hr, dify)
    shown_llm = admin.get(api(hr, "settings/llm")).json()
    shown_dify = admin.get(api(hr, "settings/dify")).json()

    # when: each GET body is PUT back unchanged, masks included
    llm_reply = admin.put(api(hr, "settings/llm"), shown_llm, format="json")
    dify_reply = admin.put(api(hr, "settings/dify"), shown_dify, format="json")

    # then
    assert llm_reply.status_code == 200, llm_reply.content
    assert dify_reply.status_code == 200, dify_reply.content
    with in_schema(hr):
        assert ProviderSetting.objects.get(provider="openai").api_key == PROVIDER_KEY
        assert DifyConnection.objects.get().api_key == DIFY_KEY


@pytest.mark.parametrize("key", ["sk-live-key’", "sk live key"])
def test_a_key_that_cannot_go_into_a_header_is_refused(hr, client_for, fake, key):
    # when: a key pasted with a typographic quote, or with a space inside
    response = set_provider(client_for(hr, "hr_admin"), hr, fake, "openai", key)

    # then
    assert response.status_code == 400
    assert "printable ASCII" in response.content.decode()
