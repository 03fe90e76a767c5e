"""Ingestion by a real Celery worker through Redis, in the uploader's tenant schema.

The worker is a separate process on the test database, so everything it must
see is committed, and the fixtures remove what they made.
"""

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from django.db import connection
from django_tenants.utils import schema_context

from portal.celery import app as celery_app
from rag.models import Chunk, Document, DocumentFile
from rag.tasks import ingest_document_task
from tests.conftest import api
from tests.rag.conftest import committed_knowledge_base, text_file, upload

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BROKER_URL = "redis://127.0.0.1:6379/15"
KNOWLEDGE_BASE = "Worker test base"
INGEST_TASK = "rag.tasks.ingest_document_task"
# Generous for a busy two-core machine; the waits end as soon as work is done.
STARTUP_SECONDS = 120
INGESTION_SECONDS = 120


class Worker:
    """A `celery worker` process writing its output to a file."""

    def __init__(self, process: subprocess.Popen[bytes], output: Path) -> None:
        self.process = process
        self.output = output

    def lines(self) -> list[str]:
        return self.output.read_text(errors="replace").splitlines()

    def records(self) -> list[dict[str, Any]]:
        """The output lines that are JSON log records."""
        records = []
        for line in self.lines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records

    def wait_for_line(self, *fragments: str, timeout: float) -> str:
        """The first output line holding every fragment, once it is written."""
        return self._wait(
            lambda: next(
                (line for line in self.lines() if all(f in line for f in fragments)),
                None,
            ),
            timeout,
        )

    def wait_for_record(self, timeout: float, **fields: Any) -> dict[str, Any]:
        """The first JSON log record with these field values, once it is written."""
        return self._wait(
            lambda: next(
                (
                    record
                    for record in self.records()
                    if all(record.get(k) == v for k, v in fields.items())
                ),
                None,
            ),
            timeout,
        )

    def _wait(self, find: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while (found := find()) is None:
            output = "\n".join(self.lines())
            assert self.process.poll() is None, f"worker exited:\n{output}"
            assert time.monotonic() < deadline, f"not in the worker's output:\n{output}"
            time.sleep(0.2)
        return found


def database_url() -> str:
    """The test database as a URL; HOST is the embedded server's socket folder."""
    db = connection.settings_dict
    socket = urlencode({"host": db["HOST"], "port": db["PORT"]})
    return f"postgres://{db['USER']}@/{db['NAME']}?{socket}"


@pytest.fixture(scope="module")
def worker(django_db_setup, tmp_path_factory) -> Iterator[Worker]:  # type: ignore[no-untyped-def]
    redis.Redis.from_url(BROKER_URL).flushdb()
    output = tmp_path_factory.mktemp("celery") / "worker.log"
    env = {
        **os.environ,
        "REDIS_URL": BROKER_URL,
        "INGESTION_BACKEND": "celery",
        "DJANGO_SETTINGS_MODULE": "portal.settings.base",
        "DATABASE_URL": database_url(),
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        str(REPO / ".venv" / "bin" / "celery"),
        *("-A", "portal", "worker", "-P", "solo", "-c", "1", "--loglevel", "INFO"),
        # Alone on its broker database: nobody to meet or sync with.
        *("--without-mingle", "--without-gossip"),
    ]
    with output.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    started = Worker(process, output)
    try:
        started.wait_for_line("celery@", " ready.", timeout=STARTUP_SECONDS)
        yield started
    finally:
        # SIGTERM lets the worker finish its task and close its database
        # connections before the test database is dropped; never SIGKILL.
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        redis.Redis.from_url(BROKER_URL).flushdb()


@pytest.fixture
def db(committed_db) -> None:  # type: ignore[no-untyped-def]
    """Committed writes, so the worker process sees them."""


@pytest.fixture
def hr_knowledge_base(hr, db) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with committed_knowledge_base(hr, KNOWLEDGE_BASE) as knowledge_base_id:
        yield knowledge_base_id


@pytest.fixture
def publishing_to_worker(settings) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Send ingestion from this process to the worker's broker."""
    settings.RAG = {**settings.RAG, "INGESTION_BACKEND": "celery"}
    original = celery_app.conf.broker_url
    celery_app.close()  # forget pooled connections to the old broker
    celery_app.conf.broker_url = BROKER_URL
    try:
        yield
    finally:
        celery_app.close()
        celery_app.conf.broker_url = original


def upload_and_wait(client, tenant, knowledge_base_id, file):  # type: ignore[no-untyped-def]
    """Upload one file; return the upload's answer and the settled document."""
    response = upload(client, tenant, knowledge_base_id, [file])
    assert response.status_code == 202, response.content
    [queued] = response.json()["documents"]

    deadline = time.monotonic() + INGESTION_SECONDS
    while True:
        document = client.get(api(tenant, f"documents/{queued['id']}")).json()
        if document["status"] in ("ready", "failed"):
            return queued, document
        assert time.monotonic() < deadline, f"still {document['status']}"
        time.sleep(0.5)


def test_upload_is_ingested_by_the_worker_in_the_tenants_schema(
    worker, hr, client_for, hr_knowledge_base, publishing_to_worker
):
    # given
    note = text_file(
        "night-shuttle.txt",
        "The night shuttle leaves the north gate at 23:40 on weekdays.",
    )

    # when
    queued, document = upload_and_wait(
        client_for(hr, "hr_admin"), hr, hr_knowledge_base, note
    )

    # then
    assert queued["status"] == "queued"
    assert (document["status"], document["failure_reason"]) == ("ready", "")
    assert document["chunk_count"] == 1
    with schema_context(hr.schema_name):
        assert Chunk.objects.filter(document_id=document["id"]).count() == 1
    assert worker.wait_for_line(f"Task {INGEST_TASK}[", "succeeded", timeout=15)


def test_worker_logs_json_records_naming_the_tenant(
    worker, hr, client_for, hr_knowledge_base, publishing_to_worker
):
    # given
    note = text_file("canteen.txt", "The canteen opens at half past seven.")

    # when
    _, document = upload_and_wait(
        client_for(hr, "hr_admin"), hr, hr_knowledge_base, note
    )

    # then
    ready = worker.wait_for_record(
        timeout=10, event="document.ready", document_id=document["id"]
    )
    assert ready["tenant"] == hr.schema_name
    assert ready["task"] == INGEST_TASK
    assert ready["task_id"]


def test_task_sent_without_a_tenant_is_rejected_and_writes_nothing(
    worker, hr, hr_knowledge_base, publishing_to_worker
):
    # given
    with schema_context(hr.schema_name):
        document = Document.objects.create(
            knowledge_base_id=hr_knowledge_base,
            filename="orphan.txt",
            size_bytes=24,
            content_hash="0" * 64,
        )
        DocumentFile.objects.create(
            document=document, content=b"Sent without a tenant."
        )
    assert connection.schema_name == "public"

    # when
    sent = ingest_document_task.apply_async(args=[str(document.id)])

    # then
    assert worker.wait_for_line(
        f"Task {INGEST_TASK}[{sent.id}] reject requeue=False: no tenant schema",
        timeout=INGESTION_SECONDS,
    )
    with schema_context(hr.schema_name):
        document.refresh_from_db()
        assert (document.status, document.attempts, document.chunk_count) == (
            "queued",
            0,
            0,
        )
        assert not Chunk.objects.filter(document=document).exists()
