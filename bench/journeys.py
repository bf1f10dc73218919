"""Benchmark: the journey-path job on demo events, cxlens vs hand-written DuckDB SQL vs Retentioneering.

The job, on the same demo events in the same run, each case in a fresh process (its imports, timed
the same way for every side with ``_common.timed_import``, are reported apart from load and job):

1. *load*: the ``events`` and ``identities`` Parquet files into the engine;
2. *job*: stitch identities (customer id, else the customer linked to the anonymous id, else the
   anonymous id), cut each actor's events into journeys at a 7-day gap, collapse repeated
   touchpoints, then count transitions (``state -> next``, ``(end)`` after the last step), the step
   matrix (steps 1-10) and the top 20 paths (first 8 steps, with how many were left out).

Cases:

* ``cxlens``: ``Workspace.ingest`` (validated load), then :func:`transitions`, :func:`step_matrix`
  and :func:`top_paths` on states from the journey cache (``journey_cache.cached_states``, what
  ``cxlens journey paths`` and the report use): *job* splits the journeys once for this data
  version and writes them; *job, warm* is the next command on the same data, reading them.
* ``cxlens-no-cache``: the same with ``states=None`` (``--no-cache``): each of the three splits
  the journeys again.
* ``duckdb-sql``: ``CREATE TABLE ... AS read_parquet`` then hand-written SQL that builds the
  journey states once in a temporary table and counts from it: the limit to approach.
* ``retentioneering``: pandas ``read_parquet`` and stitching with ``Series.map``, then
  ``Eventstream`` -> ``split_sessions(timeout="7d")`` -> ``collapse_events(loops=True)``,
  ``transition_graph_data(edge_weight="count")``, ``step_matrix_data(max_steps=10)`` and top paths
  by a pandas group-by. It runs from its own virtual environment (``make bench-peers`` makes
  ``.venv-rete``; ``--rete-python`` to use another) with ``RETENTIONEERING_NO_TRACK=1``.

Checks (the exit code is 1 if any fails): every case ran; cxlens (cold and warm cache, and
without it) and the hand-written SQL give identical transition counts, step matrix and top-path
counts; Retentioneering's transition graph (its ``path_end`` is our ``(end)``) equals cxlens's.

    python bench/journeys.py --customers 100000      # the issue's size, about 3.8 million events
    python bench/journeys.py --smoke                 # 3,000 customers (make bench-smoke)
    python bench/journeys.py --customers 2500000 --only cxlens --memory-limit 4GB   # about 100 million
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as bc

GAP_DAYS = 7
STEPS = 10
TOP_K = 20
PATH_STEPS = 8
CASES = ("cxlens", "cxlens-no-cache", "duckdb-sql", "retentioneering")
#: cxlens figures the goal is about: load + job within this many times the hand-written SQL's.
GOAL_RATIO = 1.3
KEYS = ("transitions", "transition_total", "transition_hash", "step_hash", "top_counts")

#: The hand-written states: the journey cut and the repeat collapse in one pass over each actor's
#: events (a repeated state never starts a journey, so the actor's previous event is the journey's),
#: journey numbers over the kept rows, then steps and next states within each journey.
STATES_SQL = f"""
CREATE TEMP TABLE states AS
WITH idm AS (SELECT anonymous_id, min(customer_id) AS cid FROM identities GROUP BY anonymous_id),
ev AS (
  SELECT e.event_id, e.occurred_at, e.touchpoint AS state,
         coalesce(e.customer_id, i.cid, e.anonymous_id) AS actor
  FROM events e LEFT JOIN idm i ON e.anonymous_id = i.anonymous_id
), g AS (
  SELECT *, (lag(occurred_at) OVER w IS NULL
             OR occurred_at > lag(occurred_at) OVER w + INTERVAL {GAP_DAYS} DAY) AS new,
         lag(state) OVER w AS prev
  FROM ev WINDOW w AS (PARTITION BY actor ORDER BY occurred_at, event_id)
), k AS (
  SELECT actor, occurred_at, event_id, state,
         sum(new::INT) OVER (PARTITION BY actor ORDER BY occurred_at, event_id
                             ROWS UNBOUNDED PRECEDING) AS jno
  FROM g WHERE new OR prev IS NULL OR prev <> state
)
SELECT actor, jno, state, row_number() OVER w2 AS step, lead(state) OVER w2 AS nxt
FROM k WINDOW w2 AS (PARTITION BY actor, jno ORDER BY occurred_at, event_id);
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


def _hash(items: dict[Any, int]) -> str:
    return hashlib.sha1(json.dumps(sorted(items.items())).encode()).hexdigest()[:16]


