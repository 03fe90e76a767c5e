"""manage.py verify_audit <tenant>: check a tenant's audit hash chain.

Exits 0 when the chain is intact and prints its head hash (keep it somewhere
else to notice a trail rewritten from the start); exits 1 and names the
first modified, deleted or inserted entry otherwise.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import schema_context

from audit.verify import verify_trail
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Check a tenant's audit trail for modified, deleted or inserted entries."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="the tenant's slug")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with the slug '{options['tenant']}'.")

        with schema_context(tenant.schema_name):
            verdict = verify_trail()

        if not verdict.intact:
            raise CommandError(
                f"{tenant.slug}: audit chain BROKEN at entry #{verdict.broken_at} "
                f"({verdict.kind}): {verdict.explanation}. "
                f"{verdict.checked} entries before it are intact."
            )
        self.stdout.write(
            f"{tenant.slug}: audit chain intact, {verdict.checked} entries, "
            f"head {verdict.head_hash}"
        )
