"""Journey states computed once per data version and kept on disk for every later path analytic.

Splitting and collapsing journeys is the expensive part of every path analytic (transitions, step
matrix, Sankey, top paths): window functions over all events. :func:`cached_states` computes
:func:`cxlens.analyse.journeys.journey_states` once, writes it as Parquet under
``<data_dir>/cache/journeys/`` and hands back a table reading that file, so the next command, the
next report section or the next run of the report on the same data reads it instead.

The file name holds the workspace's data version (:meth:`Workspace.data_version`, which changes
whenever a load commits) and a hash of everything else the states depend on (level, journey
rules, journey map, time window, engine): new data or other settings never see stale states, and
files of older data versions are deleted when a new one is written (after a grace period for
processes still reading them). Only ``Workspace`` public methods are used, so the cache works
whatever stores the tables. Writing goes through a temporary name and an atomic rename:
concurrent processes at worst compute the same file twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cxlens.analyse.common import TimeLike, timestamp
from cxlens.analyse.journeys import DEFAULT_RULES, JourneyRules, Level, journey_states
from cxlens.journey.map import JourneyMap

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from cxlens.storage.workspace import Workspace

#: Bump when :func:`journey_states` changes what it returns, so old files are not reused.
FORMAT = 1
#: How long a file of an older data version is kept (a reader may still have it open).
GRACE_SECONDS = 600


def cache_dir(ws: Workspace) -> Path:
    """Where the journey-state files of a workspace live."""
    return ws.data_dir / "cache" / "journeys"


def cache_key(
    version: int,
    level: str,
    rules: JourneyRules,
    journey_map: JourneyMap,
    engine: str,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> str:
    """The file stem for these states: ``v<data version>-<level>-<hash of the rest>``."""
    spec = {
        "format": FORMAT,
        "rules": [
            rules.inactivity_gap.total_seconds(),
            rules.split_after_purchase,
            list(rules.purchase_event_types),
            list(rules.start_event_types),
        ],
        "journey_map": journey_map.model_dump(mode="json"),
        "engine": engine,
        "window": [None if t is None else timestamp(t).isoformat() for t in (start, end)],
    }
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    return f"v{version}-{level}-{digest}"


def cached_states(
    ws: Workspace,
    level: Level = "touchpoint",
    rules: JourneyRules = DEFAULT_RULES,
    *,
    journey_map: JourneyMap | None = None,
    engine: str | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> ir.Table:
    """:func:`journey_states` of the workspace's data, read from the cache (computed on a miss).

    Where the data directory cannot be written, the states are computed and returned uncached.
    """
    jm = journey_map or ws.journey_map
    backend = ws.backend(engine)
    name = engine or backend.name
    folder = cache_dir(ws)
    version = ws.data_version()
    key = cache_key(version, level, rules, jm, name, start, end)
    path = folder / f"{key}.parquet"
    tables = lambda table: ws.table(table, engine)  # noqa: E731
    if not path.exists():
        expr = journey_states(tables, level, rules, journey_map=jm, start=start, end=end)
        tmp = folder / f".{key}.{os.getpid()}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            backend.to_parquet(expr, tmp)
            os.replace(tmp, path)
        except OSError:
            _remove(tmp)
            return expr
        _drop_older_versions(folder, version)
    return backend.read_parquet(str(path))


def clear(ws: Workspace) -> int:
    """Delete every cached journey-state file of the workspace; return how many there were."""
    folder = cache_dir(ws)
    files = list(folder.glob("*.parquet")) if folder.exists() else []
    for f in files:
        _remove(f)
    return len(files)


def _drop_older_versions(folder: Path, version: int) -> None:
    """Remove the files of older data versions that no process can still be reading.

    A file is kept for :data:`GRACE_SECONDS` after it was written, in case a process that opened
    the store before the load is still reading it.
    """
    now = time.time()
    for f in folder.glob("v*-*.parquet"):
        number = f.name[1:].split("-", 1)[0]
        if number.isdigit() and int(number) < version and now - f.stat().st_mtime > GRACE_SECONDS:
            _remove(f)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
