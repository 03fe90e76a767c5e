"""The auditor API: filters, cursor pages, CSV and JSONL exports, who may read."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEntry
from audit.trail import record
from tests.audit.tampering import tamper
from tests.conftest import api


@pytest.fixture
def trail(hr, in_schema):  # type: ignore[no-untyped-def]
    with in_schema(hr):
        record("llm.call", actor="hr_member", actor_id=11, details={"tokens": 5})
        record("llm.call", outcome="error", actor="hr_member", actor_id=11)
        record("document.upload", actor="hr_admin", actor_id=10)
        record("settings.llm.update", actor="hr_admin", details={"x": "=1+1"})


def test_an_auditor_filters_by_action_outcome_and_actor(hr, trail, client_for):
    # given
    auditor = client_for(hr, "hr_auditor")

    # when
    by_action = auditor.get(api(hr, "audit"), {"action": "llm.*"})
    by_outcome = auditor.get(api(hr, "audit"), {"outcome": "error"})
    by_actor = auditor.get(api(hr, "audit"), {"actor": "hr_admin"})

    # then
    assert [e["action"] for e in by_action.json()["entries"]] == ["llm.call"] * 2
    assert [e["outcome"] for e in by_outcome.json()["entries"]] == ["error"]
    assert {e["actor"] for e in by_actor.json()["entries"]} == {"hr_admin"}


def test_pages_follow_the_cursor_from_newest_to_oldest(hr, trail, client_for):
    # given
    auditor = client_for(hr, "hr_auditor")

    # when
    first = auditor.get(api(hr, "audit"), {"limit": 3}).json()
    second = auditor.get(
        api(hr, "audit"), {"limit": 3, "cursor": first["next_cursor"]}
    ).json()

    # then
    ids = [e["id"] for e in first["entries"] + second["entries"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == len(ids) >= 4
    assert second["next_cursor"] is None


def test_a_time_range_is_half_open(hr, trail, client_for, in_schema):
    # given
    with in_schema(hr):
        newest = AuditEntry.objects.order_by("-id").first()
    auditor = client_for(hr, "hr_auditor")

    # when
    body = auditor.get(
        api(hr, "audit"), {"until": newest.created_at.isoformat()}
    ).json()

    # then
    assert newest.id not in [e["id"] for e in body["entries"]]


def test_the_jsonl_export_can_be_checked_offline(hr, trail, client_for):
    # given
    auditor = client_for(hr, "hr_auditor")

    # when
    response = auditor.get(api(hr, "audit/export"), {"file": "jsonl"})

    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    rows = [
        json.loads(line) for line in b"".join(response.streaming_content).splitlines()
    ]
    assert len(rows) >= 4
    assert all(
        b["previous_hash"] == a["entry_hash"]
        for a, b in zip(rows, rows[1:], strict=False)
    )


def test_the_csv_export_defuses_formulas_and_is_itself_audited(
    hr, trail, client_for, in_schema
):
    # given
    auditor = client_for(hr, "hr_auditor")

    # when
    response = auditor.get(
        api(hr, "audit/export"), {"file": "csv", "action": "settings.*"}
    )
    text = b"".join(response.streaming_content).decode()

    # then
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["action"] for row in rows] == ["settings.llm.update"]
    assert json.loads(rows[0]["details"]) == {"x": "=1+1"}
    assert 'attachment; filename="audit-hr-' in response["Content-Disposition"]
    with in_schema(hr):
        export = AuditEntry.objects.get(action="audit.export")
    assert export.actor == "hr_auditor"
    assert export.details["file"] == "csv"


def test_an_exported_trail_then_a_row_changed_in_sql_is_caught(
    hr, trail, client_for, in_schema
):
    # given
    auditor = client_for(hr, "hr_auditor")
    exported = auditor.get(api(hr, "audit/export"), {"file": "jsonl"})
    first = json.loads(b"".join(exported.streaming_content).splitlines()[0])

    # when
    with in_schema(hr):
        tamper(
            "UPDATE audit_auditentry SET actor = 'nobody' WHERE id = %s",
            [first["id"]],
        )

    # then
    with pytest.raises(CommandError, match=f"entry #{first['id']} \\(modified\\)"):
        call_command("verify_audit", "hr")


@pytest.mark.parametrize(
    "path",
    ["audit", "audit/export", "audit/1"],
    ids=["list_case", "export_case", "entry_case"],
)
def test_members_see_nothing_of_the_trail(hr, trail, client_for, path):
    # when
    response = client_for(hr, "hr_member").get(api(hr, path))

    # then
    assert response.status_code == 403
    assert b"llm.call" not in response.content


def test_an_auditor_cannot_change_audit_settings(hr, client_for, in_schema):
    # when
    response = client_for(hr, "hr_auditor").put(
        api(hr, "settings/audit"), {"record_chat_text": True}, format="json"
    )

    # then
    assert response.status_code == 403
    with in_schema(hr):
        from audit.models import AuditSettings

        assert AuditSettings.current().record_chat_text is False


def test_an_admin_turns_chat_text_on_and_the_change_is_audited(
    hr, client_for, in_schema
):
    # when
    response = client_for(hr, "hr_admin").put(
        api(hr, "settings/audit"), {"record_chat_text": True}, format="json"
    )

    # then
    assert response.json() == {"record_chat_text": True}
    with in_schema(hr):
        change = AuditEntry.objects.get(action="settings.audit.update")
    assert change.details == {
        "before": {"record_chat_text": False},
        "after": {"record_chat_text": True},
    }
    assert change.actor == "hr_admin"


def test_an_unknown_entry_is_a_404(hr, client_for):
    response = client_for(hr, "hr_auditor").get(api(hr, "audit/999999"))

    assert response.status_code == 404
