"""The auditor API: read, filter, page and export the tenant's trail; audit settings."""

from collections.abc import Iterator

from django.http import Http404, StreamingHttpResponse
from django.utils import timezone
from django_tenants.utils import schema_context
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import actions
from audit.models import AuditEntry
from audit.queries import csv_lines, filtered_entries, jsonl_lines, page_of
from audit.serializers import (
    AuditEntrySerializer,
    AuditExportSerializer,
    AuditPageSerializer,
    AuditSettingsSerializer,
)
from tenants.authentication import user_id_of
from tenants.context import current_schema, current_tenant
from tenants.permissions import CanReadAudit, IsTenantAdmin

CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


class AuditListView(APIView):
    permission_classes = [IsAuthenticated, CanReadAudit]

    def get(self, request: Request) -> Response:
        query = AuditPageSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.validated_data

        rows, next_cursor = page_of(
            filtered_entries(filters), filters.get("cursor"), filters["limit"]
        )
        return Response(
            {
                "entries": AuditEntrySerializer(rows, many=True).data,
                "next_cursor": str(next_cursor) if next_cursor else None,
            }
        )


class AuditEntryView(APIView):
    permission_classes = [IsAuthenticated, CanReadAudit]

    def get(self, request: Request, entry_id: str) -> Response:
        if not entry_id.isascii() or not entry_id.isdigit():
            raise Http404
        entry = AuditEntry.objects.filter(id=int(entry_id)).first()
        if entry is None:
            raise Http404
        return Response(AuditEntrySerializer(entry).data)


class AuditExportView(APIView):
    permission_classes = [IsAuthenticated, CanReadAudit]

    def get(self, request: Request) -> StreamingHttpResponse:
        query = AuditExportSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        kind = filters["file"]

        actions.record_export(request, filters)
        response = StreamingHttpResponse(
            _in_schema(current_schema(), kind, filters),
            content_type=CONTENT_TYPES[kind],
        )
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        filename = f"audit-{current_tenant().slug}-{stamp}.{kind}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


def _in_schema(
    schema_name: str, kind: str, filters: dict[str, object]
) -> Iterator[str]:
    # Streamed after the middleware has reset the connection to public.
    with schema_context(schema_name):
        entries = filtered_entries(filters)
        yield from csv_lines(entries) if kind == "csv" else jsonl_lines(entries)


class AuditSettingsView(APIView):
    permission_classes = [IsAuthenticated, IsTenantAdmin]

    def get(self, request: Request) -> Response:
        return Response(actions.describe_settings())

    def put(self, request: Request) -> Response:
        serializer = AuditSettingsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        described = actions.update_settings(
            serializer.validated_data,
            actor_id=user_id_of(request),
            actor=request.user.get_username(),
        )
        return Response(described)
