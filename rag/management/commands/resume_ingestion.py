from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.test.utils import override_settings

from rag.tasks import resume_in_every_tenant


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
        backend = settings.RAG["INGESTION_BACKEND"]
        # A thread of this short-lived command would die with it.
        if backend == "thread":
            backend = "inline"

        with override_settings(RAG={**settings.RAG, "INGESTION_BACKEND": backend}):
            counts = resume_in_every_tenant(stale_after)

        for slug, count in counts.items():
            if count:
                self.stdout.write(f"{slug}: {count} documents sent back to ingestion")
        self.stdout.write(f"{sum(counts.values())} documents resumed")
