"""Tenants (departments), their subfolder domains, and who may act in them."""

import re
import uuid
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
RESERVED_SLUGS = {"public", "api", "admin", "static", "t"}


def validate_tenant_slug(slug: str) -> None:
    if not SLUG_PATTERN.match(slug) or slug in RESERVED_SLUGS:
        raise ValidationError(
            f"'{slug}' is not a usable tenant slug: use 2-40 lowercase letters, "
            "digits and hyphens, starting with a letter (not a reserved word)."
        )


def validate_time_zone(name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"'{name}' is not a time zone name such as 'Europe/Berlin' or 'UTC'."
        ) from None


def schema_name_for(slug: str) -> str:
    return "t_" + slug.replace("-", "_")


class VectorStoreBackend(models.TextChoices):
    PGVECTOR = "pgvector", "pgvector in the tenant's schema"
    PINECONE = "pinecone", "Pinecone, one namespace per tenant"


class Tenant(TenantMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(
        max_length=40, unique=True, validators=[validate_tenant_slug]
    )
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    # Days and months of usage and quotas are counted in this zone.
    time_zone = models.CharField(
        max_length=64, default="UTC", validators=[validate_time_zone]
    )
    # Blank: the deployment's VECTOR_STORE. Switching moves no vectors; the
    # tenant's documents must be ingested again.
    vector_store = models.CharField(
        max_length=16, choices=VectorStoreBackend.choices, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    auto_create_schema = True
    auto_drop_schema = True

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Domain(DomainMixin):
    """With subfolder routing the domain is the tenant's path segment: /t/<domain>/."""


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    AUDITOR = "auditor", "Auditor"


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "tenant"], name="one_membership_per_tenant"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} as {self.role}"


class ApiKey(models.Model):
    """A key a service (a Dify app, an OpenAI client) uses instead of a user's JWT.

    Only a SHA-256 of the key is stored; the key itself is shown once.
    """

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"


class TenantQuota(models.Model):
    """Limits the platform operator sets for a tenant; empty means unlimited.

    Kept in the public schema: the tenant's admins read them but cannot
    change them. Set with `manage.py set_quota`.
    """

    tenant = models.OneToOneField(
        Tenant, on_delete=models.CASCADE, primary_key=True, related_name="quota"
    )
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    monthly_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    monthly_spend_usd = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True
    )
    storage_mb = models.PositiveIntegerField(null=True, blank=True)
    documents = models.PositiveIntegerField(null=True, blank=True)
    # One request's prompt, estimated before any provider is called.
    max_prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"quota of {self.tenant}"
