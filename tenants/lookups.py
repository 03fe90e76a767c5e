"""The two lookups every tenant API request makes, in plain SQL.

Tenant resolution (path segment to tenant) and the token check (user and
membership) run on every request. On our machines the ORM spends several
times a query's own round trip building these statements, so both are
written out here and the rows are turned into model instances with
`from_db`, the way the ORM itself loads them.
"""

from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Model

from tenants.models import Domain, Membership, Tenant

M = TypeVar("M", bound=Model)


def _columns(model: type[Model], alias: str) -> tuple[list[str], str]:
    fields = model._meta.concrete_fields
    names = [field.attname for field in fields]
    selected = ", ".join(f'{alias}."{field.column}"' for field in fields)
    return names, selected


def _instance(model: type[M], names: list[str], values: tuple[Any, ...]) -> M:
    return model.from_db(connection.alias, names, list(values))


def tenant_for_domain(domain: str) -> Tenant | None:
    """The tenant whose domain (path segment) this is."""
    names, selected = _columns(Tenant, "t")
    sql = (
        f"SELECT {selected} FROM {Tenant._meta.db_table} t "
        f"JOIN {Domain._meta.db_table} d ON d.tenant_id = t.id WHERE d.domain = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [domain])
        row = cursor.fetchone()
    return None if row is None else _instance(Tenant, names, row)


def membership_with_user(user_id: Any, tenant_id: Any) -> Membership | None:
    """The user's membership in the tenant, with the user loaded on it."""
    user_model = get_user_model()
    member_names, member_columns = _columns(Membership, "m")
    user_names, user_columns = _columns(user_model, "u")
    sql = (
        f"SELECT {member_columns}, {user_columns} "
        f"FROM {Membership._meta.db_table} m "
        f"JOIN {user_model._meta.db_table} u ON u.id = m.user_id "
        "WHERE m.user_id = %s AND m.tenant_id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [int(user_id), tenant_id])
        row = cursor.fetchone()
    if row is None:
        return None

    membership = _instance(Membership, member_names, row[: len(member_names)])
    membership.user = _instance(user_model, user_names, row[len(member_names) :])
    return membership
