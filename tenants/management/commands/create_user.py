import os
import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.actions import add_member
from tenants.models import Role, Tenant


class Command(BaseCommand):
    help = (
        "Create a user (or reuse one) and give them a role in a tenant. The password "
        "comes from --password, else $PORTAL_USER_PASSWORD, else a generated one is printed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--password", default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None or tenant.schema_name == "public":
            raise CommandError(
                f"No tenant '{options['tenant']}'; create it with create_tenant."
            )

        password = options["password"] or os.environ.get("PORTAL_USER_PASSWORD")
        generated = password is None
        if generated:
            password = secrets.token_urlsafe(12)

        membership = add_member(
            tenant, options["username"], Role(options["role"]), password
        )
        self.stdout.write(
            f"{membership.user.username} is {membership.role} in {tenant.slug}"
        )
        if generated:
            self.stdout.write(f"password: {password}")
