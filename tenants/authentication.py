"""Authenticate a tenant API call: a valid JWT minted for this very tenant."""

import logging
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import get_md5_hash_password

from audit.actions import record_denied
from portal.errors import ApiError
from tenants.context import PUBLIC_SCHEMA, current_schema, current_tenant
from tenants.lookups import membership_with_user
from tenants.models import Membership
from tenants.tokens import TENANT_CLAIM

logger = logging.getLogger(__name__)


class TenantJWTAuthentication(JWTAuthentication):
    """simplejwt's token checks, then: the token's tenant is the URL's, the
    membership holds, the user is active.

    The user is loaded with the membership in one query; every API request
    pays for this, so it is kept to that one round trip.
    """

    def authenticate(self, request: Request) -> tuple[Any, Token] | None:
        if current_schema() == PUBLIC_SCHEMA:
            return None  # no tenant, no tenant token to check
        header = self.get_header(request)
        raw_token = self.get_raw_token(header) if header is not None else None
        if raw_token is None:
            return None
        token = self.get_validated_token(raw_token)

        tenant = current_tenant()
        if token.get(TENANT_CLAIM) != str(tenant.id):
            _log_refusal(request, "token_tenant_mismatch", token)
            raise ApiError(
                403, "tenant_mismatch", "This token was issued for another tenant."
            )

        membership = self._membership(token, tenant.id)
        if membership is None:
            _log_refusal(request, "membership_revoked", token)
            raise ApiError(
                401,
                "membership_revoked",
                "This user no longer belongs to the tenant; ask its admin for access.",
            )
        user = membership.user
        if not user.is_active:
            raise AuthenticationFailed("User is inactive", code="user_inactive")
        if api_settings.CHECK_REVOKE_TOKEN and token.get(
            api_settings.REVOKE_TOKEN_CLAIM
        ) != get_md5_hash_password(user.password):
            raise AuthenticationFailed(
                "The user's password has been changed.", code="password_changed"
            )

        request.membership = membership  # type: ignore[attr-defined]
        return user, token

    def _membership(self, token: Token, tenant_id: Any) -> Membership | None:
        user_id = token.get(api_settings.USER_ID_CLAIM)
        if user_id is None:
            raise InvalidToken("Token contained no recognizable user identification")
        try:
            return membership_with_user(user_id, tenant_id)
        except (ValueError, TypeError, DjangoValidationError):
            # A signed token whose user id is not an id at all.
            raise InvalidToken("The token names no valid user.") from None

    def get_user(self, validated_token: Token) -> Any:
        try:
            return super().get_user(validated_token)
        except (ValueError, TypeError, DjangoValidationError):
            # A signed token whose user id is not an id at all.
            raise InvalidToken("The token names no valid user.") from None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def user_id_of(request: Request) -> int:
    """The signed-in user's id; only for views behind IsAuthenticated."""
    user_id = request.user.pk
    if not isinstance(user_id, int):
        raise RuntimeError("user_id_of() called on an unauthenticated request")
    return user_id


def _log_refusal(request: Request, reason: str, token: Token) -> None:
    # Only refusals pay for loading the user, to name the actor.
    try:
        user = TenantJWTAuthentication().get_user(token)
    except (InvalidToken, AuthenticationFailed):
        user = None
    token_tenant = str(token.get(TENANT_CLAIM, ""))[:64]
    # The Django request: DRF's would start authenticating again for .user.
    record_denied(
        request._request,
        "security.token_refused",
        reason,
        user=user,
        token_tenant=token_tenant,
    )
    logger.warning(
        "security.token_refused",
        extra={
            "reason": reason,
            "user_id": token.get(api_settings.USER_ID_CLAIM),
            "token_tenant": token_tenant,
            "remote_addr": request.META.get("REMOTE_ADDR"),
        },
    )
