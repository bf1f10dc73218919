"""Benchmark: how long the ``cxlens`` command line takes to start, against peers in the same run.

Each case is a fresh process, run ``--repeat`` times (median and fastest wall time, median CPU
seconds of the process). The peers measured beside it: ``python -c pass`` (the interpreter
alone) and ``python -m typer --help`` (another Typer CLI: Typer and Rich loaded, help rendered).
The cxlens cases: ``import cxlens.cli.main``, ``cxlens --help``, ``cxlens analyse --help``, and
common commands on a small demo store (status, metrics by region as JSON, the journey map, the
case list, RFM segments). Goals from issue #19: ``--help`` under 1 s, common commands under 2 s
on a small store, on a 2-core machine; the table says which are met in this run (the load
average is printed: other work on a shared machine slows every case alike, hence the ratios).

Checks (exit code 1 if any fails): every case exits 0, ``--help`` lists the four steps in order,
the JSON outputs parse, and importing the CLI loads none of the heavy libraries (storage engines,
analytics, the web stack), which is what keeps start-up fast.

    python bench/startup.py                 # a 2,000-customer demo store, 10 runs per case
    python bench/startup.py --smoke         # 300 customers, 3 runs (make bench-smoke)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as bc

#: Libraries `import cxlens.cli.main` must not load (the same list as tests/test_cli_conventions.py).
HEAVY = (
    "ibis", "duckdb", "pyiceberg", "pandas", "numpy", "pyarrow", "scipy", "sklearn", "plotly",
    "fastapi", "starlette", "uvicorn", "sqlalchemy", "jinja2", "pyspark", "polars", "yaml",
)  # fmt: skip
STEPS = ("1. Map the journey", "2. Collect experience data", "3. Analyse", "4. Act")


def timed_process(
    argv: list[str], env: dict[str, str]
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall and CPU seconds (user + system of the child) of one process, and what it printed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done


def measure(argv: list[str], env: dict[str, str], repeat: int) -> dict[str, Any]:
    """Median and fastest wall time and median CPU time of ``repeat`` runs (after one warm-up, so
    the file cache is warm for every case alike); the last run's output and exit code."""
    timed_process(argv, env)
    walls, cpus = [], []
    done = None
    for _ in range(repeat):
        wall, cpu, done = timed_process(argv, env)
        walls.append(wall)
        cpus.append(cpu)
    assert done is not None
    return {
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "cpu_s": statistics.median(cpus),
        "returncode": done.returncode,
        "stdout": done.stdout,
        "stderr": done.stderr[-2000:],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=2000, help="size of the small demo store")
    ap.add_argument("--repeat", type=int, default=10, help="runs per case")
    bc.add_arguments(ap)
    args = ap.parse_args()
    bc.apply_smoke(args, customers=300, repeat=3)
    run = bc.Run("startup", args)

    store = bc.data_dir(
        args, Path(os.environ.get("TMPDIR", "/tmp")) / f"cxlens-bench-startup-{args.customers}"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXLENS_")}
    env |= {"CXLENS_DATA_DIR": str(store), "COLUMNS": "120"}
    py = sys.executable
    cx = [py, "-m", "cxlens"]
    if not (store / "demo").exists():
        print(f"building a demo store of {args.customers:,} customers in {store}", file=sys.stderr)
        built = subprocess.run(
            [*cx, "demo", "--customers", str(args.customers), "-o", "json"],
            env=env,
            capture_output=True,
            text=True,
        )
        if built.returncode != 0:
            print(built.stderr, file=sys.stderr)
            return 1

    peers = {
        "python -c pass": [py, "-c", "pass"],
        "python -m typer --help": [py, "-m", "typer", "--help"],
    }
    commands = [
        "cxlens --help",
        "cxlens analyse --help",
        "cxlens status",
        "cxlens analyse metrics -m nps -b region -o json",
        "cxlens journey show",
        "cxlens act cases list -o json",
        "cxlens customers rfm -o json",
    ]
    ours = {"import cxlens.cli.main": [py, "-c", "import cxlens.cli.main"]}
    ours |= {command: [*cx, *command.split()[1:]] for command in commands}
    results = {name: measure(argv, env, args.repeat) for name, argv in {**peers, **ours}.items()}

    typer_help = results["python -m typer --help"]["median_s"]
    rows = []
    for name, r in results.items():
        goal = (
            1.0
            if name.endswith("--help") and name.startswith("cxlens")
            else 2.0
            if name.startswith("cxlens ")
            else None
        )
        met = None if goal is None else r["median_s"] < goal
        rows.append([name, r["median_s"], r["min_s"], r["cpu_s"], r["median_s"] / typer_help, goal, met])
    run.table(
        f"Start-up, {args.repeat} runs per case, demo store of {args.customers:,} customers "
        f"(load average {run.load_before} on {os.cpu_count()} cores)",
        ["case", "median s", "fastest s", "CPU s", "vs typer --help", "goal s", "goal met"],
        rows,
        note="Each case a fresh process. CPU s: user + system seconds of the process (median), steadier "
        "than wall time on a loaded machine. Goals: --help under 1 s, common commands under 2 s.",
    )

    for name, r in results.items():
        run.check(f"{name} exits 0", r["returncode"] == 0, r["stderr"][-300:] if r["returncode"] else "")
    shown = results["cxlens --help"]["stdout"]
    at = [shown.find(step) for step in STEPS]
    run.check(
        "cxlens --help lists map, collect, analyse, act in order", -1 not in at and at == sorted(at), str(at)
    )
    for name, r in results.items():
        if name.endswith("-o json"):
            try:
                json.loads(r["stdout"])
                ok, detail = True, ""
            except json.JSONDecodeError as exc:
                ok, detail = False, f"{exc}: {r['stdout'][:200]!r}"
            run.check(f"{name} prints valid JSON", ok, detail)
    probe = subprocess.run(
        [py, "-c", f"import sys, cxlens.cli.main; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    run.equal("heavy libraries loaded by import cxlens.cli.main", probe.stdout.strip(), "[]")
    summary = {
        name: {k: v for k, v in r.items() if k not in ("stdout", "stderr")} for name, r in results.items()
    }
    return run.finish({"customers": args.customers, "repeat": args.repeat, "cases": summary})


if __name__ == "__main__":
    sys.exit(main())
