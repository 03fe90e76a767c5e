"""A local server speaking OpenAI, Anthropic and Gemini, and tenant set-up helpers."""

from collections.abc import Iterator
from typing import Any

import pytest
from django_tenants.utils import schema_context

from llm.settings_api import update_settings
from tenants.models import Tenant
from tests.fakes.providers import FakeProviders


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeProviders]:
    with FakeProviders() as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeProviders) -> Iterator[FakeProviders]:
    fake_server.reset()
    yield fake_server
    fake_server.reset()


def base_url_for(fake: FakeProviders, provider: str) -> str:
    """Where each official SDK expects its API root."""
    if provider in ("openai", "openai_compatible"):
        return f"{fake.base_url}/v1"
    return fake.base_url


def configure(
    tenant: Tenant,
    fake: FakeProviders,
    provider: str,
    *,
    fallbacks: tuple[str, ...] = (),
    api_key: str = "",
    **changes: Any,
) -> dict[str, Any]:
    """Point a tenant at the fake server with its own key for each provider."""
    providers = {
        name: {
            "api_key": api_key or f"sk-{tenant.slug}-{name}-secret",
            "base_url": base_url_for(fake, name),
        }
        for name in (provider, *fallbacks)
    }
    with schema_context(tenant.schema_name):
        return update_settings(
            {
                "provider": provider,
                "fallbacks": list(fallbacks),
                "providers": providers,
                **changes,
            },
            actor_id=None,
            actor="test",
        )
