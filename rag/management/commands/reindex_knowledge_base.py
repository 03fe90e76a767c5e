from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import schema_context

from rag.actions import PIPELINE_VERSION, start_reindex
from rag.models import KnowledgeBase
from rag.tasks import finish_ingestion_before_exit
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Rebuild a tenant's knowledge bases with the current ingestion pipeline. "
        "Chat keeps reading the old chunks until the new ones are all in. With "
        "Celery the workers build them; otherwise this command does and returns "
        "when the switch is made."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument(
            "knowledge_base",
            nargs="*",
            help="knowledge base names or ids (default: every one of the tenant)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant '{options['tenant']}'.")

        with schema_context(tenant.schema_name), finish_ingestion_before_exit():
            for knowledge_base in self._chosen(options["knowledge_base"]):
                generation = start_reindex(knowledge_base, user_id=None)
                self.stdout.write(
                    f"{tenant.slug}/{knowledge_base.name}: generation {generation} "
                    f"(pipeline {PIPELINE_VERSION})"
                )

    def _chosen(self, names: list[str]) -> list[KnowledgeBase]:
        knowledge_bases = list(KnowledgeBase.objects.all())
        if not names:
            return knowledge_bases
        chosen = [
            kb for kb in knowledge_bases if kb.name in names or str(kb.id) in names
        ]
        if len(chosen) != len(names):
            raise CommandError("Some knowledge bases were not found in this tenant.")
        return chosen
