"""Shared pieces of the command line: consoles, global options, errors, output formats."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn
from rich.table import Table as RichTable

from cxlens.journey.map import JourneyMapError
from cxlens.report.export import safe_csv
from cxlens.storage.workspace import LegacyStoreError, StoreLockedError, Workspace

#: Help panels: the four steps of customer experience management, plus workspace chores.
MAP, COLLECT, ANALYSE, ACT, ADMIN = (
    "1. Map the journey",
    "2. Collect experience data",
    "3. Analyse",
    "4. Act",
    "Workspace",
)

out = Console()
err = Console(stderr=True)

EngineOpt = Annotated[str | None, typer.Option("--engine", "-e", help="duckdb (default) or spark.")]
MetricOpt = Annotated[list[str], typer.Option("--metric", "-m", help="nps, csat, csat_mean, ces or rating.")]
ByOpt = Annotated[
    list[str], typer.Option("--by", "-b", help="Dimension(s) to group by, e.g. store_id, stage.")
]
FormatOpt = Annotated[str, typer.Option("--output", "-o", help="table, json or csv.")]


class State:
    """Options shared by every command (set by the top-level callback)."""

    data_dir: Path | None = None
    journey_map: Path | None = None


state = State()


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error for people and return the exit to raise (the message is plain text: square
    brackets in it, as in ``cxlens[web]`` or a value from a data file, are printed as they are)."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def open_workspace(read_only: bool = False) -> Iterator[Workspace]:
    """Open the workspace from the global options, turning setup errors into clear messages."""
    try:
        ws = Workspace(state.data_dir, state.journey_map, read_only=read_only)
    except JourneyMapError as exc:
        raise fail(str(exc)) from None
    try:
        yield ws
    except (StoreLockedError, LegacyStoreError) as exc:
        raise fail(str(exc)) from None
    finally:
        ws.close()


@contextmanager
def progress_bars(enabled: bool) -> Iterator[Progress | None]:
    """A rich progress display on stderr for long loads (none when disabled)."""
    if not enabled:
        yield None
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        yield progress


def _finite(value: Any) -> Any:
    """JSON-ready: NaN and infinities as null, containers cleaned recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def write_json(data: Any) -> None:
    """Machine-readable output: ``data`` (a frame as records, or plain data) as JSON straight to
    stdout, not through Rich (rendering a large document with Rich costs seconds)."""
    if hasattr(data, "to_json"):
        text = data.to_json(orient="records", date_format="iso", force_ascii=False, default_handler=str)
    else:
        text = json.dumps(_finite(data), ensure_ascii=False, default=str)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def write_csv(frame: Any) -> None:
    """A frame as CSV straight to stdout (cells safe from formula injection)."""
    sys.stdout.write(safe_csv(frame))
    sys.stdout.flush()


def print_frame(df: Any, output: str, title: str = "") -> None:
    """Print a result frame as a table, JSON records or CSV (CSV cells safe from formula injection)."""
    import pandas as pd

    if output == "json":
        write_json(df)
        return
    if output == "csv":
        write_csv(df)
        return
    if output != "table":
        raise fail(f"unknown output {output!r}; choose table, json or csv", code=2)
    table = RichTable(title=title or None)
    for col in df.columns:
        table.add_column(str(col), justify="right" if pd.api.types.is_numeric_dtype(df[col]) else "left")
    for row in df.itertuples(index=False):
        table.add_row(*[cell(v) for v in row])
    out.print(table)


def cell(value: object) -> str:
    """A value for a table cell: floats to 2 decimals (small ones to 2 significant digits, so a
    support of 0.004 does not read 0.00), dates as days."""
    if isinstance(value, float):
        if value != value:
            return ""
        return f"{value:.2g}" if 0 < abs(value) < 0.01 else f"{value:,.2f}"
    if hasattr(value, "strftime"):
        return str(value)[:10]
    return "" if value is None else str(value)


def parse_filters(items: list[str]) -> dict[str, object]:
    filters: dict[str, object] = {}
    for item in items:
        if "=" not in item:
            raise fail(f"--filter takes DIMENSION=VALUE[,VALUE...], got {item!r}", code=2)
        key, _, value = item.partition("=")
        values = [v for v in value.split(",") if v]
        filters[key.strip()] = values if len(values) != 1 else values[0]
    return filters
