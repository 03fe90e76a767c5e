"""The tenant's quotas, for its admins and auditors to read (only operators set them)."""

from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants import quotas
from tenants.context import current_tenant
from tenants.permissions import CanReadUsage


class QuotaView(APIView):
    permission_classes = [IsAuthenticated, CanReadUsage]

    def get(self, request: Request) -> Response:
        return Response(quotas.describe(current_tenant()))
