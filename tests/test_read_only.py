"""A read-only data directory (a read-only mount, a replica, a copy without write permission):
commands that only read work, and those that would write stop with a clear error, never a
traceback, and change nothing.

Root ignores file permissions, so ``chmod -R a-w`` proves nothing when the tests run as root. The
data directory is therefore made read-only by a read-only bind mount in a private mount namespace
(``unshare -rm``, which needs no privileges where user namespaces are allowed); without it, a
non-root run uses ``chmod -R a-w``; only as root without namespaces does the test fall back to
``CXLENS_READ_ONLY=1`` (the setting that opens the store read-only) and says so in its output.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import DemoStore
from cxlens.ops import OpsStore
from cxlens.storage.workspace import Workspace

PY = [sys.executable, "-m", "cxlens"]


def _namespaces_work(probe: Path) -> bool:
    probe.mkdir(exist_ok=True)
    script = 'mount --bind -o ro "$0" "$0" && ! touch "$0/x" 2>/dev/null'
    try:
        run = subprocess.run(
            ["unshare", "-rm", "sh", "-c", script, str(probe)], capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return run.returncode == 0


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def frozen(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Iterator[tuple[Path, str]]:
    """A data directory with data, analysed texts, an operational store, and how it is frozen."""
    root = tmp_path_factory.mktemp("read-only")
    ws = demo_store(root / "data", customers=300, seed=42)
    from cxlens.text.store import enrich_feedback

    enrich_feedback(ws)
    ws.close()
    OpsStore(data_dir=root / "data").close()
    if _namespaces_work(root / "probe"):
        mode = "bind"
    elif os.geteuid() != 0:
        mode = "chmod"
        for p in [root / "data", *(root / "data").rglob("*")]:
            p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    else:
        mode = "setting"
    print(f"read-only data directory simulated by: {mode}")
    yield root / "data", mode
    if mode == "chmod":
        for p in [root / "data", *(root / "data").rglob("*")]:
            p.chmod(p.stat().st_mode | stat.S_IWUSR)


def cxlens(data: Path, mode: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CXLENS_DATA_DIR": str(data), "COLUMNS": "200"}
    env.pop("CXLENS_OPS_URL", None)
    command = [*PY, *args]
    if mode == "bind":
        command = [
            "unshare",
            "-rm",
            "sh",
            "-c",
            'mount --bind -o ro "$0" "$0" && exec "$@"',
            str(data),
            *command,
        ]
    elif mode == "setting":
        env["CXLENS_READ_ONLY"] = "1"
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
def test_read_commands_work_and_writes_fail_clearly_on_a_read_only_data_directory(
    frozen: tuple[Path, str], tmp_path: Path
) -> None:
    data, mode = frozen
    before = _tree_digest(data)
    report = tmp_path / "elsewhere" / "report.html"
    reads = [
        ("status",),
        ("store", "info"),
        ("analyse", "metrics", "--metric", "nps"),
        ("report", "--out", str(report)),
        ("journey", "paths"),
        ("text", "summary"),
        ("privacy", "show"),
    ]
    outputs = {}
    for args in reads:
        run = cxlens(data, mode, *args)
        assert run.returncode == 0, (mode, args, run.stderr[-2000:])
        assert "Traceback" not in run.stderr, (args, run.stderr)
        outputs[args[0]] = run.stdout
    assert report.stat().st_size > 10_000
    assert "customers" in outputs["status"]
    assert "300" in outputs["status"]

    source = tmp_path / "more.csv"
    source.write_text("feedback_id,submitted_at,source,nps\nnew-1,2025-03-01,survey,9\n")
    writes = {
        ("ingest", "feedback", str(source)): "read-only",
        ("store", "compact"): "compaction needs to write to the store, but it is read-only here",
        ("report",): "cannot write",
        ("privacy", "set", "--redact"): "read-only",
    }
    for args, message in writes.items():
        run = cxlens(data, mode, *args)
        assert run.returncode == 1, (args, run.stdout, run.stderr)
        assert "Traceback" not in run.stderr, (args, run.stderr)
        assert "error:" in run.stderr, (args, run.stderr)
        assert message in run.stderr, (args, run.stderr)
    assert _tree_digest(data) == before


def test_a_read_only_workspace_reads_and_refuses_writes_with_the_reason(tmp_path: Path) -> None:
    import pandas as pd

    ws = Workspace(tmp_path / "data")
    ws.ingest("stores", pd.DataFrame({"store_id": ["S1"], "name": ["One"]}))
    ws.close()
    ro = Workspace(tmp_path / "data", read_only=True)
    try:
        assert ro.counts()["stores"] == 1
        assert ro.tmp_dir.parent != tmp_path / "data" / "tmp"
        for write in (
            lambda: ro.ingest("stores", pd.DataFrame({"store_id": ["S2"], "name": ["Two"]})),
            lambda: ro.delete_where("stores", "store_id", ["S1"]),
            lambda: ro.compact(),
            lambda: ro.expire(),
            lambda: ro.purge("stores"),
        ):
            with pytest.raises(RuntimeError, match="read-only here \\(opened read-only\\)"):
                write()
    finally:
        ro.close()
    assert Workspace(tmp_path / "data").counts()["stores"] == 1
    shutil.rmtree(tmp_path / "data")
