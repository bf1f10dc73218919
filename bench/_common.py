"""What every benchmark shares: machine facts, timing, peer-agreement checks, smoke sizes, results.

A benchmark builds a :class:`Run` from its parsed arguments, records each comparison with a peer as
a check (:meth:`Run.check`, :meth:`Run.equal`, :meth:`Run.close`), adds the tables it prints
(:meth:`Run.table`) and ends with ``sys.exit(run.finish(results))``: the results go to
``bench/results/<name>-<time>.json`` and the exit code is 1 when any check failed, so a
disagreement with a peer fails ``make bench`` and ``make bench-smoke``.

``--smoke`` runs a benchmark at the small size it declares with :func:`apply_smoke` (what
``make bench-smoke`` and so ``make test`` run); ``--publish`` also writes the JSON to
``docs/benchmarks/<name>.json`` and its table, with the machine, the date and the command, into
``docs/benchmarks.md`` (what ``make bench`` does).

Standard library only: the Retentioneering peer runs in its own virtual environment and imports
:func:`timed_import` from here, so imports are timed the same way on every side.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import importlib
import json
import math
import os
import platform
import resource
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
DOCS_JSON_DIR = ROOT / "docs" / "benchmarks"
DOCS_MD = ROOT / "docs" / "benchmarks.md"
#: The virtual environment ``make bench-peers`` creates for Retentioneering (its own pandas and numpy).
RETE_PYTHON = ROOT / ".venv-rete" / "bin" / "python"


# -- measuring -------------------------------------------------------------------------------------
def timed_import(*modules: str) -> float:
    """Import ``modules`` and return the seconds it took (the same measure for cxlens and its peers)."""
    started = time.perf_counter()
    for name in modules:
        importlib.import_module(name)
    return time.perf_counter() - started


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds a call took, and its result."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    """The fastest of ``repeat`` calls, in seconds (the least disturbed by a shared machine)."""
    return min(timed(fn)[0] for _ in range(max(repeat, 1)))


def cpu_seconds() -> float:
    """CPU seconds (user + system, all threads) this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _status_mb(field: str) -> float | None:
    """A ``kB`` field of ``/proc/self/status`` in MB (None where there is no such file)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """Peak resident memory of this process image in MB (``VmHWM``, reset by exec unlike
    ``ru_maxrss``, which a child inherits from a large parent; ``ru_maxrss`` where absent)."""
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Resident memory of this process now, in MB (NaN where unknown)."""
    now = _status_mb("VmRSS")
    return now if now is not None else float("nan")


def load_average() -> float:
    """The one-minute load average (other work on a shared machine slows every side alike)."""
    return round(os.getloadavg()[0], 2)


def machine() -> dict[str, Any]:
    """What a reader needs to compare figures: CPU, cores, memory, OS, Python and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    versions = {}
    for name in ("duckdb", "ibis", "pandas", "pyarrow", "numpy"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = getattr(module, "__version__", "?")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "versions": versions,
    }


# -- arguments -------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--smoke`` and ``--publish``, the same for every benchmark."""
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="run at the small smoke size (make bench-smoke, part of make test); checks still apply",
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="also write docs/benchmarks/<name>.json and its table in docs/benchmarks.md (make bench)",
    )


def apply_smoke(args: argparse.Namespace, **sizes: Any) -> None:
    """With ``--smoke``, set each size argument to its smoke value (a benchmark's one smoke size)."""
    if args.smoke:
        for name, value in sizes.items():
            setattr(args, name, value)


def data_dir(args: argparse.Namespace, kept: Path) -> Path:
    """Where a benchmark keeps the data it generates: ``kept`` (reused by the next run), or with
    ``--smoke`` a fresh temporary directory removed at exit, so that a smoke run never reads data
    an older version of cxlens wrote."""
    if not getattr(args, "smoke", False):
        return kept
    fresh = Path(tempfile.mkdtemp(prefix=f"cxlens-smoke-{kept.name}-"))
    atexit.register(shutil.rmtree, fresh, True)
    return fresh


