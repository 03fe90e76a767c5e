"""Signing in, refreshing, and the path / header / token agreement on every call."""

from datetime import timedelta

import jwt
import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from tenants.models import Membership
from tests.conftest import PASSWORD, access_token, api


def sign_in(tenant, username, password=PASSWORD, header=None):  # type: ignore[no-untyped-def]
    client = APIClient()
    return client.post(
        api(tenant, "auth/token"),
        {"username": username, "password": password},
        format="json",
        HTTP_X_TENANT_ID=header or tenant.slug,
    )


def test_sign_in_returns_tokens_bound_to_the_tenant(hr):
    # when
    response = sign_in(hr, "hr_member")

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["tenant"] == "hr"
    assert body["role"] == "member"
    claims = AccessToken(body["access"])
    assert claims["tenant_id"] == str(hr.id)
    assert claims["role"] == "member"


def test_sign_in_with_wrong_password_is_refused(hr):
    response = sign_in(hr, "hr_member", password="wrong")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


def test_sign_in_at_a_tenant_without_membership_is_refused(support):
    response = sign_in(support, "hr_member")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


def test_person_in_two_tenants_gets_a_token_per_tenant(hr, support):
    hr_claims = AccessToken(sign_in(hr, "dana").json()["access"])
    support_claims = AccessToken(sign_in(support, "dana").json()["access"])

    assert (hr_claims["tenant_id"], hr_claims["role"]) == (str(hr.id), "member")
    assert (support_claims["tenant_id"], support_claims["role"]) == (
        str(support.id),
        "admin",
    )


def test_refresh_keeps_the_tenant(hr):
    refresh = sign_in(hr, "hr_admin").json()["refresh"]

    response = APIClient().post(
        api(hr, "auth/token/refresh"),
        {"refresh": refresh},
        format="json",
        HTTP_X_TENANT_ID="hr",
    )

    assert response.status_code == 200
    assert AccessToken(response.json()["access"])["tenant_id"] == str(hr.id)


def test_refresh_under_another_tenant_fails(hr, support):
    refresh = sign_in(hr, "dana").json()["refresh"]

    response = APIClient().post(
        api(support, "auth/token/refresh"),
        {"refresh": refresh},
        format="json",
        HTTP_X_TENANT_ID="support",
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "tenant_mismatch"


def _call(tenant_path, token, header):  # type: ignore[no-untyped-def]
    client = APIClient()
    extra = {}
    if token is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if header is not None:
        extra["HTTP_X_TENANT_ID"] = header
    return client.get(api(tenant_path, "knowledge-bases"), **extra)


@pytest.mark.parametrize(
    ("path", "token_tenant", "header", "status", "code"),
    [
        pytest.param("hr", "hr", "hr", 200, None, id="all_agree_case"),
        pytest.param("hr", "hr", "HR-ID", 200, None, id="header_by_uuid_case"),
        pytest.param(
            "hr", "hr", None, 403, "tenant_header_missing", id="no_header_case"
        ),
        pytest.param(
            "hr", "hr", "support", 403, "tenant_mismatch", id="header_differs_case"
        ),
        pytest.param(
            "hr", "support", "hr", 403, "tenant_mismatch", id="token_differs_case"
        ),
        pytest.param(
            "support", "hr", "support", 403, "tenant_mismatch", id="path_differs_case"
        ),
        pytest.param("hr", None, "hr", 401, "not_authenticated", id="no_token_case"),
    ],
)
def test_path_header_and_token_must_agree(
    hr, support, path, token_tenant, header, status, code
):
    # given
    tenants = {"hr": hr, "support": support}
    token = (
        None if token_tenant is None else access_token(tenants[token_tenant], "dana")
    )
    if header == "HR-ID":
        header = str(hr.id).upper()

    # when
    response = _call(tenants[path], token, header)

    # then
    assert response.status_code == status, response.content
    if code:
        assert response.json()["error"]["code"] == code


def _forge(claims, key):  # type: ignore[no-untyped-def]
    return jwt.encode(claims, key, algorithm="HS256")


def test_forged_token_is_refused(hr):
    claims = dict(AccessToken(access_token(hr, "hr_member")).payload)
    claims["role"] = "admin"

    response = _call(
        hr, _forge(claims, "not-the-signing-key-but-long-enough-for-hs256"), "hr"
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


def test_unsigned_token_is_refused(hr):
    claims = dict(AccessToken(access_token(hr, "hr_member")).payload)
    unsigned = jwt.encode(claims, None, algorithm="none")

    response = _call(hr, unsigned, "hr")

    assert response.status_code == 401


def test_expired_token_is_refused(hr):
    token = AccessToken(access_token(hr, "hr_member"))
    token.set_exp(lifetime=-timedelta(seconds=1))

    response = _call(hr, str(token), "hr")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


def test_token_with_tenant_claim_swapped_is_refused(hr, support):
    claims = dict(AccessToken(access_token(hr, "dana")).payload)
    claims["tenant_id"] = str(support.id)

    response = _call(
        support, _forge(claims, "a-wrong-key-that-is-long-enough-for-hs256"), "support"
    )

    assert response.status_code == 401


def test_inactive_user_is_refused(hr):
    token = access_token(hr, "hr_member")
    get_user_model().objects.filter(username="hr_member").update(is_active=False)

    response = _call(hr, token, "hr")

    assert response.status_code == 401


def test_user_who_lost_membership_is_refused(hr):
    token = access_token(hr, "hr_member")
    Membership.objects.filter(tenant=hr, user__username="hr_member").delete()

    response = _call(hr, token, "hr")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "membership_revoked"


def test_unknown_tenant_is_a_json_404(db):
    response = APIClient().get(
        "/t/nobody/api/v1/knowledge-bases", HTTP_X_TENANT_ID="nobody"
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "tenant_not_found"
