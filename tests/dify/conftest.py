"""A local Dify app per test session, and tenants connected to it."""

from collections.abc import Callable, Iterator

import pytest

from tenants.models import Tenant
from tests.conftest import api, signed_in
from tests.fakes.dify import FakeDify

DIFY_KEY = "app-hr-secret-key-0001"


@pytest.fixture(scope="session")
def dify_server() -> Iterator[FakeDify]:
    with FakeDify(api_key=DIFY_KEY) as server:
        yield server


@pytest.fixture
def dify(dify_server: FakeDify) -> Iterator[FakeDify]:
    dify_server.reset()
    yield dify_server
    dify_server.reset()


def connect(tenant: Tenant, base_url: str, **changes: object) -> dict[str, object]:
    """Connect the tenant's Dify app as its admin would, through the API."""
    admin = {"hr": "hr_admin", "support": "support_admin"}[tenant.slug]
    response = signed_in(tenant, admin).put(
        api(tenant, "settings/dify"),
        {"base_url": base_url, "api_key": DIFY_KEY, **changes},
        format="json",
    )
    assert response.status_code == 200, response.content
    return dict(response.json())


@pytest.fixture
def connected(dify: FakeDify, hr: Tenant, support: Tenant) -> Callable[..., None]:
    def _connect(*tenants: Tenant, **changes: object) -> None:
        for tenant in tenants or (hr, support):
            connect(tenant, dify.base_url, **changes)

    return _connect
