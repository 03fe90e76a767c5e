"""Start-up check: the database must offer the pgvector extension."""

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register
from django.db import connection
from django.db.utils import OperationalError

PGVECTOR_MISSING = (
    "The database has no pgvector extension available. Install pgvector for this "
    "Postgres server (e.g. the postgresql-<version>-pgvector package) or unset "
    "DATABASE_URL to use the embedded Postgres that ships with it."
)


def pgvector_available(cursor: Any) -> bool:
    cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    return cursor.fetchone() is not None


@register(Tags.database)
def check_pgvector(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        with connection.cursor() as cursor:
            available = pgvector_available(cursor)
    except OperationalError as exc:
        return [Error(f"Cannot reach the database: {exc}", id="tenants.E002")]

    if available:
        return []
    return [Error(PGVECTOR_MISSING, id="tenants.E001")]
