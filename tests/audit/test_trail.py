"""The audit trail's hash chain, also when appends race each other."""

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AppendOnly, AuditEntry
from audit.trail import GENESIS_HASH, entry_hash, record
from tests.audit.tampering import tamper


def chain_breaks(entries):  # type: ignore[no-untyped-def]
    previous = GENESIS_HASH
    for entry in entries:
        if entry.previous_hash != previous or entry.entry_hash != entry_hash(
            previous, entry
        ):
            return entry.id
        previous = entry.entry_hash
    return None


def test_each_entry_is_chained_to_the_one_before(hr, in_schema):
    # when
    with in_schema(hr):
        record(
            "test.first",
            details={"n": 1, "cost_usd": "0.0012", "nested": {"a": [1, 2]}},
        )
        record("test.second", actor_id=7, actor="someone", client_ip="10.0.0.1")
        entries = list(AuditEntry.objects.order_by("id"))

    # then
    assert [e.action for e in entries][-2:] == ["test.first", "test.second"]
    assert chain_breaks(entries) is None


def test_a_row_changed_by_hand_breaks_the_chain(hr, in_schema):
    # given
    with in_schema(hr):
        first = record("test.first", details={"tokens": 10})
        record("test.second")

        # when
        tamper(
            "UPDATE audit_auditentry SET details = '{\"tokens\": 1}' WHERE id = %s",
            [first.id],
        )
        entries = list(AuditEntry.objects.order_by("id"))

    # then
    assert chain_breaks(entries) == first.id


def test_tenants_have_separate_chains(hr, support, in_schema):
    # when
    with in_schema(hr):
        hr_entry = record("test.hr")
    with in_schema(support):
        support_entry = record("test.support")
        support_actions = set(AuditEntry.objects.values_list("action", flat=True))

    # then
    assert "test.hr" not in support_actions
    assert hr_entry.previous_hash == GENESIS_HASH
    assert support_entry.previous_hash == GENESIS_HASH


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditentry SET actor = 'someone else'",
        "DELETE FROM audit_auditentry",
        "TRUNCATE audit_auditentry",
    ],
    ids=["update_case", "delete_case", "truncate_case"],
)
def test_the_database_refuses_changes(hr, in_schema, statement):
    # given
    with in_schema(hr):
        record("test.kept")

        # when
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)

        # then
        assert AuditEntry.objects.filter(action="test.kept").count() == 1


def test_the_orm_refuses_changes(hr, in_schema):
    # given
    with in_schema(hr):
        entry = record("test.kept")
        loaded = AuditEntry.objects.get(id=entry.id)

        # when / then
        with pytest.raises(AppendOnly):
            AuditEntry.objects.filter(id=entry.id).update(actor="x")
        with pytest.raises(AppendOnly):
            AuditEntry.objects.filter(id=entry.id).delete()
        with pytest.raises(AppendOnly):
            loaded.save()
        with pytest.raises(AppendOnly):
            loaded.delete()
