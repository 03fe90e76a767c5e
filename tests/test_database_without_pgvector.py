"""A Postgres without pgvector stops start-up with a message saying what to do.

Uses the machine's own Postgres on 127.0.0.1:5432, which has no pgvector.
"""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

SERVER = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def plain_postgres_database():  # type: ignore[no-untyped-def]
    try:
        admin = psycopg.connect(SERVER, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        pytest.skip("no plain Postgres on 127.0.0.1:5432")
    with admin:
        if admin.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
        ).fetchone():
            pytest.skip("this Postgres has pgvector")
        name = f"portal_no_vector_{uuid.uuid4().hex[:8]}"
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield f"postgres://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
            )


def run_manage(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "portal.settings.base",
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_refuses_with_instructions(plain_postgres_database):
    result = run_manage(plain_postgres_database, "migrate_schemas", "--shared")

    assert result.returncode != 0
    assert "no pgvector extension available" in result.stderr
    assert "unset DATABASE_URL" in result.stderr


def test_database_check_reports_it(plain_postgres_database):
    result = run_manage(plain_postgres_database, "check", "--database", "default")

    assert result.returncode != 0
    assert "tenants.E001" in result.stderr
