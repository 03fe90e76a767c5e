from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pricing.catalogue import PRICE_FILE, PriceFileError, sync_prices
from tenants.context import use_public_schema


class Command(BaseCommand):
    help = "Load the model catalogue and prices from the repository's price file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", default=str(PRICE_FILE))

    def handle(self, *args: Any, **options: Any) -> None:
        use_public_schema()
        try:
            count = sync_prices(Path(options["file"]))
        except PriceFileError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Loaded prices of {count} models.")
