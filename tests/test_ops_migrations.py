"""Alembic migrations of the operational store: a fresh store matches the models, a store created
by the models of main before migrations existed upgrades in place with its rows kept, and several
processes opening one store at once do not race."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from cxlens.ops import OpsStore, migrate
from cxlens.ops.testing import fresh_database, postgres_server_url

MAIN_SCHEMA = Path(__file__).parent / "data" / "ops-schema-28f49f7.sql"


def test_a_fresh_store_is_at_head_and_matches_the_models(ops: OpsStore) -> None:
    with ops.engine.connect() as con:
        assert migrate.current(con) == migrate.head()
    assert migrate.pending_changes(ops.engine) == []


def _old_rows(con: Any) -> None:
    con.execute("INSERT INTO surveys VALUES ('s1', 1, '{\"id\": \"s1\"}', 1, '2025-01-01', '2025-01-01')")
    con.execute(
        "INSERT INTO responses (response_id, survey_id, survey_version, status, page, answers, kiosk, "
        "started_at, updated_at) VALUES ('r1', 's1', 1, 'complete', 0, '{\"nps\": 9}', 0, "
        "'2025-01-01', '2025-01-01')"
    )
    con.execute(
        "INSERT INTO users (username, password_hash, role, stores, active, session_version, created_at) "
        "VALUES ('ana', 'x', 'analyst', '[]', 1, 0, '2025-01-01')"
    )
    con.execute("INSERT INTO event_inbox VALUES ('e1', '2025-01-01', '{\"event_id\": \"e1\"}', NULL)")


def test_a_store_made_by_mains_models_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.executescript(MAIN_SCHEMA.read_text())
    _old_rows(con)
    con.commit()
    con.close()
    store = OpsStore(f"sqlite:///{path}")
    try:
        with store.engine.connect() as c:
            assert migrate.current(c) == migrate.head()
            assert c.execute(text("SELECT answers FROM responses")).scalar() == '{"nps": 9}'
            assert c.execute(text("SELECT username, oidc_subject FROM users")).one() == ("ana", None)
            assert c.execute(text("SELECT source_id, export_hold FROM event_inbox")).one() == (None, None)
        assert "event_sources" in inspect(store.engine).get_table_names()
        assert migrate.pending_changes(store.engine) == []
    finally:
        store.close()


@pytest.mark.postgres
def test_a_postgres_store_made_before_migrations_upgrades_in_place() -> None:
    server = postgres_server_url()
    if server is None:
        pytest.skip("CXLENS_TEST_POSTGRES_URL is not set (make test starts a server)")
    with fresh_database(server) as url:
        engine = create_engine(url)
        with engine.begin() as con:  # the baseline revision is main's schema; forget it was run
            command.upgrade(migrate.config(con), migrate.BASELINE)
            con.execute(text("DROP TABLE alembic_version"))
            con.execute(text("INSERT INTO surveys VALUES ('s1', 1, '{}', true, '2025-01-01', '2025-01-01')"))
        engine.dispose()
        store = OpsStore(url)
        try:
            assert migrate.pending_changes(store.engine) == []
            with store.engine.connect() as con:
                assert con.execute(text("SELECT count(*) FROM surveys")).scalar() == 1
        finally:
            store.close()


def _open(url: str) -> None:
    OpsStore(url).close()


def test_processes_opening_a_new_store_at_once_do_not_race(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_open, args=(url,)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    store = OpsStore(url)
    try:
        assert migrate.pending_changes(store.engine) == []
    finally:
        store.close()
