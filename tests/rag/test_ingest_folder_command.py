"""The ingest_folder command leaves every supported file ingested when it exits."""

from io import StringIO

from django.core.management import call_command

from tests.conftest import api


def test_thread_backend_ingests_before_the_command_exits(
    hr, support, client_for, settings, tmp_path
):
    # given: a folder of two policies and a spreadsheet, and the backend that
    # would hand the work to a thread of this short-lived process
    (tmp_path / "badges.md").write_text("# Badges\n\nBadges are renewed every May.")
    (tmp_path / "parking.txt").write_text("Parking permits cost 20 EUR a month.")
    (tmp_path / "budget.xlsx").write_bytes(b"PK\x03\x04 not a document we read")
    settings.RAG = {**settings.RAG, "INGESTION_BACKEND": "thread"}

    # when
    out = StringIO()
    call_command(
        "ingest_folder",
        str(tmp_path),
        tenant="hr",
        knowledge_base="Handbook",
        stdout=out,
    )

    # then: both documents are ready, nothing is left queued, the spreadsheet is skipped
    assert "hr/Handbook: 2 ready, 0 failed, 0 queued for the workers, 1 skipped" in (
        out.getvalue()
    )
    hr_bases = client_for(hr, "hr_admin").get(api(hr, "knowledge-bases")).json()
    assert [kb["name"] for kb in hr_bases["knowledge_bases"]] == ["Handbook"]


def test_the_folder_goes_to_the_named_tenant_only(
    hr, support, client_for, settings, tmp_path
):
    (tmp_path / "badges.md").write_text("Badges are renewed every May.")
    settings.RAG = {**settings.RAG, "INGESTION_BACKEND": "thread"}

    call_command(
        "ingest_folder",
        str(tmp_path),
        tenant="hr",
        knowledge_base="Handbook",
        stdout=StringIO(),
    )

    support_client = client_for(support, "support_admin")
    listed = support_client.get(api(support, "knowledge-bases")).json()
    assert "Handbook" not in [kb["name"] for kb in listed["knowledge_bases"]]
    answer = support_client.post(
        api(support, "chat"), {"query": "When are badges renewed?"}, format="json"
    ).json()
    assert "May" not in answer["answer"]
    assert answer["citations"] == []
