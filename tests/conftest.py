"""Shared fixtures: two department tenants with one user per role, and API clients.

The tenants are created once per test session in the test database; each
test runs inside a transaction that is rolled back, schemas included.
"""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from tenants.actions import add_member, provision_tenant
from tenants.models import Role, Tenant
from tenants.tokens import tokens_for
from tests.corpus import CORPUS_DIR

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "demo" / "samples"
PASSWORD = "correct-horse-battery"

# Tests that read the shared corpora cannot even be collected without them.
CORPUS_MODULES = [
    "rag/test_parsing.py",
    "rag/test_chunking.py",
    "rag/test_ingestion_api.py",
]
collect_ignore = [] if CORPUS_DIR.is_dir() else CORPUS_MODULES


def pytest_report_header() -> str:
    if CORPUS_DIR.is_dir():
        return f"corpus: {CORPUS_DIR}"
    return f"corpus: {CORPUS_DIR} is missing; set CORPUS_DIR. Not collected: {CORPUS_MODULES}"


# The attack suite's line "routes N, attempts M, leaks L", shown after the run.
ATTACK_SUMMARY = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    line = config.stash.get(ATTACK_SUMMARY, None)
    if line:
        terminalreporter.write_sep("-", line)


# username -> (tenant slug, role); "dana" works in both departments.
PEOPLE = {
    "hr_admin": [("hr", Role.ADMIN)],
    "hr_member": [("hr", Role.MEMBER)],
    "hr_auditor": [("hr", Role.AUDITOR)],
    "support_admin": [("support", Role.ADMIN)],
    "support_member": [("support", Role.MEMBER)],
    "dana": [("hr", Role.MEMBER), ("support", Role.ADMIN)],
}


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    with django_db_blocker.unblock():
        # Never seed the development database by accident.
        assert connection.settings_dict["NAME"].startswith("test_")
        for slug in ("hr", "support"):
            provision_tenant(slug, slug.upper())
        for username, memberships in PEOPLE.items():
            for slug, role in memberships:
                add_member(Tenant.objects.get(slug=slug), username, role, PASSWORD)
        connection.set_schema_to_public()


@pytest.fixture(autouse=True)
def forget_process_state() -> None:
    """Caches outlive each test's rolled-back transaction; start every test clean."""
    from django.core.cache import cache

    from llm.resilience import reset_breakers
    from rag.spelling import forget_vocabularies
    from tenants.middleware import forget_cached_tenants
    from tenants.quotas import forget_cached_quota, forget_local_counters

    cache.clear()
    reset_breakers()
    forget_cached_tenants()
    forget_local_counters()
    forget_cached_quota()
    forget_vocabularies()


@pytest.fixture
def committed_db(django_db_setup, django_db_blocker) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Database access that commits, so other threads and processes see every write.

    Modules that need it name it as their `db` fixture. The name `db` still
    makes pytest-django create the test database, but nothing is rolled back,
    so fixtures remove what they make. (`transactional_db` is no way out: its
    flush would also wipe the tenants made once per session.)
    """
    with django_db_blocker.unblock():
        try:
            yield
        finally:
            connection.set_schema_to_public()


@pytest.fixture
def hr(db) -> Tenant:  # type: ignore[no-untyped-def]
    return Tenant.objects.get(slug="hr")


@pytest.fixture
def support(db) -> Tenant:  # type: ignore[no-untyped-def]
    return Tenant.objects.get(slug="support")


def access_token(tenant: Tenant, username: str) -> str:
    membership = tenant.memberships.select_related("user", "tenant").get(
        user__username=username
    )
    return str(tokens_for(membership).access_token)


def signed_in(tenant: Tenant, username: str, header: str | None = None) -> APIClient:
    """An API client signed in as `username` at `tenant`, sending its header."""
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {access_token(tenant, username)}",
        HTTP_X_TENANT_ID=header if header is not None else tenant.slug,
    )
    return client


@pytest.fixture
def client_for(db) -> Callable[..., APIClient]:  # type: ignore[no-untyped-def]
    """`signed_in`, for tests that use the database."""
    return signed_in


def api(tenant: Tenant, path: str) -> str:
    return f"/t/{tenant.slug}/api/v1/{path.lstrip('/')}"


@pytest.fixture
def in_schema() -> Callable[[Tenant], object]:
    """Context manager to read a tenant's tables directly in a test."""
    return lambda tenant: schema_context(tenant.schema_name)