# -- a run: checks, tables, results ---------------------------------------------------------------
class Run:
    """One benchmark run: its command, machine and load, the checks against peers and the tables."""

    def __init__(self, name: str, args: argparse.Namespace, argv: Sequence[str] | None = None) -> None:
        self.name = name
        self.smoke = bool(getattr(args, "smoke", False))
        self.publish = bool(getattr(args, "publish", False)) and not self.smoke
        words = list(sys.argv[1:] if argv is None else argv)
        self.command = shlex.join(["python", f"bench/{name}.py", *words])
        self.started = dt.datetime.now().astimezone()
        self.load_before = load_average()
        self.checks: list[dict[str, Any]] = []
        self.tables: list[dict[str, Any]] = []
        print(f"{self.command}  (load average {self.load_before} on {os.cpu_count()} cores)", file=sys.stderr)

    # checks
    def check(self, what: str, ok: bool, detail: str = "") -> bool:
        """Record and print one agreement check; a failed one makes :meth:`finish` return 1."""
        self.checks.append({"check": what, "ok": bool(ok), "detail": detail})
        print(f"check {'ok' if ok else 'FAILED'}: {what}" + (f" ({detail})" if detail else ""))
        return bool(ok)

    def equal(self, what: str, ours: Any, peer: Any) -> bool:
        """Check that two values are identical (counts, itemsets, digests)."""
        detail = "" if ours == peer else f"cxlens {_short(ours)} vs peer {_short(peer)}"
        return self.check(what, ours == peer, detail)

    def close(self, what: str, ours: float, peer: float, rel: float = 1e-6, abs_: float = 0.0) -> bool:
        """Check that two numbers agree within a relative (and absolute) tolerance."""
        ok = math.isclose(ours, peer, rel_tol=rel, abs_tol=abs_)
        gap = abs(ours - peer) / max(abs(peer), 1e-300)
        return self.check(
            what, ok, f"cxlens {ours:.6g}, peer {peer:.6g}, relative gap {gap:.1e} (allowed {rel:g})"
        )

    def ran(self, what: str, result: dict[str, Any]) -> bool:
        """Check that a case produced a result (a peer that did not run is a failure, not a footnote)."""
        reason = result.get("unavailable")
        return self.check(f"{what} ran", reason is None, str(reason or ""))

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The checks that failed."""
        return [c for c in self.checks if not c["ok"]]

    # tables
    def table(
        self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], note: str = ""
    ) -> None:
        """A result table: printed now, stored in the JSON and rendered into docs/benchmarks.md."""
        self.tables.append(
            {
                "title": title,
                "columns": list(columns),
                "rows": [[_cell(v) for v in r] for r in rows],
                "note": note,
            }
        )
        print()
        print(render_table(self.tables[-1], markdown=False))

    # results
    def finish(self, results: Any) -> int:
        """Write the results (and publish them with ``--publish``); 1 if any check failed, else 0."""
        payload = {
            "benchmark": self.name,
            "command": self.command,
            "date": self.started.isoformat(timespec="seconds"),
            "seconds": round((dt.datetime.now().astimezone() - self.started).total_seconds(), 1),
            "machine": machine(),
            "load_average": {"before": self.load_before, "after": load_average()},
            "smoke": self.smoke,
            "checks": self.checks,
            "tables": self.tables,
            "results": results,
        }
        text = json.dumps(payload, indent=2, default=_json_default) + "\n"
        RESULTS_DIR.mkdir(exist_ok=True)
        out = RESULTS_DIR / f"{self.name}-{self.started:%Y%m%d-%H%M%S}.json"
        out.write_text(text, encoding="utf-8")
        print(f"\nresults: {out}")
        if self.publish:
            DOCS_JSON_DIR.mkdir(parents=True, exist_ok=True)
            (DOCS_JSON_DIR / f"{self.name}.json").write_text(text, encoding="utf-8")
            publish_markdown(payload)
            print(f"published: {DOCS_JSON_DIR / (self.name + '.json')} and {DOCS_MD}")
        if self.failed:
            print(f"{len(self.failed)} of {len(self.checks)} checks FAILED:", file=sys.stderr)
            for c in self.failed:
                print(f"  {c['check']}: {c['detail']}", file=sys.stderr)
            return 1
        print(f"all {len(self.checks)} checks passed")
        return 0


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


def _cell(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, frozenset | set):
        return sorted(map(str, value))
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


# -- docs/benchmarks.md ----------------------------------------------------------------------------
def render_table(table: dict[str, Any], markdown: bool = True) -> str:
    """A table as Markdown (for the docs) or aligned text (for the terminal)."""
    columns = table["columns"]
    rows = [[_fmt(v) for v in r] for r in table["rows"]]
    if markdown:
        lines = [f"**{table['title']}**", "", "| " + " | ".join(columns) + " |"]
        lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(columns))) + "|")
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    else:
        widths = [max([len(str(c)), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
        fmt = lambda cells: "  ".join(  # noqa: E731
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        lines = [table["title"], fmt(columns), *(fmt(r) for r in rows)]
    if table.get("note"):
        lines += ["", table["note"]]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == 0:
            return "0"
        digits = 3 if abs(value) < 10 else 2 if abs(value) < 1000 else 0
        return f"{value:,.{digits}f}"
    return str(value)


def render_section(payload: dict[str, Any]) -> str:
    """The generated part of a benchmark's section in docs/benchmarks.md."""
    m = payload["machine"]
    load = payload["load_average"]
    versions = ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items())
    passed = sum(c["ok"] for c in payload["checks"])
    lines = [
        f"Command: `{payload['command']}`  ",
        f"Run: {payload['date']}, {payload['seconds']:,.0f} s; load average {load['before']} before, "
        f"{load['after']} after  ",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; {m['os']}; Python {m['python']}"
        + (f"; {versions}" if versions else "")
        + "  ",
        f"Checks against the peers: {passed} of {len(payload['checks'])} passed; "
        f"JSON: [`docs/benchmarks/{payload['benchmark']}.json`](benchmarks/{payload['benchmark']}.json)",
    ]
    for table in payload["tables"]:
        lines += ["", render_table(table)]
    return "\n".join(lines)


def publish_markdown(payload: dict[str, Any], path: Path | None = None) -> None:
    """Replace (or append) the benchmark's generated block in docs/benchmarks.md."""
    path = path or DOCS_MD
    name = payload["benchmark"]
    begin, end = f"<!-- begin {name} (generated by bench/{name}.py --publish) -->", f"<!-- end {name} -->"
    block = f"{begin}\n{render_section(payload)}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + f"\n\n## {name}\n\n{block}\n"
    path.write_text(text, encoding="utf-8")
