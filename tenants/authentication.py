"""Authenticate a tenant API call: a valid JWT minted for this very tenant."""

import logging
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.tokens import Token

from audit.actions import record_denied
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
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result

        tenant = current_tenant()
        if token.get(TENANT_CLAIM) != str(tenant.id):
            _log_refusal(request, "token_tenant_mismatch", user, token)
            raise ApiError(
                403, "tenant_mismatch", "This token was issued for another tenant."
            )

        membership = Membership.objects.filter(
            user_id=user.pk, tenant_id=tenant.id
        ).first()
        if membership is None:
            _log_refusal(request, "membership_revoked", user, token)
            raise ApiError(
                401,
                "membership_revoked",
                "This user no longer belongs to the tenant; ask its admin for access.",
            )

        request.membership = membership  # type: ignore[attr-defined]
        return user, token

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


def _log_refusal(request: Request, reason: str, user: Any, token: Token) -> None:
    token_tenant = str(token.get(TENANT_CLAIM, ""))[:64]
    record_denied(
        request, "security.token_refused", reason, user=user, token_tenant=token_tenant
    )
    logger.warning(
        "security.token_refused",
        extra={
            "reason": reason,
            "user_id": user.pk,
            "token_tenant": token_tenant,
            "remote_addr": request.META.get("REMOTE_ADDR"),
        },
    )
