"""``cxlens backup`` / ``cxlens restore``: both stores copied while another process loads and the
operational store is written, restored into an empty data directory (and nowhere else: the
restored store reads with the original deleted), rows and checksums equal, refusals clear."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import DemoStore
from cxlens.backup import backup, read_manifest, restore
from cxlens.cli.main import app as cli
from cxlens.ops import OpsStore
from cxlens.ops.models import AuditEntry
from cxlens.ops.testing import fresh_database, postgres_server_url
from cxlens.storage.backup import BackupError, sha256
from cxlens.storage.workspace import Workspace
from cxlens.text.store import enrich_feedback
from cxlens.web.auth import authenticate, create_user, load_secret

LOADER = """
import sys, pandas as pd
from pathlib import Path
from cxlens.storage.workspace import Workspace
ws, stop, i = Workspace(sys.argv[1]), Path(sys.argv[2]), 0
while not stop.exists():
    ids = [f"bg{i}-{k}" for k in range(20)]
    ws.ingest("events", pd.DataFrame({"event_id": ids, "occurred_at": "2025-06-01T10:00:00",
        "anonymous_id": "bg", "channel": "web", "event_type": "product_view"}))
    i += 1
    Path(sys.argv[3]).write_text(str(i))
"""


def _loaded_equals_stored(ws: Workspace) -> None:
    """Every table holds exactly the rows its loads reported (nothing was deleted): a backup that
    mixed two states of the store would break this."""
    loaded = dict(ws.query("SELECT table_name, sum(rows_loaded) FROM _loads GROUP BY 1"))
    counts = ws.counts()
    for table, n in loaded.items():
        assert counts[table] == n, table


@pytest.mark.slow
def test_backup_while_writing_and_restore_into_an_empty_directory(
    tmp_path: Path, demo_store: DemoStore, ops: OpsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    ws = demo_store(data, customers=300, seed=9)
    enrich_feedback(ws)
    create_user(ops, "root", "password1", "admin")
    load_secret(data)
    stop, ticks = tmp_path / "stop", tmp_path / "ticks"
    loader = subprocess.Popen([sys.executable, "-c", LOADER, str(data), str(stop), str(ticks)])
    writing = threading.Event()

    def audit_forever() -> None:
        while not writing.is_set():
            with ops.session() as s:
                ops.audit(s, "test", "tick", None)

    writer = threading.Thread(target=audit_forever)
    try:
        while not ticks.exists():
            time.sleep(0.05)
        writer.start()
        dest = tmp_path / "backup"
        manifest = backup(ws, ops, dest, progress=lambda done, total: time.sleep(0.05))
    finally:
        writing.set()
        stop.touch()
        loader.wait(timeout=120)
        if writer.is_alive():
            writer.join()
    assert loader.returncode == 0
    assert ws.data_version() > manifest["data_version"]  # the loader committed during the backup
    assert not (tmp_path / "backup.partial").exists()
    assert read_manifest(dest)["tables"]["events"]["rows"] == manifest["tables"]["events"]["rows"]
    assert (dest / "files" / "cxlens-secret.key").stat().st_mode & 0o077 == 0

    target = tmp_path / "restored"
    with fresh_database(postgres_server_url()) if ops.dialect == "postgresql" else _nothing() as target_ops:
        if target_ops:
            monkeypatch.setenv("CXLENS_OPS_URL", target_ops)
        result = restore(dest, target)
        assert result.ok
        assert {c.table for c in result.tables} >= {
            "events",
            "customers",
            "_loads",
            "_rejects",
            "feedback_text",
        }
        assert result.operational["audit_log"][1] > 0
        restored = Workspace(target)
        assert {n: c.rows_restored for n, c in ((c.table, c) for c in result.tables)} == {
            n: t["rows"] for n, t in manifest["tables"].items()
        }
        _loaded_equals_stored(restored)
        with restored.staging() as con:
            texts = con.execute("SELECT count(*) FROM feedback_text").fetchone()
        assert texts is not None
        assert texts[0] == manifest["tables"]["feedback_text"]["rows"]
        new_ops = OpsStore(data_dir=target)
        assert authenticate(new_ops, "root", "password1") is not None
        assert new_ops.count(AuditEntry) == manifest["operational"]["rows"]["audit_log"]
        new_ops.close()
        assert (target / "cxlens-secret.key").read_bytes() == (data / "cxlens-secret.key").read_bytes()

        # the restored store refers to nothing of the original
        ws.close()
        shutil.rmtree(data)
        assert all(str(target) in p for p in restored.store.fresh("events").paths)
        assert restored.table("events").count().execute() == manifest["tables"]["events"]["rows"]
        restored.close()

        # a second restore refuses the non-empty directory, and replaces it with --force
        with pytest.raises(BackupError, match=r"not empty.*--force"):
            restore(dest, target)
        assert restore(dest, target, force=True).ok


class _nothing:  # noqa: N801 - a null context manager yielding None, read like fresh_database
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_backup_and_restore_commands_refuse_what_they_cannot_do_safely(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ws = Workspace(data)
    ws.ingest("stores", pd.DataFrame({"store_id": ["S1", "S2"], "name": ["One", "Two"]}))
    ws.close()
    runner = CliRunner()
    run = runner.invoke(cli, ["--data-dir", str(data), "backup", str(tmp_path / "b")])
    assert run.exit_code == 0, run.output
    assert "2 rows" in run.output or "rows in" in run.output
    again = runner.invoke(cli, ["--data-dir", str(data), "backup", str(tmp_path / "b")])
    assert again.exit_code == 1
    assert "not an empty folder" in again.output
    inside = runner.invoke(cli, ["--data-dir", str(data), "backup", str(data / "b")])
    assert inside.exit_code == 1
    assert "inside the data directory" in inside.output

    # a damaged file is found before anything is restored
    manifest = json.loads((tmp_path / "b" / "backup.json").read_text())
    stores = manifest["tables"]["stores"]["files"][0]["path"]
    damaged = tmp_path / "damaged"
    shutil.copytree(tmp_path / "b", damaged)
    victim = damaged / "warehouse" / "model" / "stores" / stores
    victim.write_bytes(victim.read_bytes()[:-1] + b"\0")
    bad = runner.invoke(cli, ["--data-dir", str(tmp_path / "r1"), "restore", str(damaged)])
    assert bad.exit_code == 1
    assert "damaged" in bad.output
    assert not (tmp_path / "r1").exists()
    missing = runner.invoke(cli, ["--data-dir", str(tmp_path / "r1"), "restore", str(tmp_path)])
    assert missing.exit_code == 1
    assert "not a cxlens backup" in missing.output

    good = runner.invoke(cli, ["--data-dir", str(tmp_path / "r2"), "restore", str(tmp_path / "b")])
    assert good.exit_code == 0, good.output
    assert "every table matches the backup" in good.output
    assert Workspace(tmp_path / "r2").counts()["stores"] == 2
    refused = runner.invoke(cli, ["--data-dir", str(data), "restore", str(tmp_path / "b")])
    assert refused.exit_code == 1
    assert "--force" in refused.output
    as_json = runner.invoke(
        cli, ["--data-dir", str(tmp_path / "r3"), "restore", str(tmp_path / "b"), "-o", "json"]
    )
    assert as_json.exit_code == 0, as_json.output
    restored = {(r["store"], r["table"]): r["rows"] for r in json.loads(as_json.stdout)}
    assert restored[("analytics", "stores")] == 2
    assert restored[("operational", "users")] == 0


def _stored(ws: Workspace) -> dict[str, list[tuple[object, ...]]]:
    """The rows of the tables these tests change, sorted (what a restore must bring back)."""
    return {t: sorted(ws.query(f"SELECT * FROM {t}"), key=repr) for t in ("stores", "customers")}


def _store_with_a_user(data: Path, ops: OpsStore) -> Workspace:
    ws = Workspace(data)
    ws.ingest("stores", pd.DataFrame({"store_id": ["S1", "S2"], "name": ["North", "South"]}))
    ws.ingest(
        "customers", pd.DataFrame({"customer_id": ["C1", "C2", "C3"], "email": ["a@x.org", None, "c@x.org"]})
    )
    create_user(ops, "root", "password1", "admin")
    return ws


def _leftovers(data: Path) -> list[str]:
    """Files a failed or finished restore must not leave: its staging files and table folders."""
    staging = [p.name for p in data.glob(".restore-*")]
    folders = [p.name for p in data.glob("warehouse/*/*-restore-*")]
    return staging + folders


def test_restore_over_changed_data_brings_back_the_backup(
    tmp_path: Path, ops: OpsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    if ops.dialect == "postgresql":
        monkeypatch.setenv("CXLENS_OPS_URL", ops.url)
    ws = _store_with_a_user(tmp_path, ops)
    before = _stored(ws)
    backup(ws, ops, tmp_path.parent / f"{tmp_path.name}-backup")
    dest = tmp_path.parent / f"{tmp_path.name}-backup"

    ws.ingest("stores", pd.DataFrame({"store_id": ["S3"], "name": ["East"]}))
    ws.delete_where("customers", "customer_id", ["C1"])
    create_user(ops, "late", "password2", "analyst")
    assert _stored(ws) != before
    ws.close()

    with pytest.raises(BackupError, match=r"not empty.*--force"):
        restore(dest, tmp_path)
    ops.close()  # restore replaces the operational store: nothing may hold it open
    result = restore(dest, tmp_path, force=True)
    assert result.ok
    restored = Workspace(tmp_path)
    assert _stored(restored) == before
    again = OpsStore(data_dir=tmp_path)
    assert authenticate(again, "root", "password1") is not None
    assert authenticate(again, "late", "password2") is None  # made after the backup
    create_user(again, "next", "password3", "analyst")  # ids continue past the restored ones
    again.close()
    # the replaced store's table folders are gone; the restored one reads without them
    used = {
        Path(restored.store.fresh(t).table.location().removeprefix("file://"))
        for t in ("stores", "customers")
    }
    assert {
        p for p in (tmp_path / "warehouse" / "model").iterdir() if p.name.startswith(("stores", "customers"))
    } == used
    restored.close()
    assert not list(tmp_path.glob(".restore-*"))


def _damage_parquet(dest: Path) -> None:
    victim = next((dest / "warehouse" / "model" / "stores").rglob("*.parquet"))
    victim.write_bytes(victim.read_bytes()[:-1] + b"\0")


def _remove_parquet(dest: Path) -> None:
    next((dest / "warehouse" / "model" / "customers").rglob("*.parquet")).unlink()


def _damage_ops(dest: Path) -> None:
    path = dest / "operational.sqlite"
    path.write_bytes(path.read_bytes()[:4096] + b"\xff" * 4096 + path.read_bytes()[8192:])


def _remove_manifest(dest: Path) -> None:
    (dest / "backup.json").unlink()


def _wrong_record(dest: Path) -> None:
    """Files intact, but the recorded checksum of a table differs: caught after the restore ran."""
    manifest = json.loads((dest / "backup.json").read_text())
    manifest["tables"]["stores"]["checksum"] = str(int(manifest["tables"]["stores"]["checksum"]) + 1)
    (dest / "backup.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_damage_parquet, r"stores/.*\.parquet: damaged"),
        (_remove_parquet, r"customers/.*\.parquet: missing from the backup"),
        (_damage_ops, r"operational\.sqlite: damaged"),
        (_remove_manifest, r"not a cxlens backup: backup\.json is missing"),
        (_wrong_record, r"does not match the backup: stores: 2 rows backed up, 2 restored"),
    ],
    ids=["damaged-file", "missing-file", "damaged-ops", "no-manifest", "check-fails"],
)
def test_a_damaged_backup_is_refused_and_the_current_store_kept(
    tmp_path: Path, damage: Callable[[Path], None], message: str
) -> None:
    data, dest = tmp_path / "data", tmp_path / "backup"
    ops = OpsStore(data_dir=data)
    ws = _store_with_a_user(data, ops)
    backup(ws, ops, dest)
    ws.ingest("stores", pd.DataFrame({"store_id": ["S3"], "name": ["East"]}))
    now = _stored(ws)
    ws.close()
    ops.close()
    if damage is _damage_ops:
        # the SHA-256 record would catch it first: make it agree, so the database check is tested
        manifest = json.loads((dest / "backup.json").read_text())
        damage(dest)
        manifest["operational"]["sha256"] = sha256(dest / "operational.sqlite")
        (dest / "backup.json").write_text(json.dumps(manifest))
    else:
        damage(dest)
    with pytest.raises(BackupError, match=message):
        restore(dest, data, force=True)
    assert _stored(Workspace(data)) == now
    assert authenticate(OpsStore(data_dir=data), "root", "password1") is not None
    assert _leftovers(data) == []


def test_restore_refuses_a_store_another_process_has_open(tmp_path: Path) -> None:
    data, dest = tmp_path / "data", tmp_path / "backup"
    ops = OpsStore(data_dir=data)
    ws = _store_with_a_user(data, ops)
    backup(ws, ops, dest)
    now = _stored(ws)
    try:
        with pytest.raises(
            BackupError, match=r"(catalog\.db|cxlens-ops\.sqlite) is open in another process: stop the server"
        ):
            restore(dest, data, force=True)
    finally:
        ops.close()
    assert _stored(ws) == now
    ws.close()
    assert _leftovers(data) == []
