"""Per-tenant API keys for services: issue, check and revoke.

A key looks like `pk_<prefix>_<secret>`. Only its SHA-256 is stored, and a
key works only on the path of the tenant it was issued for.
"""

import hashlib
import secrets
from typing import Any

from django.http import Http404
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from portal.errors import ApiError
from tenants.context import current_tenant
from tenants.models import ApiKey, Tenant

KEY_PREFIX = "pk_"
SCOPES = ("llm", "retrieval")
# last_used_at is a hint for admins, written at most this often per key.
LAST_USED_RESOLUTION_SECONDS = 60


class ApiKeyPrincipal:
    """The caller behind an API key, standing where a user would."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key
        self.pk = None

    def get_username(self) -> str:
        return f"api-key:{self.api_key.prefix}"


def issue_api_key(
    tenant: Tenant, name: str, scopes: list[str], created_by: Any
) -> tuple[ApiKey, str]:
    """Store a new key and return it with its only plaintext copy."""
    prefix = secrets.token_hex(4)
    plaintext = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        prefix=prefix,
        key_hash=_hash(plaintext),
        scopes=sorted(set(scopes)),
        created_by=created_by,
    )
    return api_key, plaintext


def find_api_key(tenant: Tenant, plaintext: str) -> ApiKey | None:
    """The tenant's live key with this value; another tenant's key is None."""
    if not plaintext.startswith(KEY_PREFIX):
        return None
    api_key = (
        ApiKey.objects.filter(key_hash=_hash(plaintext), revoked_at__isnull=True)
        .select_related("tenant")
        .first()
    )
    if api_key is None or api_key.tenant_id != tenant.id:
        return None
    _touch(api_key)
    return api_key


def revoke_api_key(tenant: Tenant, raw_id: str) -> ApiKey:
    try:
        key_id = int(raw_id)
    except ValueError:
        raise Http404 from None
    api_key = ApiKey.objects.filter(
        tenant=tenant, id=key_id, revoked_at__isnull=True
    ).first()
    if api_key is None:
        raise Http404
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at"])
    return api_key


def _hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _touch(api_key: ApiKey) -> None:
    now = timezone.now()
    last = api_key.last_used_at
    if last is None or (now - last).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
        ApiKey.objects.filter(id=api_key.id).update(last_used_at=now)


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer pk_...` for the tenant named in the path."""

    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, ApiKey] | None:
        header = get_authorization_header(request).decode("latin-1").split()
        if len(header) != 2 or header[0].lower() != "bearer":
            return None
        api_key = find_api_key(current_tenant(), header[1])
        if api_key is None:
            raise ApiError(
                401, "invalid_api_key", "The API key is not valid for this tenant."
            )
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


class HasApiKeyScope(BasePermission):
    scope = ""
    message = "This API key may not be used for this API."

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = request.user
        return (
            isinstance(principal, ApiKeyPrincipal)
            and self.scope in principal.api_key.scopes
        )


class LlmScope(HasApiKeyScope):
    scope = "llm"
