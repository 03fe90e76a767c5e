"""What lands in the trail: sign-ins, refusals, chat answers, uploads and deletions."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEntry, AuditSettings
from tests.conftest import PASSWORD, api, signed_in
from tests.rag.conftest import ask, text_file, uploaded_documents


def entries(tenant: Any, action: str) -> list[AuditEntry]:
    from django_tenants.utils import schema_context

    with schema_context(tenant.schema_name):
        return list(AuditEntry.objects.filter(action=action).order_by("id"))


def sign_in(tenant: Any, username: str, password: str) -> Any:
    client = APIClient()
    return client.post(
        api(tenant, "auth/token"),
        {"username": username, "password": password},
        format="json",
        HTTP_X_TENANT_ID=tenant.slug,
    )


def test_sign_ins_and_refreshes_are_recorded(hr):
    # when
    signed = sign_in(hr, "hr_member", PASSWORD).json()
    sign_in(hr, "hr_member", "wrong password")
    APIClient().post(
        api(hr, "auth/token/refresh"),
        {"refresh": signed["refresh"]},
        format="json",
        HTTP_X_TENANT_ID="hr",
    )

    # then
    [ok, refused] = entries(hr, "auth.sign_in")
    assert (ok.outcome, ok.actor, ok.details) == (
        "success",
        "hr_member",
        {"role": "member"},
    )
    assert refused.outcome == "denied"
    assert refused.details["reason"] == "invalid_credentials"
    assert refused.details["username"] == "hr_member"
    assert "wrong password" not in str(refused.details)
    [refresh] = entries(hr, "auth.token_refresh")
    assert refresh.outcome == "success"


def test_another_tenants_token_is_recorded_in_the_tenant_it_tried(hr, support):
    # given
    client = signed_in(support, "support_admin", header="hr")

    # when
    response = client.get(api(hr, "knowledge-bases"))

    # then
    assert response.status_code == 403
    [refusal] = entries(hr, "security.token_refused")
    assert refusal.actor == "support_admin"
    assert refusal.details["reason"] == "token_tenant_mismatch"
    assert refusal.details["token_tenant"] == str(support.id)
    assert entries(hr, "access.denied") == []  # recorded once


def test_a_mismatched_header_is_recorded(hr):
    # when
    response = signed_in(hr, "hr_admin", header="support").get(api(hr, "usage"))

    # then
    assert response.status_code == 403
    [refusal] = entries(hr, "security.tenant_header_refused")
    assert refusal.details == {
        "reason": "tenant_mismatch",
        "method": "GET",
        "path": "/t/hr/api/v1/usage",
        "header_tenant": "support",
    }


def test_a_role_refusal_is_recorded_with_actor_and_path(hr, client_for):
    # when
    response = client_for(hr, "hr_auditor").post(
        api(hr, "knowledge-bases"), {"name": "Sneaky"}, format="json"
    )

    # then
    assert response.status_code == 403
    [refusal] = entries(hr, "access.denied")
    assert refusal.actor == "hr_auditor"
    assert refusal.details["method"] == "POST"
    assert refusal.details["reason"] == "permission_denied"
    assert refusal.details["view"] == "KnowledgeBaseListView"


def test_a_forged_token_is_recorded_without_an_actor(hr):
    # given
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not.a.token", HTTP_X_TENANT_ID="hr")

    # when
    response = client.get(api(hr, "knowledge-bases"))

    # then
    assert response.status_code == 401
    [refusal] = entries(hr, "access.denied")
    assert (refusal.actor, refusal.actor_id) == ("", None)
    assert refusal.details["reason"] == "token_not_valid"


@pytest.mark.parametrize("keep_text", [False, True], ids=["lengths_case", "text_case"])
def test_chat_answers_keep_text_only_when_the_tenant_allows(
    hr, client_for, hr_document, in_schema, keep_text
):
    # given
    with in_schema(hr):
        settings = AuditSettings.current()
        settings.record_chat_text = keep_text
        settings.save()

    # when
    response = ask(client_for(hr, "hr_member"), hr, "How much is a parking permit?")

    # then
    assert response.status_code == 200
    [answer] = entries(hr, "chat.answer")
    assert answer.actor == "hr_member"
    assert answer.client_ip == "127.0.0.1"
    assert answer.details["citations"] == len(response.json()["citations"]) >= 1
    assert answer.details["question_chars"] == len("How much is a parking permit?")
    assert answer.details["answer_chars"] == len(response.json()["answer"])
    assert ("question" in answer.details) is keep_text
    assert ("answer" in answer.details) is keep_text


def test_uploads_ingestion_and_deletion_are_recorded_with_chunk_counts(
    hr, client_for, hr_knowledge_base
):
    # given
    admin = client_for(hr, "hr_admin")
    [document] = uploaded_documents(
        admin, hr, hr_knowledge_base, [text_file("a.txt", "Desks are booked daily.")]
    )

    # when
    admin.delete(api(hr, f"documents/{document['id']}"))

    # then
    [upload] = entries(hr, "document.upload")
    assert upload.actor == "hr_admin"
    assert upload.client_ip == "127.0.0.1"
    assert upload.details["documents"][0]["filename"] == "a.txt"
    [ingested] = entries(hr, "document.ingested")
    assert ingested.details["chunks"] == document["chunk_count"] >= 1
    [deleted] = entries(hr, "document.delete")
    assert deleted.details["chunks"] == document["chunk_count"]
    assert deleted.details["document_id"] == document["id"]
    assert deleted.client_ip == "127.0.0.1"


def test_a_streamed_answer_is_recorded_with_the_callers_address(
    hr, client_for, hr_document
):
    # when
    response = ask(
        client_for(hr, "hr_member"), hr, "How much is a parking permit?", stream=True
    )
    b"".join(response.streaming_content)

    # then
    [answer] = entries(hr, "chat.answer")
    assert answer.client_ip == "127.0.0.1"
    assert answer.request_id == response["X-Request-ID"]
