from collections import Counter
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import models, transaction
from django_tenants.utils import schema_context

from portal.encryption import (
    EncryptedSecretField,
    SecretUnreadable,
    reencrypt,
    under_newest_key,
)
from tenants.context import PUBLIC_SCHEMA
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (provider keys, Dify keys) under the "
        "newest of SECRETS_ENCRYPTION_KEYS, in the public schema and every "
        "tenant's. Safe to run again; the old key can be removed afterwards."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        totals: Counter[str] = Counter()
        schemas = [PUBLIC_SCHEMA] + list(
            Tenant.objects.exclude(schema_name=PUBLIC_SCHEMA)
            .order_by("schema_name")
            .values_list("schema_name", flat=True)
        )
        for schema_name in schemas:
            counts = rotate_schema(schema_name)
            totals.update(counts)
            self.stdout.write(
                f"{schema_name}: {counts['rotated']} rotated, "
                f"{counts['current']} already current, {counts['unreadable']} unreadable"
            )

        self.stdout.write(
            f"total: {totals['rotated']} rotated, {totals['current']} already "
            f"current, {totals['unreadable']} unreadable"
        )
        if totals["unreadable"]:
            self.stderr.write(
                "Some secrets were encrypted with a key that is no longer "
                "configured; set them again."
            )


def rotate_schema(schema_name: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    with schema_context(schema_name), transaction.atomic():
        for model, field in _secret_columns(shared=schema_name == PUBLIC_SCHEMA):
            counts.update(_rotate_column(model, field.attname))
    return counts


def _secret_columns(shared: bool) -> list[tuple[type[models.Model], models.Field]]:  # type: ignore[type-arg]
    app_names = settings.SHARED_APPS if shared else settings.TENANT_APPS
    return [
        (model, field)
        for model in apps.get_models()
        if model._meta.app_config is not None
        and model._meta.app_config.name in app_names
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedSecretField)
    ]


def _rotate_column(model: type[models.Model], column: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    rows = model._default_manager.select_for_update().exclude(**{column: ""})
    for pk, token in rows.values_list("pk", column):
        if under_newest_key(token):
            counts["current"] += 1
            continue
        try:
            fresh = reencrypt(token)
        except SecretUnreadable:
            counts["unreadable"] += 1
            continue
        model._default_manager.filter(pk=pk).update(**{column: fresh})
        counts["rotated"] += 1
    return counts
