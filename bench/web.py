"""Benchmark: latency of the dashboard API calls on the demo retailer (target p95 < 250 ms).

Reuses the demo store that ``bench/metrics.py`` builds (``--data-dir``, default
``$TMPDIR/cxlens-bench-metrics-<customers>``; built there if missing), opens it read-only and
serves it with ``create_app`` in-process (Starlette's test client: the whole HTTP stack of the
app, authentication, store scoping, JSON encoding, but no sockets).

For each dashboard endpoint (headline, trend, stores league, filter values) it times:

* ``cold``: the first request for each of ``--filters`` distinct filter combinations (regions,
  channels, a store manager's store), so every request runs its queries;
* ``warm``: the same requests again (answered from the figure cache until data is loaded);
* ``direct``: the peer measured in the same run: the same :mod:`cxlens.web.figures` call made
  directly in Python, without HTTP, auth or JSON, on a cold cache.

It prints p50/p95 per endpoint and case and the ratios cold/direct (the web stack's overhead)
and warm/cold. Results also go to ``bench/results/web-<timestamp>.json``.

    python bench/web.py --customers 1000000     # the issue's size (reuses bench/metrics.py's store)
    python bench/web.py --customers 50000       # quick check
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
ENDPOINTS = ("headline", "trend", "stores", "filters")


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def run(data_dir: Path, n_filters: int) -> dict[str, Any]:
    """Time every endpoint cold, warm and directly; returns milliseconds per case."""
    os.environ.setdefault("CXLENS_SECRET_KEY", "bench-only-secret")
    from fastapi.testclient import TestClient

    from cxlens.ops import OpsStore
    from cxlens.storage.workspace import Workspace
    from cxlens.web import auth, figures
    from cxlens.web.app import create_app
    from cxlens.web.settings import WebSettings

    ws = Workspace(data_dir, read_only=True)
    ops_dir = Path(tempfile.mkdtemp(prefix="cxlens-bench-web-"))
    ops = OpsStore(f"sqlite:///{ops_dir / 'ops.sqlite'}")
    stores = ws.table("stores").select("store_id", "region").to_pandas()
    first_store = str(sorted(stores["store_id"])[0])
    auth.create_user(ops, "analyst", "bench-password", "analyst")
    auth.create_user(ops, "manager", "bench-password", "store_manager", [first_store])
    keys = {name: auth.create_api_key(ops, name) for name in ("analyst", "manager")}
    app = create_app(WebSettings(), ws, ops=ops, export=False)
    regions = sorted(stores["region"].dropna().unique())
    channels = ["store", "web", "app", "courier", "call", "chat"]
    combos: list[tuple[str, dict[str, str]]] = [("analyst", {})]
    combos += [("analyst", {"region": r}) for r in regions]
    combos += [("analyst", {"channel": c}) for c in channels]
    combos += [("manager", {}), ("manager", {"channel": "store"})]
    combos = combos[:n_filters]
    times: dict[str, dict[str, list[float]]] = {e: {"cold": [], "warm": [], "direct": []} for e in ENDPOINTS}
    with TestClient(app) as client:
        for phase in ("cold", "warm"):
            for role, params in combos:
                for endpoint in ENDPOINTS:
                    headers = {"X-API-Key": keys[role]}
                    url = f"/api/v1/{endpoint}"

                    def call(url: str = url, headers: dict[str, str] = headers, params: Any = params) -> None:
                        reply = client.get(url, headers=headers, params=params)
                        assert reply.status_code == 200, reply.text[:300]

                    times[endpoint][phase].append(_timed(call))
        for role, params in combos:
            who = auth.principal_for_key(ops, keys[role])
            assert who is not None
            filters = figures.Filters(**params)  # type: ignore[arg-type]
            calls = {
                "headline": lambda f=filters, w=who: figures._headline(ws, f, figures.metric_options(f, w)),
                "trend": lambda f=filters, w=who: figures._trend(ws, figures.metric_options(f, w)),
                "stores": lambda f=filters, w=who: figures._stores(ws, figures.metric_options(f, w), "nps"),
                "filters": lambda w=who: figures._choices(ws, w),
            }
            for endpoint, fn in calls.items():
                times[endpoint]["direct"].append(_timed(fn))
    counts = ws.counts()
    ops.close()
    ws.close()
    return {"counts": counts, "requests_per_case": len(combos), "ms": times}


def report(res: dict[str, Any]) -> list[str]:
    """Human-readable lines: p50/p95 per endpoint and case, and the ratios."""
    lines = [
        f"feedback rows: {res['counts'].get('feedback', 0):,}; "
        f"customers: {res['counts'].get('customers', 0):,}; "
        f"{res['requests_per_case']} filter combinations per case",
        f"{'endpoint':<10} {'cold p50':>9} {'cold p95':>9} {'warm p95':>9} {'direct p95':>11} "
        f"{'cold/direct':>12} {'warm/cold':>10}",
    ]
    for endpoint, cases in res["ms"].items():
        cold50, cold95 = _p(cases["cold"], 0.5), _p(cases["cold"], 0.95)
        warm95, direct95 = _p(cases["warm"], 0.95), _p(cases["direct"], 0.95)
        lines.append(
            f"{endpoint:<10} {cold50:>8.1f}ms {cold95:>8.1f}ms {warm95:>8.1f}ms {direct95:>10.1f}ms "
            f"{cold95 / direct95:>11.2f}x {warm95 / cold95:>9.3f}x"
        )
    every = [t for cases in res["ms"].values() for t in cases["cold"]]
    lines.append(f"all dashboard API calls, cold: p50 {_p(every, 0.5):.1f} ms, p95 {_p(every, 0.95):.1f} ms")
    direct = statistics.median(res["ms"]["headline"]["direct"])
    lines.append(f"median direct headline call: {direct:.1f} ms")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--filters", type=int, default=20, help="Filter combinations per case.")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(BENCH_DIR))
    from metrics import ensure_demo  # bench/metrics.py builds and caches the demo store

    data_dir = args.data_dir or Path(tempfile.gettempdir()) / f"cxlens-bench-metrics-{args.customers}"
    ensure_demo(data_dir, args.customers, args.seed)
    res = run(data_dir, args.filters)
    for line in report(res):
        print(line)
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    (RESULTS_DIR / f"web-{stamp}.json").write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
