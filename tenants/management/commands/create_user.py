import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.actions import add_member
from tenants.context import PUBLIC_SCHEMA
from tenants.models import Role, Tenant


class Command(BaseCommand):
    help = (
        "Create a user (or reuse one) and give them a role in a tenant. The password "
        "comes from --password, else $PORTAL_USER_PASSWORD; a new user without either "
        "gets a generated one, printed once; an existing user keeps theirs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--password", default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None or tenant.schema_name == PUBLIC_SCHEMA:
            raise CommandError(
                f"No tenant '{options['tenant']}'; create it with create_tenant."
            )

        username = options["username"]
        exists = get_user_model().objects.filter(username=username).exists()
        password = options["password"] or os.environ.get("PORTAL_USER_PASSWORD")
        generated = password is None and not exists
        if generated:
            password = secrets.token_urlsafe(12)

        membership = add_member(tenant, username, Role(options["role"]), password)
        self.stdout.write(
            f"{membership.user.username} is {membership.role} in {tenant.slug}"
        )
        if generated:
            self.stdout.write(f"password: {password}")
        elif exists and password:
            self.stdout.write(
                f"{username} existed: the new password applies in every tenant they belong to"
            )
        elif exists:
            self.stdout.write(f"{username} existed: their password is unchanged")
