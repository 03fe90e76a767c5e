"""Celery app whose tasks carry the tenant schema they were sent from."""

import os
from typing import Any

import structlog
from celery.signals import setup_logging, task_postrun, task_prerun
from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.base")

app = CeleryApp("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_project_logging(**kwargs: Any) -> None:
    """Keep the project's JSON logs; without a receiver Celery installs its own."""
    from django.conf import settings

    from portal.logging import configure_logging

    configure_logging(level=settings.LOG_LEVEL, fmt=settings.LOG_FORMAT)


@task_prerun.connect
def bind_task_log_context(task_id: str, task: Any, **kwargs: Any) -> None:
    headers = task.request.headers or {}
    schema_name = headers.get("_schema_name") or task.request.get("_schema_name")
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        task_id=task_id, task=task.name, tenant=schema_name
    )


@task_postrun.connect
def clear_task_log_context(**kwargs: Any) -> None:
    from tenants.context import use_public_schema

    structlog.contextvars.clear_contextvars()
    # The next task on this worker starts from public, whatever this one did.
    use_public_schema()
