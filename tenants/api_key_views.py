"""Admins issue, list and revoke the tenant's API keys."""

from typing import Any

from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.trail import record
from tenants.api_keys import issue_api_key, revoke_api_key
from tenants.authentication import user_id_of
from tenants.context import current_tenant
from tenants.models import ApiKey
from tenants.permissions import IsTenantAdmin
from tenants.serializers import ApiKeyRequestSerializer


class ApiKeyListView(APIView):
    permission_classes = [IsAuthenticated, IsTenantAdmin]

    def get(self, request: Request) -> Response:
        keys = ApiKey.objects.filter(tenant=current_tenant(), revoked_at__isnull=True)
        return Response({"api_keys": [_describe(key) for key in keys]})

    def post(self, request: Request) -> Response:
        serializer = ApiKeyRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        api_key, plaintext = issue_api_key(
            current_tenant(),
            serializer.validated_data["name"],
            serializer.validated_data["scopes"],
            created_by=request.user,
        )
        record(
            "api_key.create",
            actor_id=user_id_of(request),
            actor=request.user.get_username(),
            details=_describe(api_key),
        )
        # The only time the key is shown; it cannot be read back later.
        return Response({**_describe(api_key), "key": plaintext}, status=201)


class ApiKeyDetailView(APIView):
    permission_classes = [IsAuthenticated, IsTenantAdmin]

    def delete(self, request: Request, key_id: str) -> Response:
        api_key = revoke_api_key(current_tenant(), key_id)
        record(
            "api_key.revoke",
            actor_id=user_id_of(request),
            actor=request.user.get_username(),
            details=_describe(api_key),
        )
        return Response(status=204)


def _describe(api_key: ApiKey) -> dict[str, Any]:
    return {
        "id": api_key.id,
        "name": api_key.name,
        "prefix": f"pk_{api_key.prefix}_…",
        "scopes": api_key.scopes,
        "created_at": api_key.created_at.isoformat(),
        "last_used_at": api_key.last_used_at.isoformat()
        if api_key.last_used_at
        else None,
    }
