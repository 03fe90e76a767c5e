"""Management commands an operator runs to set up tenants and people."""

from io import StringIO

from django.contrib.auth import authenticate
from django.core.management import call_command
from rest_framework_simplejwt.tokens import AccessToken

from tests.conftest import PASSWORD


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_tenant_then_user_then_token(db):
    # when
    run("create_tenant", "legal", "--name", "Legal")
    created = run(
        "create_user",
        "lena",
        "--tenant",
        "legal",
        "--role",
        "auditor",
        "--password",
        "a-long-password",
    )
    token = run("issue_token", "--tenant", "legal", "--user", "lena").strip()

    # then
    assert "lena is auditor in legal" in created
    claims = AccessToken(token)
    assert claims["role"] == "auditor"
    assert claims["tenant"] == "legal"


def test_adding_an_existing_user_to_another_tenant_keeps_their_password(support):
    # when: hr_member joins support without a password given
    output = run("create_user", "hr_member", "--tenant", "support", "--role", "member")

    # then
    assert "password is unchanged" in output
    assert "password:" not in output
    assert authenticate(username="hr_member", password=PASSWORD) is not None