def _digest(
    transitions: dict[tuple[str, str], int], steps: dict[tuple[int, str], int], top: list[int]
) -> dict[str, Any]:
    """Counts that must be identical between cxlens and the hand-written SQL."""
    return {
        "transitions": len(transitions),
        "transition_total": sum(transitions.values()),
        "transition_hash": _hash({f"{a}|{b}": n for (a, b), n in transitions.items()}),
        "step_hash": _hash({f"{a}|{b}": n for (a, b), n in steps.items()}),
        "top_counts": top,
    }


# -- cases (each runs in its own process) ----------------------------------------------------------
def case_cxlens(files: Path, work: Path, cached: bool) -> dict[str, Any]:
    import_s = bc.timed_import(
        "cxlens.storage.workspace", "cxlens.analyse.journeys", "cxlens.analyse.journey_cache"
    )
    from datetime import timedelta

    from cxlens.analyse import journey_cache as jc
    from cxlens.analyse import journeys as jr
    from cxlens.storage.workspace import Workspace

    started, cpu = time.perf_counter(), bc.cpu_seconds()
    ws = Workspace(work / "store")
    for table in ("identities", "events"):
        ws.ingest(table, [files / table])
    load_s, load_cpu_s = time.perf_counter() - started, bc.cpu_seconds() - cpu
    rules = jr.JourneyRules(inactivity_gap=timedelta(days=GAP_DAYS))

    def job() -> tuple[Any, Any, Any]:
        states = jc.cached_states(ws, "touchpoint", rules) if cached else None
        return (
            jr.transitions(ws, "touchpoint", rules, states=states),
            jr.step_matrix(ws, "touchpoint", rules, max_steps=STEPS, states=states),
            jr.top_paths(ws, "touchpoint", rules, k=TOP_K, max_steps=PATH_STEPS, states=states),
        )

    def digest(tr: Any, sm: Any, top: Any) -> dict[str, Any]:
        sm = sm[sm["state"] != jr.END]
        return _digest(
            {(r.state, r.next_state): int(r.n) for r in tr.itertuples()},
            {(int(r.step), r.state): int(r.n) for r in sm.itertuples()},
            [int(n) for n in top.paths["n"]],
        )

    cpu = bc.cpu_seconds()
    job_s, (tr, sm, top) = bc.timed(job)
    out: dict[str, Any] = {
        "import_s": import_s,
        "load_s": load_s,
        "job_s": job_s,
        "load_cpu_s": load_cpu_s,
        "job_cpu_s": bc.cpu_seconds() - cpu,
        **digest(tr, sm, top),
    }
    out["rete_transitions"] = {
        f"{a}|{'path_end' if b == jr.END else b}": int(n)
        for a, b, n in zip(tr["state"], tr["next_state"], tr["n"], strict=True)
    }
    out["journeys"], out["note"] = top.total_journeys, top.note
    if cached:  # the next command on the same data: the states are read from the cache
        cpu = bc.cpu_seconds()
        out["job_warm_s"], again = bc.timed(job)
        out["job_warm_cpu_s"] = bc.cpu_seconds() - cpu
        out["warm"] = digest(*again)
    out["events"] = ws.counts()["events"]
    ws.close()
    out["peak_rss_mb"] = bc.peak_rss_mb()
    return out


