"""Authenticate a tenant API call: a valid JWT minted for this very tenant."""

import logging
from typing import Any

from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token

from portal.errors import ApiError
from tenants.context import PUBLIC_SCHEMA, current_schema, current_tenant
from tenants.models import Membership
from tenants.tokens import TENANT_CLAIM

logger = logging.getLogger(__name__)


class TenantJWTAuthentication(JWTAuthentication):
    """simplejwt's checks, then: the token's tenant is the URL's, the membership holds."""

    def authenticate(self, request: Request) -> tuple[Any, Token] | None:
        if current_schema() == PUBLIC_SCHEMA:
            return None  # no tenant, no tenant token to check
        header = self.get_header(request)
        raw_token = self.get_raw_token(header) if header is not None else None
        if raw_token is None:
            return None
        token = self.get_validated_token(raw_token)
        user_id = _user_id(token)

        tenant = current_tenant()
        if token.get(TENANT_CLAIM) != str(tenant.id):
            _log_refusal(request, "token_tenant_mismatch", user_id, token)
            raise ApiError(
                403, "tenant_mismatch", "This token was issued for another tenant."
            )

        # The membership and its user in one query: every API call pays for it.
        membership = (
            Membership.objects.select_related("user")
            .filter(user_id=user_id, tenant_id=tenant.id, user__is_active=True)
            .first()
        )
        if membership is None:
            _log_refusal(request, "membership_revoked", user_id, token)
            raise ApiError(
                401,
                "membership_revoked",
                "This user no longer belongs to the tenant; ask its admin for access.",
            )

        request.membership = membership  # type: ignore[attr-defined]
        return membership.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def user_id_of(request: Request) -> int:
    """The signed-in user's id; only for views behind IsAuthenticated."""
    user_id = request.user.pk
    if not isinstance(user_id, int):
        raise RuntimeError("user_id_of() called on an unauthenticated request")
    return user_id


def _user_id(token: Token) -> int:
    try:
        return int(token[api_settings.USER_ID_CLAIM])
    except (KeyError, ValueError, TypeError):
        # A signed token whose user id is not an id at all.
        raise InvalidToken("The token names no valid user.") from None


def _log_refusal(request: Request, reason: str, user_id: int, token: Token) -> None:
    logger.warning(
        "security.token_refused",
        extra={
            "reason": reason,
            "user_id": user_id,
            "token_tenant": str(token.get(TENANT_CLAIM, ""))[:64],
            "remote_addr": request.META.get("REMOTE_ADDR"),
        },
    )
