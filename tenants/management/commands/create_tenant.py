from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.actions import ensure_public_tenant, provision_tenant
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Create a tenant (department) with its own schema, served under /t/<slug>/."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="URL name, e.g. hr")
        parser.add_argument(
            "--name", default="", help="display name, e.g. 'Human Resources'"
        )
        parser.add_argument(
            "--if-missing", action="store_true", help="succeed quietly if it exists"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        ensure_public_tenant()
        slug = options["slug"]

        existing = Tenant.objects.filter(slug=slug).first()
        if existing is not None:
            if options["if_missing"]:
                self.stdout.write(f"tenant {slug} exists (id {existing.id})")
                return
            raise CommandError(f"A tenant '{slug}' exists already.")

        try:
            tenant = provision_tenant(slug, options["name"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(
            f"created tenant {tenant.slug} (id {tenant.id}, schema {tenant.schema_name})"
        )
