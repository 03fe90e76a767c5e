"""Appends racing each other from several connections still form one chain."""

import threading

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from audit.models import AuditEntry
from audit.trail import record
from tests.audit.tampering import tamper
from tests.audit.test_trail import chain_breaks


@pytest.fixture
def db(committed_db) -> None:  # type: ignore[no-untyped-def]
    """Commits, so each thread's connection sees the others' entries."""


def test_concurrent_appends_keep_one_chain(db):
    # given
    from tenants.models import Tenant

    schema = Tenant.objects.get(slug="hr").schema_name
    with schema_context(schema):
        tamper("DELETE FROM audit_auditentry")

    def append(count: int) -> None:
        with schema_context(schema):
            for number in range(count):
                record("test.race", details={"n": number})
        connection.close()

    # when
    threads = [threading.Thread(target=append, args=(25,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then
    with schema_context(schema):
        entries = list(AuditEntry.objects.order_by("id"))
        tamper("DELETE FROM audit_auditentry")
    assert len(entries) == 100
    assert chain_breaks(entries) is None
