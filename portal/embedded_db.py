"""Start the bundled Postgres (with pgvector) when no DATABASE_URL is given.

pgserver runs one server per data folder and stops it when the last Python
process holding a handle exits, so every process that loads the settings
(web, worker, manage.py) shares the same server.
"""

import contextlib
import json
import os
import secrets
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
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


def local_secret_key(data_dir: Path) -> str:
    """A random key made on first use and kept in the data folder (mode 0600).

    For machines without DJANGO_SECRET_KEY: every installation signs with its
    own unguessable key, and tokens survive a restart.
    """
    return local_secret(data_dir, "secret_key", lambda: secrets.token_urlsafe(48))


def local_secret(data_dir: Path, name: str, make: Callable[[], str]) -> str:
    """The secret kept in `data_dir/name`, made by `make` the first time."""
    key_file = data_dir / name
    if not key_file.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".{name}.{os.getpid()}"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(make())
        # A hard link appears whole or not at all, and fails if another
        # process won the race, whose key then stands.
        with contextlib.suppress(FileExistsError):
            os.link(draft, key_file)
        draft.unlink()
    return key_file.read_text().strip()


def _start_server(data_dir: Path) -> Any:
    # pgserver keeps its lock file in the runtime folder, which must be private.
    runtime_dir = data_dir.parent / "run"
    runtime_dir.mkdir(parents=True, exist_ok=True)
    runtime_dir.chmod(0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))

    import pgserver

    _forget_dead_holders(data_dir)
    server = pgserver.get_server(data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
    _exit_cleanly_on_sigterm()
    return server


def _forget_dead_holders(data_dir: Path) -> None:
    """Drop processes that died without saying goodbye from pgserver's holder list.

    pgserver stops the server when the last holder exits; a holder that was
    killed outright stays listed and would keep the server running forever.
    """
    holders_file = data_dir / ".handle_pids.json"
    try:
        holders = json.loads(holders_file.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in holders if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != holders:
        holders_file.write_text(json.dumps(alive))


def _exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into a normal exit, so pgserver's exit hook stops the server.

    Python's default SIGTERM ends the process without running exit hooks,
    which would leave the embedded Postgres running. Servers that install
    their own handler later (Celery, gunicorn) replace this one.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def _create_database_if_missing(host: str, port: str, name: str) -> None:
    conninfo = f"host={host} port={port} user=postgres dbname=postgres"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
