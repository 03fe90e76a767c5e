"""verify_audit names the first modified, deleted or inserted entry."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit.models import AuditEntry
from audit.trail import entry_hash, record
from audit.verify import Break, verify_trail
from tests.audit.tampering import tamper


@pytest.fixture
def three(hr, in_schema):  # type: ignore[no-untyped-def]
    with in_schema(hr):
        entries = [record(f"test.n{n}", details={"n": n}) for n in range(3)]
    return entries


def test_an_untouched_trail_is_intact(hr, in_schema, three, capsys):
    # when
    call_command("verify_audit", "hr")

    # then
    out = capsys.readouterr().out
    assert "hr: audit chain intact, " in out
    assert three[-1].entry_hash in out


def test_a_row_changed_by_hand_is_reported(hr, in_schema, three):
    # given
    with in_schema(hr):
        tamper(
            "UPDATE audit_auditentry SET details = '{\"n\": 9}' WHERE id = %s",
            [three[1].id],
        )

    # when
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit", "hr")

    # then
    assert f"BROKEN at entry #{three[1].id} (modified)" in str(caught.value)


def test_a_deleted_row_is_reported_at_the_next_entry(hr, in_schema, three):
    # given
    with in_schema(hr):
        tamper("DELETE FROM audit_auditentry WHERE id = %s", [three[1].id])

        # when
        verdict = verify_trail()

    # then
    assert (verdict.broken_at, verdict.kind) == (three[2].id, Break.DELETED)
    assert verdict.checked == 1


def test_a_slipped_in_row_with_a_valid_hash_is_reported(hr, in_schema, three):
    # given: a forger who knows the scheme links a row to entry 0 and burns
    # an id so it sits between entries 0 and 1.
    with in_schema(hr):
        forged = AuditEntry(
            created_at=three[0].created_at,
            action="test.forged",
            outcome="success",
            details={},
        )
        _insert_between(forged, three[0])

        # when
        verdict = verify_trail()

    # then
    assert verdict.kind == Break.INSERTED
    assert verdict.broken_at == forged.id


def test_a_slipped_in_row_with_a_made_up_hash_is_reported(hr, in_schema, three):
    # given
    with in_schema(hr):
        forged = AuditEntry(
            created_at=three[0].created_at, action="test.forged", outcome="success"
        )
        _insert_between(forged, three[0], previous_hash="f" * 64)

        # when
        verdict = verify_trail()

    # then
    assert (verdict.broken_at, verdict.kind) == (forged.id, Break.INSERTED)


def test_an_unknown_tenant_is_an_error(db):
    with pytest.raises(CommandError, match="No tenant"):
        call_command("verify_audit", "nowhere")


def _insert_between(
    forged: AuditEntry, after: AuditEntry, previous_hash: str | None = None
) -> None:
    forged.previous_hash = previous_hash or after.entry_hash
    forged.entry_hash = entry_hash(forged.previous_hash, forged)
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id) FROM audit_auditentry")
        (last_id,) = cursor.fetchone()
    # Move every later row up by one (behind the triggers' back) to free
    # the id after `after`.
    forged.id = after.id + 1
    tamper(
        "UPDATE audit_auditentry SET id = id + 1000 WHERE id > %s;"
        "UPDATE audit_auditentry SET id = id - 999 WHERE id > %s",
        [after.id, last_id],
    )
    tamper(
        "INSERT INTO audit_auditentry (id, created_at, actor_id, actor, action, "
        "outcome, request_id, client_ip, details, previous_hash, entry_hash) "
        "VALUES (%s, %s, NULL, '', %s, %s, '', NULL, '{}', %s, %s)",
        [
            forged.id,
            forged.created_at,
            forged.action,
            forged.outcome,
            forged.previous_hash,
            forged.entry_hash,
        ],
    )


def test_addresses_are_hashed_as_the_database_keeps_them(hr, in_schema):
    # given
    with in_schema(hr):
        record("test.v6", client_ip="2001:DB8:0:0::1")
        record("test.v4", client_ip="10.0.0.7")
        record("test.mapped", client_ip="::FFFF:10.0.0.7")
        record("test.zoned", client_ip="fe80::1%eth0")

        # when
        verdict = verify_trail()

    # then
    assert verdict.intact
    with in_schema(hr):
        assert AuditEntry.objects.get(action="test.zoned").client_ip == "fe80::1"
