from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.models import Tenant
from tenants.quotas import describe, set_quota

UNSET = "none"
LIMITS = {
    "requests_per_minute": int,
    "monthly_tokens": int,
    "monthly_spend_usd": Decimal,
    "storage_mb": int,
    "documents": int,
    "max_prompt_tokens": int,
}


class Command(BaseCommand):
    help = (
        "Set a tenant's quotas (the platform operator's limits). Options left "
        f"out keep their value; '{UNSET}' removes a limit."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="tenant slug")
        for name in LIMITS:
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name)

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant '{options['tenant']}'.")
        changes = {
            name: _parse(name, options[name])
            for name in LIMITS
            if options[name] is not None
        }

        try:
            set_quota(tenant, **changes)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None

        for name, shown in describe(tenant)["quotas"].items():
            self.stdout.write(
                f"{name}: {shown['limit'] if shown['limit'] is not None else UNSET}"
            )


def _parse(name: str, raw: str) -> Any:
    if raw.strip().lower() == UNSET:
        return None
    try:
        value = LIMITS[name](raw)
    except (ValueError, InvalidOperation):
        raise CommandError(
            f"--{name.replace('_', '-')} takes a number or '{UNSET}'."
        ) from None
    if value < 0:
        raise CommandError(f"--{name.replace('_', '-')} cannot be negative.")
    return value
