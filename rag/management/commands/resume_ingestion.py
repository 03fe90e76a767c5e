from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from rag.tasks import finish_ingestion_before_exit, resume_in_every_tenant


class Command(BaseCommand):
    help = (
        "Send documents that a stopped process left queued or half-ingested back to "
        "ingestion, in every tenant. With Celery the workers take them; otherwise this "
        "command ingests them itself and returns when they are done."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--stale-minutes",
            type=float,
            default=5,
            help="only documents unchanged for this long (running ingestion "
            "refreshes its document at least every minute)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stale_after = timedelta(minutes=options["stale_minutes"])
        with finish_ingestion_before_exit():
            counts = resume_in_every_tenant(stale_after)

        for slug, count in counts.items():
            if count:
                self.stdout.write(f"{slug}: {count} documents sent back to ingestion")
        self.stdout.write(f"{sum(counts.values())} documents resumed")
