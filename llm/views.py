"""Tenant API for the LLM layer: settings (admins) and usage (admins, auditors)."""

from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from llm.serializers import LLMSettingsSerializer, UsageQuerySerializer
from llm.settings_api import describe_settings, update_settings
from llm.usage import month_usage
from tenants.authentication import user_id_of
from tenants.context import current_tenant
from tenants.permissions import CanReadUsage, IsTenantAdmin


class LLMSettingsView(APIView):
    permission_classes = [IsAuthenticated, IsTenantAdmin]

    def get(self, request: Request) -> Response:
        return Response(describe_settings())

    def put(self, request: Request) -> Response:
        serializer = LLMSettingsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        described = update_settings(
            serializer.validated_data,
            actor_id=user_id_of(request),
            actor=request.user.get_username(),
        )
        return Response(described)


class UsageView(APIView):
    permission_classes = [IsAuthenticated, CanReadUsage]

    def get(self, request: Request) -> Response:
        query = UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(
            month_usage(current_tenant(), query.validated_data.get("month"))
        )
