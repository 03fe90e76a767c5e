from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.models import Membership
from tenants.tokens import tokens_for


class Command(BaseCommand):
    help = "Print an access token for a user in a tenant (for scripts and curl)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--user", required=True, help="username")
        parser.add_argument(
            "--minutes", type=int, default=None, help="lifetime; default from settings"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        membership = (
            Membership.objects.select_related("tenant", "user")
            .filter(tenant__slug=options["tenant"], user__username=options["user"])
            .first()
        )
        if membership is None:
            raise CommandError(
                f"{options['user']} has no membership in '{options['tenant']}'."
            )
        if not membership.user.is_active:
            raise CommandError(f"{options['user']} is inactive.")

        access = tokens_for(membership).access_token
        if options["minutes"]:
            access.set_exp(lifetime=timedelta(minutes=options["minutes"]))
        self.stdout.write(str(access))
