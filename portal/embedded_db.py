"""Start the bundled Postgres (with pgvector) when no DATABASE_URL is given.

pgserver runs one server per data folder and stops it when the last Python
process holding a handle exits, so every process that loads the settings
(web, worker, manage.py) shares the same server.
"""

import os
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql


def embedded_database(data_dir: Path, name: str) -> dict[str, Any]:
    """Return Django DATABASES["default"] for the embedded server, starting it."""
    server = _start_server(data_dir)
    info = server.get_postmaster_info()
    host = str(info.socket_dir)
    port = str(info.port)

    _create_database_if_missing(host, port, name)

    return {
        "ENGINE": "django_tenants.postgresql_backend",
        "NAME": name,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": host,
        "PORT": port,
    }


def _start_server(data_dir: Path) -> Any:
    # pgserver keeps its lock file in the runtime folder, which must be private.
    runtime_dir = data_dir.parent / "run"
    runtime_dir.mkdir(parents=True, exist_ok=True)
    runtime_dir.chmod(0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))

    import pgserver

    return pgserver.get_server(data_dir, cleanup_mode="stop")


def _create_database_if_missing(host: str, port: str, name: str) -> None:
    conninfo = f"host={host} port={port} user=postgres dbname=postgres"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
