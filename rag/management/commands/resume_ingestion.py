from typing import Any

from django.core.management.base import BaseCommand

from rag.tasks import resume_unfinished_ingestion
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Send documents left queued or half-ingested (a process stopped mid-way) "
        "back to ingestion, in every tenant. Run it when the web process or the "
        "workers start."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        for tenant in Tenant.objects.exclude(schema_name="public"):
            count = resume_unfinished_ingestion(tenant.schema_name)
            if count:
                self.stdout.write(
                    f"{tenant.slug}: {count} documents sent back to ingestion"
                )
            total += count
        self.stdout.write(f"{total} documents resumed")
