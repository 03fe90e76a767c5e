"""The plain-SQL lookups behind tenant resolution and the token check."""

from tenants.lookups import membership_with_user, tenant_for_domain
from tenants.models import Membership


def test_a_domain_resolves_to_its_tenant(hr):
    # when
    found = tenant_for_domain("hr")

    # then
    assert found == hr
    assert (found.schema_name, found.is_active) == (hr.schema_name, True)


def test_an_unknown_domain_resolves_to_nothing(db):
    assert tenant_for_domain("nowhere") is None


def test_a_membership_comes_with_its_user(hr):
    # given
    expected = Membership.objects.select_related("user").get(
        tenant=hr, user__username="hr_auditor"
    )

    # when
    found = membership_with_user(expected.user_id, hr.id)

    # then
    assert found == expected
    assert found.role == "auditor"
    assert found.user.username == "hr_auditor"
    assert found.user.is_active


def test_no_membership_in_another_tenant(hr, support):
    # given
    user_id = Membership.objects.get(tenant=hr, user__username="hr_member").user_id

    # then
    assert membership_with_user(user_id, support.id) is None