def case_sql(files: Path, work: Path, memory_limit: str, threads: int | None) -> dict[str, Any]:
    import_s = bc.timed_import("duckdb")
    import duckdb

    started, cpu = time.perf_counter(), bc.cpu_seconds()
    con = duckdb.connect(str(work / "plain.duckdb"))
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET temp_directory = '{work / 'spill'}'")
    if threads:
        con.execute(f"SET threads = {threads}")
    for table in ("identities", "events"):
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{files / table}/*.parquet')")
    load_s, load_cpu_s = time.perf_counter() - started, bc.cpu_seconds() - cpu
    started, cpu = time.perf_counter(), bc.cpu_seconds()
    con.execute(STATES_SQL)
    tr = con.execute(TRANSITIONS_SQL).fetchall()
    st = con.execute(STEPS_SQL).fetchall()
    top = con.execute(PATHS_SQL).fetchall()
    job_s, job_cpu_s = time.perf_counter() - started, bc.cpu_seconds() - cpu
    events = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    con.close()
    return {
        "events": events,
        "import_s": import_s,
        "load_s": load_s,
        "job_s": job_s,
        "load_cpu_s": load_cpu_s,
        "job_cpu_s": job_cpu_s,
        "peak_rss_mb": bc.peak_rss_mb(),
        **_digest(
            {(a, b): int(n) for a, b, n in tr},
            {(int(s), a): int(n) for s, a, n in st},
            [int(r[1]) for r in top],
        ),
    }


RETE_SCRIPT = f"""
import json, sys, time
sys.path.insert(0, sys.argv[2])
from _common import cpu_seconds, peak_rss_mb, timed_import
import_s = timed_import("pandas", "retentioneering.eventstream")
import pandas as pd
from retentioneering.eventstream import Eventstream
files = sys.argv[1]
started, cpu = time.perf_counter(), cpu_seconds()
columns = ["event_id", "occurred_at", "customer_id", "anonymous_id", "touchpoint"]
ev = pd.read_parquet(files + "/events", columns=columns)
ids = pd.read_parquet(files + "/identities", columns=["anonymous_id", "customer_id"])
link = ids.groupby("anonymous_id")["customer_id"].min()
ev["user_id"] = ev["customer_id"].fillna(ev["anonymous_id"].map(link)).fillna(ev["anonymous_id"])
ev = ev.sort_values(["user_id", "occurred_at", "event_id"])
when = ev["occurred_at"]
when = when.dt.tz_convert("UTC").dt.tz_localize(None) if when.dt.tz is not None else when
df = pd.DataFrame({{"user_id": ev["user_id"].to_numpy(), "event": ev["touchpoint"].to_numpy(),
                    "timestamp": when.to_numpy()}})
stream = Eventstream(df)
load_s, load_cpu_s = time.perf_counter() - started, cpu_seconds() - cpu
started, cpu = time.perf_counter(), cpu_seconds()
s = stream.split_sessions(timeout="{GAP_DAYS}d")
s = s.collapse_events(loops=True, path_col="session_id")
tg = s.transition_graph_data(edge_weight="count", path_col="session_id")
sm = s.step_matrix_data(max_steps={STEPS}, path_col="session_id")
d = s.to_dataframe() if hasattr(s, "to_dataframe") else s.df
d = d[~d["event"].isin(["path_start", "path_end", "session_start", "session_end"])]
d = d[d.groupby("session_id").cumcount() < {PATH_STEPS}]
paths = d.groupby("session_id")["event"].agg(" > ".join).value_counts()
job_s, job_cpu_s = time.perf_counter() - started, cpu_seconds() - cpu
pairs = tg.stack()
print(json.dumps({{"events": len(ev), "import_s": import_s, "load_s": load_s, "job_s": job_s,
                  "load_cpu_s": load_cpu_s, "job_cpu_s": job_cpu_s,
                  "peak_rss_mb": peak_rss_mb(), "journeys": int(d["session_id"].nunique()),
                  "transitions": {{f"{{a}}|{{b}}": int(n) for (a, b), n in pairs.items()
                                   if n and a != "path_start"}},
                  "distinct_paths": int(len(paths))}}))
"""


def case_rete(files: Path, python: Path) -> dict[str, Any]:
    if not python.exists():
        return {"unavailable": f"{python} not found: run `make bench-peers` (or pass --rete-python)"}
    env = {**os.environ, "RETENTIONEERING_NO_TRACK": "1"}
    proc = subprocess.run(
        [str(python), "-c", RETE_SCRIPT, str(files), str(bc.BENCH_DIR)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["(no output)"]
        return {"unavailable": "retentioneering failed: " + lines[-1][:300]}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# -- driver --------------------------------------------------------------------------------------
def _child(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args], stdout=subprocess.PIPE, text=True, check=False
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


def _cases(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The measured cases, with the warm-cache run of cxlens as a case of its own."""
    out = {case: r for case, r in results.items() if "unavailable" not in r}
    cx = out.get("cxlens", {})
    if "job_warm_s" in cx:
        warm = {**cx, "import_s": None, "job_s": cx["job_warm_s"], "job_cpu_s": cx["job_warm_cpu_s"]}
        out = {"cxlens": cx, "cxlens, warm cache": warm, **{k: v for k, v in out.items() if k != "cxlens"}}
    return out


def report(run: bc.Run, results: dict[str, dict[str, Any]], args: argparse.Namespace) -> dict[str, float]:
    """Tables, ratios and checks; returns the ratios."""
    cases = _cases(results)
    run.table(
        f"Journey paths job, {args.customers:,} demo customers (load average {run.load_before})",
        ["case", "events", "import s", "load s", "job s", "load + job s", "load + job CPU s", "peak RSS MB"],
        [
            [
                case,
                r["events"],
                r["import_s"],
                r["load_s"],
                r["job_s"],
                r["load_s"] + r["job_s"],
                r["load_cpu_s"] + r["job_cpu_s"],
                r["peak_rss_mb"],
            ]
            for case, r in cases.items()
        ],
        note="Each case in a fresh process; imports are timed apart. The warm row is the next command "
        "on the same data, reading the cached journey states. CPU seconds (all threads) are steadier "
        "than wall time on a shared machine.",
    )
    ratios: dict[str, float] = {}
    ratio_rows = []
    for mine in ("cxlens", "cxlens, warm cache", "cxlens-no-cache"):
        for peer in ("duckdb-sql", "retentioneering"):
            if mine not in cases or peer not in cases:
                continue
            a, b = cases[mine], cases[peer]
            row = [
                f"{mine} / {peer}",
                a["job_s"] / b["job_s"],
                (a["load_s"] + a["job_s"]) / (b["load_s"] + b["job_s"]),
                (a["load_cpu_s"] + a["job_cpu_s"]) / (b["load_cpu_s"] + b["job_cpu_s"]),
            ]
            ratios[f"{mine} / {peer}: load + job"] = row[2]
            ratios[f"{mine} / {peer}: load + job CPU"] = row[3]
            ratio_rows.append(row)
    run.table(
        "Ratios (cxlens / peer; below 1 is faster)",
        ["pair", "job", "load + job", "load + job CPU"],
        ratio_rows,
        note=f"Goal: cxlens load + job within {GOAL_RATIO}x of the hand-written SQL, cold or warm cache.",
    )
    sql = results.get("duckdb-sql", {})
    cx = results.get("cxlens", {})
    for case in results:
        run.ran(case, results[case])
    for mine in ("cxlens", "cxlens-no-cache"):
        if mine in results and "job_s" in results[mine] and "job_s" in sql:
            run.equal(
                f"{mine} counts = hand-written SQL counts",
                {k: results[mine][k] for k in KEYS},
                {k: sql[k] for k in KEYS},
            )
    if "warm" in cx and "job_s" in sql:
        run.equal(
            "cxlens (warm cache) counts = hand-written SQL counts", cx["warm"], {k: sql[k] for k in KEYS}
        )
    rete = results.get("retentioneering", {})
    if "transitions" in rete and "rete_transitions" in cx:
        run.equal(
            "cxlens transitions = Retentioneering transition graph",
            cx["rete_transitions"],
            rete["transitions"],
        )
        run.equal("cxlens journeys = Retentioneering sessions", cx["journeys"], rete["journeys"])
    if "note" in cx:
        print("top paths: " + cx["note"])
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--only", choices=CASES, action="append")
    parser.add_argument("--memory-limit", default=os.environ.get("CXLENS_DUCKDB_MEMORY_LIMIT", "4GB"))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rete-python", type=Path, default=bc.RETE_PYTHON)
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "cxlens-bench-journeys"
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--files", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    bc.add_arguments(parser)
    args = parser.parse_args()

    if args.case:  # child process: one case
        os.environ["CXLENS_DUCKDB_MEMORY_LIMIT"] = args.memory_limit
        if args.threads:
            os.environ["CXLENS_DUCKDB_THREADS"] = str(args.threads)
        if args.case.startswith("cxlens"):
            result = case_cxlens(args.files, args.work, cached=args.case == "cxlens")
        else:
            result = case_sql(args.files, args.work, args.memory_limit, args.threads)
        print(json.dumps(result))
        return 0

    bc.apply_smoke(args, customers=3_000)
    run = bc.Run("journeys", args)
    args.cache_dir = bc.data_dir(args, args.cache_dir)
    files = _demo(args.cache_dir, args.customers, args.seed)
    results: dict[str, dict[str, Any]] = {}
    for case in args.only or CASES:
        work = args.cache_dir / f"work-{case}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        print(f"running {case} ...", file=sys.stderr)
        if case == "retentioneering":
            results[case] = case_rete(files, args.rete_python)
        else:
            extra = ["--threads", str(args.threads)] if args.threads else []
            child = ["--case", case, "--files", str(files), "--work", str(work)]
            results[case] = _child([*child, "--memory-limit", args.memory_limit, *extra])
        shutil.rmtree(work, ignore_errors=True)
    ratios = report(run, results, args)
    # The per-pair transition counts were for the Retentioneering check; the JSON keeps their number.
    results.get("cxlens", {}).pop("rete_transitions", None)
    if "transitions" in results.get("retentioneering", {}):
        results["retentioneering"]["transitions"] = len(results["retentioneering"]["transitions"])
    return run.finish(
        {"customers": args.customers, "memory_limit": args.memory_limit, "ratios": ratios, "cases": results}
    )


if __name__ == "__main__":
    sys.exit(main())
