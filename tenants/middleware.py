"""Resolve the tenant from /t/<slug>/ and check the X-Tenant-ID header against it."""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_tenants.middleware.subfolder import TenantSubfolderMiddleware

from audit.actions import record_denied
from portal.errors import error_response
from tenants.context import PUBLIC_SCHEMA, use_public_schema
from tenants.lookups import tenant_for_domain
from tenants.models import Tenant

logger = logging.getLogger(__name__)

TENANT_HEADER = "X-Tenant-ID"


# Tenants are looked up once per process per this many seconds: a renamed
# or deactivated tenant is noticed that much later, and every request saves
# a query.
TENANT_CACHE_SECONDS = 5.0
_tenants: dict[str, tuple[float, Tenant]] = {}
_tenants_lock = threading.Lock()


class TenantPathMiddleware(TenantSubfolderMiddleware):
    """Subfolder routing that answers JSON for unknown tenants and resets the schema."""

    def get_tenant(self, domain_model: Any, hostname: str) -> Tenant:
        now = time.monotonic()
        with _tenants_lock:
            cached = _tenants.get(hostname)
        if cached is not None and now - cached[0] < TENANT_CACHE_SECONDS:
            return cached[1]
        tenant = tenant_for_domain(hostname)
        if tenant is None:
            raise domain_model.DoesNotExist
        with _tenants_lock:
            _tenants[hostname] = (now, tenant)
        return tenant

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        response: HttpResponse | None = super().process_request(request)
        if response is not None:
            return response

        tenant = request.tenant  # type: ignore[attr-defined]
        if tenant.schema_name == PUBLIC_SCHEMA:
            return None
        if not tenant.is_active or not _served_here(tenant):
            use_public_schema()
            return _unknown_tenant()
        return None

    def process_response(
        self, request: HttpRequest, response: HttpResponse
    ) -> HttpResponse:
        # Work done later on this thread must not run in the last tenant's schema.
        use_public_schema()
        return response

    def no_tenant_found(self, request: HttpRequest, hostname: str) -> JsonResponse:
        return _unknown_tenant()


def _served_here(tenant: Tenant) -> bool:
    group = settings.TENANT_GROUP
    return not group or tenant.slug in group


def _unknown_tenant() -> JsonResponse:
    return error_response(404, "tenant_not_found", "No such tenant is served here.")


class TenantHeaderMiddleware:
    """Refuse tenant API calls whose X-Tenant-ID header names another tenant."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        if tenant is None or tenant.schema_name == PUBLIC_SCHEMA:
            return self.get_response(request)
        supplied = request.headers.get(TENANT_HEADER, "").strip()
        if not _is_tenant_api(request, tenant):
            # API-key routes (OpenAI clients, Dify) need not send the header,
            # but one that names another tenant is refused all the same.
            if supplied and not header_names_tenant(supplied, tenant):
                return _header_refused(request, "tenant_mismatch", supplied)
            return self.get_response(request)

        if not supplied:
            return _header_refused(request, "tenant_header_missing", "")
        if not header_names_tenant(supplied, tenant):
            return _header_refused(request, "tenant_mismatch", supplied)
        return self.get_response(request)


def header_names_tenant(value: str, tenant: Tenant) -> bool:
    """The header may carry the tenant's slug or its immutable id."""
    return value == tenant.slug or value.lower() == str(tenant.id)


def _is_tenant_api(request: HttpRequest, tenant: Tenant) -> bool:
    return request.path.startswith(f"/t/{tenant.slug}/api/")


def _header_refused(request: HttpRequest, code: str, supplied: str) -> JsonResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    # Recorded in the trail of the tenant in the path: the one being reached.
    record_denied(
        request, "security.tenant_header_refused", code, header_tenant=supplied[:64]
    )
    logger.warning(
        "security.tenant_header_refused",
        extra={
            "reason": code,
            "path_tenant": tenant.slug,
            "header_tenant": supplied[:64],
            "remote_addr": request.META.get("REMOTE_ADDR"),
        },
    )
    if code == "tenant_header_missing":
        message = f"Send the {TENANT_HEADER} header naming the tenant in the URL."
    else:
        message = f"The {TENANT_HEADER} header names another tenant than the URL."
    return error_response(403, code, message)


def forget_cached_tenants() -> None:
    """Drop every cached lookup, e.g. after a tenant was changed in this process."""
    with _tenants_lock:
        _tenants.clear()
