"""Test support for the operational store: a fresh PostgreSQL database per test.

The server comes from ``CXLENS_TEST_POSTGRES_URL`` (``make test`` starts one with
``scripts/postgres.sh``). Without it the postgres tests skip locally, but fail in CI
(``CI=true``), so that a missing server can never pass silently.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ENV = "CXLENS_TEST_POSTGRES_URL"


class PostgresMissingError(RuntimeError):
    """No PostgreSQL server was configured for the postgres tests in CI."""


def postgres_server_url(url: str | None = None) -> str | None:
    """The test server URL (given, else from the environment); None locally, an error in CI."""
    url = url or os.environ.get(ENV)
    if not url and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise PostgresMissingError(f"{ENV} is not set in CI: start a server with scripts/postgres.sh")
    return url or None


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """Create an empty database on the server, yield its URL, drop it afterwards."""
    name = f"cxlens_test_{secrets.token_hex(6)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as con:
            con.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as con:
            con.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
