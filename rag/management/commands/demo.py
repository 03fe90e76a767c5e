"""Set up three departments with sample documents, print how to query them, serve."""

import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test.utils import override_settings
from django_tenants.utils import schema_context

from rag.folders import ingest_folder
from rag.management.commands.ingest_folder import _knowledge_base
from rag.tasks import resume_in_every_tenant
from tenants.actions import add_member, ensure_public_tenant, provision_tenant
from tenants.models import Membership, Role, Tenant
from tenants.tokens import tokens_for

SAMPLES = Path(settings.BASE_DIR) / "demo" / "samples"
DEPARTMENTS = {
    "hr": "Human Resources",
    "support": "Customer Support",
    "finance": "Finance",
}
QUESTIONS = {
    "hr": "How many days of annual leave do I get?",
    "support": "How do I reset the Nimbus 3 router?",
    "finance": "Who approves a trip above 2,000 EUR?",
}
TOKEN_HOURS = 12


class Command(BaseCommand):
    help = (
        "Create the hr, support and finance demo tenants, ingest documents, and serve."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        for slug in DEPARTMENTS:
            parser.add_argument(
                f"--{slug}", default="", help=f"folder to ingest for {slug}"
            )
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--no-serve", action="store_true", help="set up, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate_schemas", interactive=False, verbosity=0)
        ensure_public_tenant()

        folders = {
            slug: Path(options[slug]) if options[slug] else SAMPLES / slug
            for slug in DEPARTMENTS
        }
        for slug, folder in folders.items():
            if not folder.is_dir():
                raise CommandError(
                    f"The folder for {slug} does not exist: {folder.resolve()}"
                )

        credentials = {}
        for slug, name in DEPARTMENTS.items():
            credentials[slug] = self._set_up_department(slug, name, folders[slug])

        self._print_walkthrough(credentials, options["addr"])
        if options["no_serve"]:
            return
        # Nothing else works on this data yet: whatever is unfinished was left
        # by an earlier run, and this process's ingestion thread takes it.
        resume_in_every_tenant(stale_after=timedelta(0))
        call_command("runserver", options["addr"], use_reloader=False)

    def _set_up_department(self, slug: str, name: str, folder: Path) -> dict[str, str]:
        tenant = Tenant.objects.filter(slug=slug).first() or provision_tenant(
            slug, name
        )
        password = secrets.token_urlsafe(9)
        membership = add_member(tenant, f"{slug}-admin", Role.ADMIN, password)

        self.stdout.write(f"Ingesting {folder} into {slug} ...")
        with schema_context(tenant.schema_name), _ingest_inline():
            report = ingest_folder(_knowledge_base("Documents"), folder)
        self.stdout.write(
            f"  {len(report.ready)} ready, {len(report.failed)} failed, "
            f"{len(report.skipped)} skipped (unsupported type)"
        )
        for document in report.failed:
            self.stdout.write(
                f"  failed: {document.filename}: {document.failure_reason}"
            )

        return {
            "username": membership.user.username,
            "password": password,
            "token": _token(membership),
        }

    def _print_walkthrough(
        self, credentials: dict[str, dict[str, str]], addr: str
    ) -> None:
        base = f"http://{addr}"
        self.stdout.write("\nDemo users (passwords are new on every run):")
        for slug, creds in credentials.items():
            self.stdout.write(f"  {slug:8} {creds['username']} / {creds['password']}")

        self.stdout.write(
            f"\nAccess tokens below are valid for {TOKEN_HOURS} hours. Try:\n"
        )
        for slug, creds in credentials.items():
            self.stdout.write(f"export {slug.upper()}_TOKEN={creds['token']}")
        for slug in credentials:
            self.stdout.write(
                _curl_chat(base, slug, f"${slug.upper()}_TOKEN", QUESTIONS[slug])
            )
        self.stdout.write("\n# The hr token is worthless at finance (403):")
        self.stdout.write(
            _curl_chat(base, "finance", "$HR_TOKEN", QUESTIONS["finance"])
        )
        self.stdout.write(
            f"\n# Sign in with a password instead:\ncurl -s -X POST {base}/t/hr/api/v1/auth/token "
            "-H 'X-Tenant-ID: hr' -H 'Content-Type: application/json' "
            f'-d \'{{"username": "hr-admin", "password": "{credentials["hr"]["password"]}"}}\'\n'
        )


def _curl_chat(base: str, slug: str, token_var: str, question: str) -> str:
    return (
        f'\ncurl -s -X POST {base}/t/{slug}/api/v1/chat -H "Authorization: Bearer {token_var}" '
        f"-H 'X-Tenant-ID: {slug}' -H 'Content-Type: application/json' "
        f'-d \'{{"query": "{question}"}}\''
    )


def _token(membership: Membership) -> str:
    access = tokens_for(membership).access_token
    access.set_exp(lifetime=timedelta(hours=TOKEN_HOURS))
    return str(access)


def _ingest_inline() -> override_settings:
    return override_settings(RAG={**settings.RAG, "INGESTION_BACKEND": "inline"})
