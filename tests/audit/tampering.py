"""Change audit rows the way an operator with database rights would.

The append-only triggers refuse UPDATE, DELETE and TRUNCATE from the
application's connection. The table's owner (or a superuser) can still
switch them off, so tamper-evidence rests on the hash chain, which these
helpers are for: they change rows behind the triggers' back inside the
caller's transaction, so the test's rollback undoes the change.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def triggers_off() -> Iterator[None]:
    """Run SQL against audit_auditentry with its user triggers disabled."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")
        try:
            yield
        finally:
            cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER USER")


def tamper(sql: str, params: list[object] | None = None) -> None:
    with triggers_off(), connection.cursor() as cursor:
        cursor.execute(sql, params or [])
