"""Benchmark: latency of the dashboard API calls on the demo retailer (target p95 < 250 ms).

Reuses the demo store that ``bench/metrics.py`` builds (``--data-dir``, default
``$TMPDIR/cxlens-bench-metrics-<customers>``; built there if missing), opens it read-only and
serves it with ``create_app`` in-process (Starlette's test client: the whole HTTP stack of the
app, authentication, store scoping, JSON encoding, but no sockets).

At start-up the app warms its figure cache (:class:`cxlens.web.figures.CacheWarmer`: unfiltered
figures per scope and single-filter ones by channel, region and segment); the time it takes is
printed. For each dashboard endpoint (headline, trend, stores league, filter values) it times:

* ``first``: the first request for each of ``--filters`` filter combinations (regions,
  channels, a store manager's store, and region x channel pairs the warm-up does not cover)
  after start-up: the latency a user sees;
* ``uncached``: the same requests with the figure cache emptied before each, so every request
  runs its queries (what the first request would cost without the warm-up);
* ``repeat``: the same requests again (answered from the figure cache until data is loaded);
* ``direct``: the peer measured in the same run: the same :mod:`cxlens.web.figures` call made
  directly in Python, without HTTP, auth or JSON, on an empty cache.

It prints p50/p95 per endpoint and case, overall p50/p95, and the ratios uncached/direct (the
web stack's overhead) and first/uncached. Results also go to ``bench/results/web-<timestamp>.json``.

    python bench/web.py --customers 1000000     # the issue's size (reuses bench/metrics.py's store)
    python bench/web.py --customers 50000       # quick check
    python bench/web.py --smoke                 # 2,000 customers, 6 combinations (make bench-smoke)

Check (exit code 1 if it fails): every answer over HTTP equals the direct call's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as bc

ENDPOINTS = ("headline", "trend", "stores", "filters")
CASES = ("first", "uncached", "repeat", "direct")


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def run(data_dir: Path, n_filters: int, warm_pages: bool = False) -> dict[str, Any]:
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
    app = create_app(WebSettings(warm_cache=True, warm_pages=warm_pages), ws, ops=ops, export=False)
    regions = sorted(stores["region"].dropna().unique())
    channels = ["store", "web", "app", "courier", "call", "chat"]
    combos: list[tuple[str, dict[str, str]]] = [("analyst", {})]
    combos += [("analyst", {"region": r}) for r in regions]
    combos += [("analyst", {"channel": c}) for c in channels]
    combos += [("manager", {}), ("manager", {"channel": "store"})]
    combos += [("analyst", {"region": r, "channel": "web"}) for r in regions[:2]]
    combos = combos[:n_filters]
    times: dict[str, dict[str, list[float]]] = {e: {c: [] for c in CASES} for e in ENDPOINTS}

    #: (endpoint, combination) -> the answer over HTTP (uncached) and from the direct call.
    answers: dict[str, dict[tuple[str, int], str]] = {"http": {}, "direct": {}}

    def request(client: Any, endpoint: str, role: str, params: dict[str, str]) -> float:
        def call() -> None:
            reply = client.get(f"/api/v1/{endpoint}", headers={"X-API-Key": keys[role]}, params=params)
            assert reply.status_code == 200, reply.text[:300]
            body = reply.json()
            answers["http"][endpoint, combos.index((role, params))] = _canonical(
                body["rows"] if endpoint != "filters" else body
            )

        return _timed(call)

    t0 = time.perf_counter()
    with TestClient(app) as client:  # start-up runs the cache warm-up
        warm_up_s = time.perf_counter() - t0
        for phase in ("first", "repeat"):
            for role, params in combos:
                for endpoint in ENDPOINTS:
                    times[endpoint][phase].append(request(client, endpoint, role, params))
        for role, params in combos:
            for endpoint in ENDPOINTS:
                figures.CACHE.clear()
                times[endpoint]["uncached"].append(request(client, endpoint, role, params))
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
                figures.CACHE.clear()
                got: list[Any] = []
                times[endpoint]["direct"].append(_timed(lambda fn=fn, got=got: got.append(fn())))
                value = got[0] if endpoint == "filters" else figures.records(got[0])
                answers["direct"][endpoint, combos.index((role, params))] = _canonical(value)
    counts = ws.counts()
    ops.close()
    ws.close()
    same = sum(answers["http"][k] == v for k, v in answers["direct"].items())
    return {
        "counts": counts,
        "requests_per_case": len(combos),
        "warm_up_s": warm_up_s,
        "ms": times,
        "answers_compared": len(answers["direct"]),
        "answers_identical": same,
    }


def _canonical(value: Any) -> str:
    """JSON text of an answer, keys sorted, so the HTTP and direct answers compare exactly."""
    return json.dumps(json.loads(json.dumps(value, default=str)), sort_keys=True)


def report(res: dict[str, Any]) -> list[str]:
    """Human-readable lines: p50/p95 per endpoint and case, overall, and the ratios."""
    lines = [
        f"feedback rows: {res['counts'].get('feedback', 0):,}; "
        f"customers: {res['counts'].get('customers', 0):,}; "
        f"{res['requests_per_case']} filter combinations per case; "
        f"start-up with cache warm-up: {res['warm_up_s']:.1f} s",
        f"{'endpoint':<10} {'first p50':>10} {'first p95':>10} {'uncached p50':>13} {'uncached p95':>13} "
        f"{'repeat p95':>11} {'direct p95':>11} {'uncached/direct':>16} {'first/uncached':>15}",
    ]
    for endpoint, cases in res["ms"].items():
        f50, f95 = _p(cases["first"], 0.5), _p(cases["first"], 0.95)
        u50, u95 = _p(cases["uncached"], 0.5), _p(cases["uncached"], 0.95)
        r95, d95 = _p(cases["repeat"], 0.95), _p(cases["direct"], 0.95)
        lines.append(
            f"{endpoint:<10} {f50:>8.1f}ms {f95:>8.1f}ms {u50:>11.1f}ms {u95:>11.1f}ms "
            f"{r95:>9.1f}ms {d95:>9.1f}ms {u95 / d95:>15.2f}x {f95 / u95:>14.3f}x"
        )
    for case in ("first", "uncached", "repeat"):
        every = [t for cases in res["ms"].values() for t in cases[case]]
        lines.append(
            f"all dashboard API calls, {case}: p50 {_p(every, 0.5):.1f} ms, p95 {_p(every, 0.95):.1f} ms "
            f"(target p95 < 250 ms)"
        )
    direct = statistics.median(res["ms"]["headline"]["direct"])
    lines.append(f"median direct headline call: {direct:.1f} ms")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--filters", type=int, default=20, help="Filter combinations per case.")
    parser.add_argument(
        "--warm-pages",
        action="store_true",
        help="Also warm the journey/VoC/customer figures in the background while measuring "
        "(the server default; off by default here to measure the dashboards' steady state).",
    )
    bc.add_arguments(parser)
    args = parser.parse_args(argv)
    bc.apply_smoke(args, customers=2_000, filters=6)
    bench = bc.Run("web", args, argv)
    from metrics import ensure_demo  # bench/metrics.py builds and caches the demo store

    data_dir = args.data_dir or bc.data_dir(
        args, Path(tempfile.gettempdir()) / f"cxlens-bench-metrics-{args.customers}"
    )
    ensure_demo(data_dir, args.customers, args.seed)
    res = run(data_dir, args.filters, args.warm_pages)
    for line in report(res):
        print(line)
    rows = []
    for endpoint, cases in res["ms"].items():
        rows.append([endpoint, *(_p(cases[c], 0.95) for c in ("first", "uncached", "repeat", "direct"))])
    bench.table(
        f"Dashboard API p95 latency (ms), {args.customers:,} demo customers, {res['requests_per_case']} "
        f"filter combinations (load average {bench.load_before})",
        ["endpoint", "first", "uncached", "repeat", "direct (peer, no HTTP)"],
        rows,
        note=f"Start-up with the cache warm-up: {res['warm_up_s']:.1f} s. Target: p95 < 250 ms.",
    )
    bench.equal(
        "every HTTP answer = the direct figure call's",
        res["answers_identical"],
        res["answers_compared"],
    )
    return bench.finish(res)


if __name__ == "__main__":
    raise SystemExit(main())
