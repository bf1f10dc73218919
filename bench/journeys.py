"""Benchmark: the journey-path job on demo events, cxlens vs hand-written DuckDB SQL vs Retentioneering.

The job, on the same demo events in the same run (each case in a fresh process, so its peak RSS is
its own):

1. *load*: the ``events`` and ``identities`` Parquet files into the engine;
2. *job*: stitch identities (customer id, else the customer linked to the anonymous id, else the
   anonymous id), cut each actor's events into journeys at a 7-day gap, collapse repeated
   touchpoints, then count transitions (``state -> next``, ``(end)`` after the last step), the step
   matrix (steps 1-10) and the top 20 paths (first 8 steps, with how many were left out).

Cases:

* ``cxlens``: ``Workspace.ingest`` (validated load) then :func:`transitions`, :func:`step_matrix`
  and :func:`top_paths` on the DuckDB engine (each recomputes the journeys from the events).
* ``cxlens-cached``: the same, with the journey states computed once
  (``journey_states(...).cache()``) and passed to the three as ``states=``.
* ``duckdb-sql``: ``CREATE TABLE ... AS read_parquet`` then one hand-written SQL pass that builds
  the journey states once in a temporary table and counts from it: the limit to approach.
* ``retentioneering``: pandas ``read_parquet`` and stitching with ``Series.map``, then
  ``Eventstream`` → ``split_sessions(timeout=7 days)`` → ``collapse_events(loops=True)``,
  ``transition_graph_data(edge_weight="count")``, ``step_matrix_data(max_steps=10)`` and top paths
  by a pandas group-by. It runs from its own virtual environment (``--rete-python``, default
  ``/tmp/rete/bin/python``) with ``RETENTIONEERING_NO_TRACK=1``; if it is missing, the case is
  reported as unavailable.

cxlens and the hand-written SQL must give identical counts (checked); Retentioneering adds its own
path_start/path_end events, so only its times are compared. Printed: seconds for load and job,
peak RSS, and the ratios cxlens/SQL and cxlens/Retentioneering for the job and for load + job.

    python bench/journeys.py                         # 50,000 customers ≈ 2 million events
    python bench/journeys.py --customers 500000      # ≈ 20 million events (the issue's size)
    python bench/journeys.py --customers 2500000 --only cxlens --memory-limit 4GB   # ≈ 100 million

Results also go to ``bench/results/journeys-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
GAP_DAYS = 7
STEPS = 10
TOP_K = 20
PATH_STEPS = 8
CASES = ("cxlens", "cxlens-cached", "duckdb-sql", "retentioneering")

STATES_SQL = f"""
CREATE TEMP TABLE idm AS
  SELECT anonymous_id, min(customer_id) AS cid FROM identities GROUP BY anonymous_id;
CREATE TEMP TABLE states AS
WITH ev AS (
  SELECT e.event_id, e.occurred_at, e.touchpoint AS state,
         coalesce(e.customer_id, i.cid, e.anonymous_id) AS actor
  FROM events e LEFT JOIN idm i ON e.anonymous_id = i.anonymous_id
), g AS (
  SELECT *, CASE WHEN lag(occurred_at) OVER w IS NULL
                   OR occurred_at > lag(occurred_at) OVER w + INTERVAL {GAP_DAYS} DAY THEN 1 ELSE 0 END AS new
  FROM ev WINDOW w AS (PARTITION BY actor ORDER BY occurred_at, event_id)
), j AS (
  SELECT *, sum(new) OVER (PARTITION BY actor ORDER BY occurred_at, event_id
                           ROWS UNBOUNDED PRECEDING) AS jno FROM g
), c AS (
  SELECT actor, jno, event_id, occurred_at, state,
         lag(state) OVER (PARTITION BY actor, jno ORDER BY occurred_at, event_id) AS prev FROM j
)
SELECT actor, jno, state,
       row_number() OVER w2 AS step, lead(state) OVER w2 AS nxt
FROM c WHERE prev IS NULL OR prev <> state
WINDOW w2 AS (PARTITION BY actor, jno ORDER BY occurred_at, event_id);
"""
TRANSITIONS_SQL = "SELECT state, coalesce(nxt, '(end)') AS next_state, count(*) AS n FROM states GROUP BY ALL"
STEPS_SQL = f"SELECT step, state, count(*) AS n FROM states WHERE step <= {STEPS} GROUP BY ALL"
PATHS_SQL = f"""
WITH p AS (
  SELECT string_agg(state, ' > ' ORDER BY step) FILTER (WHERE step <= {PATH_STEPS}) AS path,
         max(step) > {PATH_STEPS} AS cut
  FROM states GROUP BY actor, jno
), c AS (SELECT path, cut, count(*) AS n FROM p GROUP BY ALL)
SELECT path || CASE WHEN cut THEN ' > …' ELSE '' END AS path, n,
       count(*) OVER () AS distinct_paths, sum(n) OVER () AS journeys
