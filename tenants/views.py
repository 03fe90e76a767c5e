"""Sign-in for one tenant: obtain and refresh tenant-bound JWTs."""

import logging

from django.contrib.auth import authenticate
from django.contrib.auth.base_user import AbstractBaseUser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from audit.actions import record_denied, record_sign_in
from portal.errors import ApiError
from tenants.context import current_tenant
from tenants.models import Membership
from tenants.serializers import RefreshRequestSerializer, TokenRequestSerializer
from tenants.throttles import SignInRateThrottle
from tenants.tokens import ROLE_CLAIM, TENANT_CLAIM, tokens_for

logger = logging.getLogger(__name__)

INVALID_CREDENTIALS = ApiError(
    401,
    "invalid_credentials",
    "Wrong username or password, or the user has no access to this tenant.",
)


class ObtainTokenView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [SignInRateThrottle]

    def post(self, request: Request) -> Response:
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        user = authenticate(
            request._request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        membership = _membership_in_current_tenant(user)
        if membership is None:
            logger.info("auth.sign_in_refused")
            # The attempted name, not the password; it may be anyone's.
            record_denied(
                request,
                "auth.sign_in",
                "invalid_credentials",
                username=serializer.validated_data["username"][:150],
            )
            raise INVALID_CREDENTIALS

        refresh = tokens_for(membership)
        record_sign_in(request, membership.user, membership.role, "auth.sign_in")
        logger.info(
            "auth.signed_in",
            extra={"user_id": membership.user_id, "role": membership.role},
        )
        return Response(_token_payload(refresh, membership))


class RefreshTokenView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        serializer = RefreshRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        try:
            refresh = RefreshToken(serializer.validated_data["refresh"])
        except TokenError as exc:
            record_denied(request, "auth.token_refresh", "token_invalid")
            raise ApiError(
                401, "token_invalid", f"The refresh token is not usable: {exc}."
            ) from None
        if refresh.get(TENANT_CLAIM) != str(current_tenant().id):
            logger.warning("security.refresh_tenant_mismatch")
            record_denied(
                request,
                "auth.token_refresh",
                "tenant_mismatch",
                token_tenant=str(refresh.get(TENANT_CLAIM, ""))[:64],
            )
            raise ApiError(
                403, "tenant_mismatch", "This token was issued for another tenant."
            )

        membership = _membership_for_user_id(str(refresh.get("user_id", "")))
        if membership is None:
            record_denied(request, "auth.token_refresh", "membership_revoked")
            raise ApiError(
                401, "membership_revoked", "This user no longer belongs to the tenant."
            )

        access = refresh.access_token
        access[ROLE_CLAIM] = membership.role
        record_sign_in(request, membership.user, membership.role, "auth.token_refresh")
        return Response({"access": str(access), "tenant": membership.tenant.slug})


def _membership_in_current_tenant(user: AbstractBaseUser | None) -> Membership | None:
    if user is None or not user.is_active:
        return None
    return _membership_for_user_id(user.pk)


def _membership_for_user_id(user_id: int | str) -> Membership | None:
    if not str(user_id).isascii() or not str(user_id).isdigit():
        return None  # a signed token whose user id is not an id at all
    return (
        Membership.objects.select_related("tenant", "user")
        .filter(user_id=user_id, user__is_active=True, tenant_id=current_tenant().id)
        .first()
    )


def _token_payload(refresh: RefreshToken, membership: Membership) -> dict[str, str]:
    return {
        "access": str(refresh.access_token),
        "refresh": str(refresh),
        "tenant": membership.tenant.slug,
        "tenant_id": str(membership.tenant_id),
        "role": membership.role,
    }
