"""Hostile or broken requests get a JSON error, never a 500 or an HTML page."""

import stat

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from portal.embedded_db import local_secret_key
from tests.conftest import PASSWORD, access_token, api


def anonymous_post(tenant, path, body, content_type="application/json"):  # type: ignore[no-untyped-def]
    return APIClient().post(
        api(tenant, path),
        data=body,
        content_type=content_type,
        HTTP_X_TENANT_ID=tenant.slug,
    )


def test_deeply_nested_json_is_a_parse_error(hr):
    response = anonymous_post(hr, "auth/token", "[" * 50_000)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_oversized_body_is_a_json_413(hr):
    body = '{"username": "' + "a" * (6 * 1024 * 1024) + '"}'

    response = anonymous_post(hr, "auth/token", body)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_too_many_query_fields_is_a_json_400(hr, client_for):
    query = "&".join(f"a{n}=1" for n in range(1100))

    response = client_for(hr, "hr_member").get(api(hr, "knowledge-bases") + "?" + query)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_fields"


@pytest.mark.parametrize(
    "user_id",
    [
        pytest.param("abc", id="text_case"),
        pytest.param(["1"], id="list_case"),
        pytest.param({"a": 1}, id="object_case"),
    ],
)
def test_signed_token_naming_no_valid_user_is_refused(hr, user_id):
    token = AccessToken(access_token(hr, "hr_member"))
    token["user_id"] = user_id

    response = APIClient().get(
        api(hr, "knowledge-bases"),
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_X_TENANT_ID="hr",
    )

    assert response.status_code == 401


def test_sign_in_is_throttled_per_client(hr, settings):
    # given
    settings.SIGN_IN_RATE = "3/min"
    cache.clear()
    attempts = [
        anonymous_post(
            hr,
            "auth/token",
            {"username": "hr_member", "password": "wrong"},
            "application/json",
        )
        for _ in range(3)
    ]

    # when
    refused = APIClient().post(
        api(hr, "auth/token"),
        {"username": "hr_member", "password": PASSWORD},
        format="json",
        HTTP_X_TENANT_ID="hr",
    )

    # then
    assert [a.status_code for a in attempts] == [401, 401, 401]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled"
    assert int(refused["Retry-After"]) > 0
    cache.clear()


def test_knowledge_base_names_are_unique_regardless_of_case(hr, client_for):
    client = client_for(hr, "hr_admin")
    client.post(api(hr, "knowledge-bases"), {"name": "Policies"}, format="json")

    response = client.post(
        api(hr, "knowledge-bases"), {"name": "policies"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "name_taken"


def test_nested_validation_errors_read_as_plain_text(hr, client_for):
    response = client_for(hr, "hr_member").post(
        api(hr, "chat"),
        {"query": "x", "knowledge_base_ids": [["nested"]]},
        format="json",
    )

    assert response.status_code == 400
    assert "ErrorDetail" not in response.json()["error"]["message"]
    assert "Not a valid string." in response.json()["error"]["message"]


def test_api_description_is_public_even_with_a_token(hr, db):
    response = APIClient().get(
        "/api/schema?format=json",
        HTTP_AUTHORIZATION=f"Bearer {access_token(hr, 'hr_member')}",
    )

    assert response.status_code == 200


def test_local_signing_key_is_random_private_and_stable(tmp_path):
    first = local_secret_key(tmp_path)

    assert len(first) >= 48
    assert local_secret_key(tmp_path) == first
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
    assert local_secret_key(tmp_path / "other") != first


def test_sign_in_throttle_ignores_a_forged_forwarded_for(hr, settings):
    # given
    settings.SIGN_IN_RATE = "3/min"
    cache.clear()
    for _ in range(3):
        anonymous_post(
            hr,
            "auth/token",
            {"username": "hr_member", "password": "wrong"},
            "application/json",
        )

    # when: the client claims to be someone else
    response = APIClient().post(
        api(hr, "auth/token"),
        {"username": "hr_member", "password": PASSWORD},
        format="json",
        HTTP_X_TENANT_ID="hr",
        HTTP_X_FORWARDED_FOR="10.9.9.9",
    )

    # then
    assert response.status_code == 429
    cache.clear()


def test_refresh_token_naming_no_valid_user_is_refused(hr):
    from rest_framework_simplejwt.tokens import RefreshToken

    refresh = RefreshToken()
    refresh["user_id"] = "abc"
    refresh["tenant_id"] = str(hr.id)

    response = APIClient().post(
        api(hr, "auth/token/refresh"),
        {"refresh": str(refresh)},
        format="json",
        HTTP_X_TENANT_ID="hr",
    )

    assert response.status_code == 401
