"""Logs are JSON lines that carry the request id and the tenant, and no secrets."""

import io
import json
import logging

import pytest

from tests.conftest import PASSWORD, api


@pytest.fixture
def log_lines():  # type: ignore[no-untyped-def]
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(root.handlers[0].formatter)
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line]
    root.removeHandler(handler)


def test_request_logs_carry_request_id_and_tenant(hr, client_for, log_lines):
    # when
    response = client_for(hr, "hr_member").post(
        api(hr, "chat"),
        {"query": "annual leave"},
        format="json",
        HTTP_X_REQUEST_ID="req-12345678",
    )

    # then
    assert response["X-Request-ID"] == "req-12345678"
    answered = [line for line in log_lines() if line["event"] == "chat.answered"]
    assert answered
    assert answered[0]["request_id"] == "req-12345678"
    assert answered[0]["tenant"] == "hr"
    assert "question" not in answered[0]


def test_refused_header_is_logged_as_security_event_without_the_token(
    hr, client_for, log_lines
):
    client = client_for(hr, "hr_member", header="support")

    client.get(api(hr, "knowledge-bases"))

    refused = [
        line
        for line in log_lines()
        if line["event"] == "security.tenant_header_refused"
    ]
    assert refused[0]["path_tenant"] == "hr"
    assert refused[0]["header_tenant"] == "support"
    assert "Bearer" not in json.dumps(log_lines())


def test_sign_in_logs_no_password(hr, log_lines):
    from rest_framework.test import APIClient

    APIClient().post(
        api(hr, "auth/token"),
        {"username": "hr_member", "password": PASSWORD},
        format="json",
        HTTP_X_TENANT_ID="hr",
    )

    text = json.dumps(log_lines())
    assert "auth.signed_in" in text
    assert PASSWORD not in text


def test_lines_logged_while_a_stream_is_sent_keep_the_request_context(
    hr, client_for, log_lines
):
    # when: the body is produced after the middleware cleared the context
    response = client_for(hr, "hr_member").post(
        api(hr, "chat"),
        {"query": "annual leave", "stream": True},
        format="json",
        HTTP_X_REQUEST_ID="req-streamed-1",
    )
    b"".join(response.streaming_content)

    # then
    answered = [line for line in log_lines() if line["event"] == "chat.answered"]
    assert answered
    assert answered[0]["request_id"] == "req-streamed-1"
    assert answered[0]["tenant"] == "hr"
