from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import schema_context

from rag.actions import create_knowledge_base
from rag.folders import ingest_folder
from rag.models import KnowledgeBase
from rag.tasks import finish_ingestion_before_exit
from tenants.context import PUBLIC_SCHEMA
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Ingest every PDF, DOCX, HTML, Markdown and text file below a folder into a "
        "tenant's knowledge base (created if missing)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder", type=Path)
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--knowledge-base", default="Documents", help="name")

    def handle(self, *args: Any, **options: Any) -> None:
        folder: Path = options["folder"]
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder.")
        tenant = (
            Tenant.objects.exclude(schema_name=PUBLIC_SCHEMA)
            .filter(slug=options["tenant"])
            .first()
        )
        if tenant is None:
            raise CommandError(f"No tenant '{options['tenant']}'.")

        with schema_context(tenant.schema_name), finish_ingestion_before_exit():
            knowledge_base = _knowledge_base(options["knowledge_base"])
            report = ingest_folder(knowledge_base, folder)

        self.stdout.write(
            f"{tenant.slug}/{knowledge_base.name}: {len(report.ready)} ready, "
            f"{len(report.failed)} failed, {len(report.pending)} queued for the workers, "
            f"{len(report.skipped)} skipped (unsupported type)"
        )
        for document in report.failed:
            self.stdout.write(
                f"  failed: {document.filename}: {document.failure_reason}"
            )


def _knowledge_base(name: str) -> KnowledgeBase:
    existing = KnowledgeBase.objects.filter(name=name).first()
    return existing or create_knowledge_base(name, "", user_id=None)
