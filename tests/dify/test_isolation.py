"""No one reaches another tenant's, or another user's, Dify conversations and tasks."""

import pytest

from tests.conftest import api
from tests.dify.test_proxy import chat


@pytest.fixture
def hr_chat(hr, dify, connected, client_for):  # type: ignore[no-untyped-def]
    """A conversation hr_member had through the platform (both tenants connected)."""
    connected()
    return chat(client_for(hr, "hr_member"), hr).json()


def other_callers(hr, support, client_for):  # type: ignore[no-untyped-def]
    return {
        "same tenant, other user": (hr, client_for(hr, "hr_admin")),
        "other tenant": (support, client_for(support, "support_admin")),
        "same person, other tenant": (support, client_for(support, "dana")),
    }


CASES = ["same tenant, other user", "other tenant", "same person, other tenant"]


@pytest.mark.parametrize("case", CASES)
def test_others_cannot_read_rename_delete_or_continue(
    hr, support, hr_chat, client_for, dify, case
):
    # given
    tenant, client = other_callers(hr, support, client_for)[case]
    conversation_id = hr_chat["conversation_id"]
    calls_before = len(dify.requests)

    # when
    responses = [
        client.get(api(tenant, "dify/messages"), {"conversation_id": conversation_id}),
        client.post(
            api(tenant, f"dify/conversations/{conversation_id}/name"),
            {"name": "mine now"},
            format="json",
        ),
        client.delete(api(tenant, f"dify/conversations/{conversation_id}")),
        chat(client, tenant, conversation_id=conversation_id),
        client.post(
            api(tenant, f"dify/messages/{hr_chat['message_id']}/feedbacks"),
            {"rating": "dislike"},
            format="json",
        ),
    ]

    # then: not found, and Dify was never asked
    assert [r.status_code for r in responses] == [404] * 5
    assert {r.json()["error"]["code"] for r in responses} == {"not_found"}
    assert len(dify.requests) == calls_before
    assert conversation_id in dify.app.conversations


@pytest.mark.parametrize("case", CASES)
def test_others_cannot_stop_the_task(hr, support, hr_chat, client_for, dify, case):
    # given
    tenant, client = other_callers(hr, support, client_for)[case]

    # when
    response = client.post(
        api(tenant, f"dify/chat-messages/{hr_chat['task_id']}/stop"), {}, format="json"
    )

    # then
    assert response.status_code == 404
    assert dify.app.stopped == []


def test_listing_shows_only_the_callers_conversations(hr, support, hr_chat, client_for):
    # when
    colleague = client_for(hr, "hr_admin").get(api(hr, "dify/conversations"))
    outsider = client_for(support, "support_member").get(
        api(support, "dify/conversations")
    )
    owner = client_for(hr, "hr_member").get(api(hr, "dify/conversations"))

    # then
    assert colleague.json()["data"] == []
    assert outsider.json()["data"] == []
    assert [c["id"] for c in owner.json()["data"]] == [hr_chat["conversation_id"]]


def test_a_token_for_one_tenant_is_refused_on_anothers_proxy(
    hr, support, dify, connected
):
    # given
    from tests.conftest import signed_in

    connected()
    client = signed_in(hr, "hr_member", header=support.slug)

    # when
    response = chat(client, support)

    # then
    assert response.status_code == 403
    assert list(dify.chats()) == []


def test_the_header_must_name_the_path_tenant(hr, support, dify, connected, client_for):
    # given
    connected()
    client = client_for(hr, "hr_member", header=support.slug)

    # when
    response = chat(client, hr)

    # then
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "tenant_mismatch"
    assert list(dify.chats()) == []
