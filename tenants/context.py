"""The tenant the database connection is currently bound to.

django-tenants sets `connection.tenant` and `connection.schema_name` for each
request and task; these helpers give them a type and one name.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

from django.db import connection
from django_tenants.utils import schema_context

from tenants.models import Tenant

PUBLIC_SCHEMA = "public"


def current_schema() -> str:
    return cast(str, getattr(connection, "schema_name", PUBLIC_SCHEMA))


def current_tenant() -> Tenant:
    """The resolved tenant; raises outside a tenant's schema."""
    schema_name = current_schema()
    if schema_name == PUBLIC_SCHEMA:
        raise RuntimeError("No tenant is active on this database connection.")

    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Tenant):
        return tenant
    # schema_context() (tasks, commands) binds a stand-in that has only the
    # schema name.
    found: Tenant = Tenant.objects.get(schema_name=schema_name)
    return found


def use_public_schema() -> None:
    connection.set_schema_to_public()  # type: ignore[attr-defined]


@contextmanager
def in_schema_of(tenant: Tenant) -> Iterator[None]:
    """Run in the tenant's schema; free when the connection is already there."""
    if current_schema() == tenant.schema_name:
        yield
        return
    with schema_context(tenant.schema_name):
        yield
