"""JWTs bound to one tenant: the tenant id and the role travel as claims."""

from django.contrib.auth.models import AbstractBaseUser
from rest_framework_simplejwt.tokens import RefreshToken

from tenants.models import Membership

TENANT_CLAIM = "tenant_id"
TENANT_SLUG_CLAIM = "tenant"
ROLE_CLAIM = "role"


def tokens_for(membership: Membership) -> RefreshToken:
    """Mint a refresh token (and through it an access token) for one membership."""
    user: AbstractBaseUser = membership.user
    refresh = RefreshToken.for_user(user)
    refresh[TENANT_CLAIM] = str(membership.tenant_id)
    refresh[TENANT_SLUG_CLAIM] = membership.tenant.slug
    refresh[ROLE_CLAIM] = membership.role
    return refresh