FROM c ORDER BY n DESC, path LIMIT {TOP_K}
"""


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _hash(items: dict[Any, int]) -> str:
    return hashlib.sha1(json.dumps(sorted(items.items())).encode()).hexdigest()[:16]


def _digest(
    transitions: dict[tuple[str, str], int], steps: dict[tuple[int, str], int], top: list[int]
) -> dict:
    """Counts that must be identical between cxlens and the hand-written SQL."""
    return {
        "transitions": len(transitions),
        "transition_total": sum(transitions.values()),
        "transition_hash": _hash(transitions),
        "step_hash": _hash(steps),
        "top_counts": top,
    }


# -- cases (each runs in its own process) ----------------------------------------------------------
def case_cxlens(files: Path, work: Path, cached: bool) -> dict[str, Any]:
    from datetime import timedelta

    from cxlens.analyse import journeys as jr
    from cxlens.storage.workspace import Workspace

    started = time.perf_counter()
    ws = Workspace(work / "store")
    for table in ("identities", "events"):
        ws.ingest(table, [files / table])
    load_s = time.perf_counter() - started
    rules = jr.JourneyRules(inactivity_gap=timedelta(days=GAP_DAYS))
    started = time.perf_counter()
    states = jr.journey_states(ws, "touchpoint", rules).cache() if cached else None
    tr = jr.transitions(ws, "touchpoint", rules, states=states)
    sm = jr.step_matrix(ws, "touchpoint", rules, max_steps=STEPS, states=states)
    top = jr.top_paths(ws, "touchpoint", rules, k=TOP_K, max_steps=PATH_STEPS, states=states)
    job_s = time.perf_counter() - started
    events = ws.counts()["events"]
    if states is not None:
        states.release()
    ws.close()
    sm = sm[sm["state"] != jr.END]
    return {
        "events": events,
        "load_s": load_s,
        "job_s": job_s,
        "peak_rss_mb": _peak_mb(),
        "note": top.note,
        **_digest(
            {(r.state, r.next_state): int(r.n) for r in tr.itertuples()},
            {(int(r.step), r.state): int(r.n) for r in sm.itertuples()},
            [int(n) for n in top.paths["n"]],
        ),
    }


def case_sql(files: Path, work: Path, memory_limit: str, threads: int | None) -> dict[str, Any]:
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect(str(work / "plain.duckdb"))
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET temp_directory = '{work / 'spill'}'")
    if threads:
        con.execute(f"SET threads = {threads}")
    for table in ("identities", "events"):
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{files / table}/*.parquet')")
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    con.execute(STATES_SQL)
    tr = con.execute(TRANSITIONS_SQL).fetchall()
    st = con.execute(STEPS_SQL).fetchall()
    top = con.execute(PATHS_SQL).fetchall()
    job_s = time.perf_counter() - started
    events = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    con.close()
    return {
        "events": events,
        "load_s": load_s,
        "job_s": job_s,
        "peak_rss_mb": _peak_mb(),
        **_digest(
            {(a, b): int(n) for a, b, n in tr},
            {(int(s), a): int(n) for s, a, n in st},
            [int(r[1]) for r in top],
        ),
    }


RETE_SCRIPT = f"""
import json, resource, sys, time
import pandas as pd
started = time.perf_counter()
from retentioneering.eventstream import Eventstream
files = sys.argv[1]
columns = ["event_id", "occurred_at", "customer_id", "anonymous_id", "touchpoint"]
ev = pd.read_parquet(files + "/events", columns=columns)
ids = pd.read_parquet(files + "/identities", columns=["anonymous_id", "customer_id"])
link = ids.groupby("anonymous_id")["customer_id"].min()
ev["user_id"] = ev["customer_id"].fillna(ev["anonymous_id"].map(link)).fillna(ev["anonymous_id"])
ev = ev.sort_values(["user_id", "occurred_at", "event_id"])
df = pd.DataFrame({{"user_id": ev["user_id"].to_numpy(), "event": ev["touchpoint"].to_numpy(),
                    "timestamp": ev["occurred_at"].to_numpy()}})
stream = Eventstream(df)
load_s = time.perf_counter() - started
started = time.perf_counter()
s = stream.split_sessions(timeout="{GAP_DAYS}d")
s = s.collapse_events(loops=True, path_col="session_id")
tg = s.transition_graph_data(edge_weight="count", path_col="session_id")
sm = s.step_matrix_data(max_steps={STEPS}, path_col="session_id")
d = s.to_dataframe() if hasattr(s, "to_dataframe") else s.df
d = d[~d["event"].isin(["path_start", "path_end", "session_start", "session_end"])]
d = d[d.groupby("session_id").cumcount() < {PATH_STEPS}]
paths = d.groupby("session_id")["event"].agg(" > ".join).value_counts()
job_s = time.perf_counter() - started
print(json.dumps({{"events": len(ev), "load_s": load_s, "job_s": job_s,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "transition_cells": int((tg > 0).to_numpy().sum()), "distinct_paths": int(len(paths)),
                  "top_counts": [int(n) for n in paths.head({TOP_K})]}}))
