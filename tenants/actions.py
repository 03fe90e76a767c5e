"""State changes for tenants and their members."""

import logging

from django.contrib.auth import get_user_model
from django.db import transaction
from django_tenants.utils import schema_context

from tenants.context import PUBLIC_SCHEMA
from tenants.models import (
    Domain,
    Membership,
    Role,
    Tenant,
    schema_name_for,
    validate_tenant_slug,
)

logger = logging.getLogger(__name__)


def provision_tenant(slug: str, name: str) -> Tenant:
    """Create a tenant with its schema (all tenant migrations applied) and its path."""
    validate_tenant_slug(slug)

    with transaction.atomic():
        tenant = Tenant(slug=slug, name=name or slug, schema_name=schema_name_for(slug))
        tenant.save(verbosity=0)
        Domain.objects.create(domain=slug, tenant=tenant, is_primary=True)

    logger.info("tenant.provisioned", extra={"tenant_id": str(tenant.id), "slug": slug})
    return tenant


def remove_tenant(tenant: Tenant) -> None:
    """Delete a tenant: its vectors in every store, then its schema and rows."""
    from rag.stores import remove_tenant_vectors

    if tenant.schema_name == PUBLIC_SCHEMA:
        raise ValueError("The public tenant cannot be removed.")
    tenant_id, slug = str(tenant.id), tenant.slug

    with schema_context(tenant.schema_name):
        remove_tenant_vectors(tenant)
    tenant.delete(force_drop=True)

    logger.info("tenant.removed", extra={"tenant_id": tenant_id, "slug": slug})


def ensure_public_tenant() -> Tenant:
    """django-tenants routes non-tenant paths to the tenant whose schema is public."""
    tenant: Tenant
    tenant, _ = Tenant.objects.get_or_create(
        schema_name=PUBLIC_SCHEMA, defaults={"slug": "public", "name": "Platform"}
    )
    return tenant


def add_member(
    tenant: Tenant, username: str, role: Role, password: str | None
) -> Membership:
    """Create the user if needed (global identity) and give them a role in the tenant."""
    user_model = get_user_model()

    with transaction.atomic():
        user, created = user_model.objects.get_or_create(username=username)
        if password:
            user.set_password(password)
            user.save(update_fields=["password"])
        elif created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        membership, _ = Membership.objects.update_or_create(
            user=user, tenant=tenant, defaults={"role": role}
        )

    logger.info(
        "tenant.member_added",
        extra={"tenant_id": str(tenant.id), "user_id": user.pk, "role": role},
    )
    return membership