"""


def case_rete(files: Path, python: str) -> dict[str, Any]:
    if not Path(python).exists():
        return {"unavailable": f"{python} not found (pip install retentioneering into a venv there)"}
    env = {**os.environ, "RETENTIONEERING_NO_TRACK": "1"}
    proc = subprocess.run(
        [python, "-c", RETE_SCRIPT, str(files)],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        return {"unavailable": "retentioneering failed: " + proc.stderr.strip().splitlines()[-1][:300]}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# -- driver --------------------------------------------------------------------------------------
def _child(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args], stdout=subprocess.PIPE, text=True
    )
    if proc.returncode != 0:
        return {"unavailable": f"{args[1]} process failed (exit {proc.returncode})"}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _demo(cache: Path, customers: int, seed: int) -> Path:
    from cxlens.demo import generate

    target = cache / f"demo-{customers}-{seed}"
    if not (target / "_SUCCESS").exists():
        shutil.rmtree(target, ignore_errors=True)
        print(f"generating {customers:,} demo customers into {target}", file=sys.stderr)
        generate(target, customers=customers, seed=seed)
        (target / "_SUCCESS").touch()
    return target


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--only", choices=CASES, action="append")
    parser.add_argument("--memory-limit", default=os.environ.get("CXLENS_DUCKDB_MEMORY_LIMIT", "4GB"))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rete-python", default="/tmp/rete/bin/python")
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "cxlens-bench-journeys"
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--files", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.case:  # child process: one case
        os.environ["CXLENS_DUCKDB_MEMORY_LIMIT"] = args.memory_limit
        if args.threads:
            os.environ["CXLENS_DUCKDB_THREADS"] = str(args.threads)
        if args.case.startswith("cxlens"):
            result = case_cxlens(args.files, args.work, cached=args.case == "cxlens-cached")
        else:
            result = case_sql(args.files, args.work, args.memory_limit, args.threads)
        print(json.dumps(result))
        return

    files = _demo(args.cache_dir, args.customers, args.seed)
    cases = args.only or list(CASES)
    results: dict[str, dict[str, Any]] = {}
    for case in cases:
        work = args.cache_dir / f"work-{case}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        print(f"running {case} ...", file=sys.stderr)
        if case == "retentioneering":
            results[case] = case_rete(files, args.rete_python)
        else:
            extra = ["--threads", str(args.threads)] if args.threads else []
            results[case] = _child(
                [
                    "--case",
                    case,
                    "--files",
                    str(files),
                    "--work",
                    str(work),
                    "--memory-limit",
                    args.memory_limit,
                    *extra,
                ]
            )
        shutil.rmtree(work, ignore_errors=True)

    print(f"\njourney paths job, {args.customers:,} demo customers, memory limit {args.memory_limit}")
    print(f"{'case':<16} {'events':>12} {'load s':>8} {'job s':>8} {'total s':>8} {'peak RSS MB':>12}")
    for case, r in results.items():
        if "unavailable" in r:
            print(f"{case:<16} unavailable: {r['unavailable']}")
            continue
        total = r["load_s"] + r["job_s"]
        print(
            f"{case:<16} {r['events']:>12,} {r['load_s']:>8.2f} {r['job_s']:>8.2f} {total:>8.2f} "
            f"{r['peak_rss_mb']:>12,.0f}"
        )
    sql = results.get("duckdb-sql", {})
    for mine in ("cxlens", "cxlens-cached"):
        cx = results.get(mine, {})
        if "job_s" not in cx:
            continue
        for peer in ("duckdb-sql", "retentioneering"):
            other = results.get(peer, {})
            if "job_s" in other:
                whole = (cx["load_s"] + cx["job_s"]) / (other["load_s"] + other["job_s"])
                print(f"{mine} / {peer}: job {cx['job_s'] / other['job_s']:.2f}x, load + job {whole:.2f}x")
            elif peer in cases:
                print(f"{mine} / {peer}: not measured ({other.get('unavailable', 'not run')})")
        if "job_s" in sql:
            keys = ("transitions", "transition_total", "transition_hash", "step_hash", "top_counts")
            same = all(cx[k] == sql[k] for k in keys)
            print(f"{mine} and hand-written SQL counts identical: " + ("yes" if same else "NO"))
    notes = [r["note"] for r in results.values() if "note" in r]
    if notes:
        print("top paths: " + notes[0])
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = RESULTS_DIR / f"journeys-{stamp}.json"
    out.write_text(
        json.dumps(
            {"customers": args.customers, "memory_limit": args.memory_limit, "results": results},
            indent=2,
            default=str,
        )
    )
    print(f"results: {out}")


if __name__ == "__main__":
    main()
