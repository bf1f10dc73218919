"""Shared pieces of the command line: consoles, global options, errors, output formats.

Start-up time: this module, like every ``cxlens.cli`` module, imports only the standard library,
Typer and Rich at its top; storage, analytics and pandas are imported inside the functions that
use them (docs/ARCHITECTURE.md, "Command line").
"""

from __future__ import annotations

import difflib
import json
import math
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from cxlens.errors import ReadOnlyStoreError, not_writable

if TYPE_CHECKING:
    import pandas as pd
    from rich.progress import Progress
    from rich.table import Table as RichTable

    from cxlens.display import DisplayNames
    from cxlens.storage.workspace import Workspace

#: Help panels: the four steps of customer experience management, plus workspace chores, in the
#: order ``cxlens --help`` lists them.
MAP, COLLECT, ANALYSE, ACT, ADMIN = (
    "1. Map the journey",
    "2. Collect experience data",
    "3. Analyse",
    "4. Act",
    "Workspace",
)
PANELS = (MAP, COLLECT, ANALYSE, ACT, ADMIN)

out = Console()
err = Console(stderr=True)

#: The values of ``--output``: a table for people, JSON or CSV for programs.
OUTPUTS = ("table", "json", "csv")

#: The workspace a command has open (tables for people show its names for ids) and its names.
_OPEN: ContextVar[Workspace | None] = ContextVar("cxlens_cli_workspace", default=None)
_NAMES: dict[int, DisplayNames] = {}
#: Longer tables of customers are shown without looking their names up.
MAX_NAMED_CUSTOMERS = 10_000
#: Id columns a table for people shows by name (JSON and CSV keep the ids); ``store_id`` keeps
#: its id (the value ``--store`` takes) with the store's name in a column beside it.
NAMED_COLUMNS = {"touchpoint": "touchpoint", "stage": "stage", "channel": "channel", "aspect": "aspect"}


def _output(value: str) -> str:
    choice = value.strip().lower()
    if choice not in OUTPUTS:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(OUTPUTS)}")
    return choice


def lowercase(values: Any) -> Any:
    """An option callback for names people write in any case (metrics, outcomes, scores: ``NPS``
    is ``nps``): one name or a list of them, lower-cased."""
    if isinstance(values, str):
        return values.strip().lower()
    return [v.strip().lower() for v in values] if values is not None else values


EngineOpt = Annotated[str | None, typer.Option("--engine", "-e", help="duckdb (default) or spark.")]
MetricOpt = Annotated[
    list[str],
    typer.Option(
        "--metric", "-m", help="nps, csat, csat_mean, ces or rating (any case).", callback=lowercase
    ),
]
ByOpt = Annotated[
    list[str], typer.Option("--by", "-b", help="Dimension(s) to group by, e.g. store_id, stage.")
]
FormatOpt = Annotated[
    str,
    typer.Option("--output", "-o", help="table (for people), json or csv (for programs).", callback=_output),
]
#: ``--json``, the older spelling of ``-o json`` on the commands that had it: kept, not shown.
JsonAlias = Annotated[bool, typer.Option("--json", hidden=True, help="Same as -o json.")]


def output_format(output: str, as_json: bool = False) -> str:
    """The output chosen by ``-o`` or by the older ``--json``."""
    return "json" if as_json else output


class State:
    """Options shared by every command (set by the top-level callback)."""

    data_dir: Path | None = None
    journey_map: Path | None = None
    #: The command opened and closed its workspace (a table printed afterwards still shows names,
    #: from a read-only look at the same store).
    workspace_closed: bool = False
    #: The names read from that store once (a command may print several tables after it closed).
    closed_names: DisplayNames | None = None


state = State()


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error for people and return the exit to raise (the message is plain text: square
    brackets in it, as in ``cxlens[web]`` or a value from a data file, are printed as they are)."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def open_workspace(read_only: bool = False) -> Iterator[Workspace]:
    """Open the workspace from the global options, turning setup errors into clear messages."""
    from cxlens.journey.map import JourneyMapError
    from cxlens.storage.workspace import LegacyStoreError, StoreLockedError, Workspace

    try:
        ws = Workspace(state.data_dir, state.journey_map, read_only=read_only)
    except JourneyMapError as exc:
        raise fail(str(exc)) from None
    token = _OPEN.set(ws)
    try:
        yield ws
    except (StoreLockedError, LegacyStoreError) as exc:
        raise fail(str(exc)) from None
    except (OSError, ReadOnlyStoreError) as exc:
        message = not_writable(exc)
        if message is None:
            raise
        hint = f" ({ws.read_only_reason})" if ws.read_only and isinstance(exc, OSError) else ""
        raise fail(message + hint) from None
    finally:
        _OPEN.reset(token)
        _NAMES.pop(id(ws), None)
        ws.close()
        state.workspace_closed = True


def _names(ws: Workspace | None) -> DisplayNames | None:
    """Display names of ``ws`` (journey map, taxonomy, stores); None without a workspace."""
    if ws is None:
        return None
    if id(ws) not in _NAMES:
        from cxlens.display import workspace_names

        _NAMES[id(ws)] = workspace_names(ws)
    return _NAMES[id(ws)]


@contextmanager
def _naming_workspace() -> Iterator[Workspace | None]:
    """The open workspace; after a command closed its workspace, the same store opened read-only
    for the moment (so a table printed after the ``with`` block still shows names); else None."""
    ws = _OPEN.get()
    if ws is not None or not state.workspace_closed:
        yield ws
        return
    from cxlens.storage.workspace import Workspace

    try:
        again = Workspace(state.data_dir, state.journey_map, read_only=True)
    except Exception:  # names are a courtesy: a table without them is still right
        yield None
        return
    if state.closed_names is not None:
        _NAMES[id(again)] = state.closed_names
    try:
        yield again
    finally:
        state.closed_names = _NAMES.pop(id(again), None)
        again.close()


def for_people(df: pd.DataFrame) -> pd.DataFrame:
    """A result frame as a table for people shows it: touchpoints, stages, channels, aspects and
    key drivers by name, each store's name beside its id, and customers' names where on file (the
    frame itself is unchanged)."""
    wanted = [c for c in (*NAMED_COLUMNS, "driver", "store_id") if c in df.columns]
    if not wanted and "customer_id" not in df.columns:
        return df
    with _naming_workspace() as ws:
        return _for_people(df, ws, wanted)


def _for_people(df: pd.DataFrame, ws: Workspace | None, wanted: list[str]) -> pd.DataFrame:
    if ws is not None and "customer_id" in df.columns and len(df) <= MAX_NAMED_CUSTOMERS:
        from cxlens.display import with_customer_names

        df = with_customer_names(ws, df)
    names = _names(ws) if wanted else None
    if names is None:
        return df
    df = df.copy()
    for col in wanted:
        if col == "driver":
            df[col] = names.drivers(df[col])
        elif col == "store_id":
            shown = names.many(df[col], "store")
            if any(n != str(v) for n, v in zip(shown, df[col], strict=True)) and "store" not in df.columns:
                df.insert(list(df.columns).index(col) + 1, "store", shown)
        else:
            df[col] = names.many(df[col], NAMED_COLUMNS[col])
    return df


@contextmanager
def progress_bars(enabled: bool) -> Iterator[Progress | None]:
    """A rich progress display on stderr for long loads (none when disabled)."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn

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


def check_stores(ids: Iterable[str | None], option: str = "--store") -> list[str]:
    """The store ids given, checked against the stores table: an unknown id is an error naming
    the closest known ones. With no stores loaded yet they are taken as they are (a warning says
    so): stores may be set up before their data arrives."""
    wanted = [s for s in ids if s]
    if not wanted:
        return []
    try:
        with open_workspace(read_only=True) as ws:
            known = (
                {str(s) for s in ws.table("stores").store_id.to_pandas()} if ws.has_table("stores") else set()
            )
    except FileNotFoundError:  # no store yet
        known = set()
    if not known:
        err.print(
            f"[yellow]warning:[/] no stores are loaded yet, so {', '.join(map(escape, wanted))} "
            "cannot be checked (cxlens ingest stores FILE)",
            highlight=False,
        )
        return wanted
    by_case = {k.casefold(): k for k in known}
    for store in wanted:
        if store not in known:
            close = [by_case[store.casefold()]] if store.casefold() in by_case else []
            close = close or difflib.get_close_matches(store, sorted(known), n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise fail(f"{option} {store}: no such store in the stores table ({len(known):,} stores){hint}")
    return wanted


# -- output: JSON and CSV straight to stdout for programs, Rich tables for people ------------------


def _finite(value: Any) -> Any:
    """JSON-ready: NaN and infinities as null, containers cleaned recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame as JSON-ready records (via pandas' JSON writer: dates as ISO, NaN as null)."""
    text = frame.to_json(orient="records", date_format="iso", force_ascii=False, default_handler=str)
    return list(json.loads(text))


def write_json(data: Any) -> None:
    """Machine-readable output: ``data`` (a frame as records, or plain data, frames inside it
    too) as JSON straight to stdout, not through Rich (rendering a large document with Rich costs
    seconds)."""
    if hasattr(data, "to_json"):
        text = data.to_json(orient="records", date_format="iso", force_ascii=False, default_handler=str)
    else:
        text = json.dumps(_finite(data), ensure_ascii=False, default=_json_default)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _json_default(value: Any) -> Any:
    if hasattr(value, "to_json"):  # a frame inside a document
        return _records(value)
    if hasattr(value, "item"):  # numpy scalars
        return _finite(value.item())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def write_csv(frame: pd.DataFrame) -> None:
    """A frame as CSV straight to stdout (cells safe from formula injection)."""
    from cxlens.report.export import safe_csv

    sys.stdout.write(safe_csv(frame))
    sys.stdout.flush()


def print_frame(
    df: pd.DataFrame, output: str, title: str = "", table_columns: list[str] | None = None
) -> None:
    """Print a result frame as a table, JSON records or CSV (CSV cells safe from formula
    injection). JSON and CSV hold every column; the table only ``table_columns`` when given (the
    ones that fit a terminal)."""
    if output == "json":
        write_json(df)
        return
    if output == "csv":
        write_csv(df)
        return
    if output != "table":
        raise fail(f"unknown output {output!r}; choose table, json or csv", code=2)
    import pandas as pd
    from rich.table import Table as RichTable

    if table_columns is not None:
        df = df[[c for c in table_columns if c in df.columns]]
    df = for_people(df)
    table = RichTable(title=title or None)
    for col in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col])
        table.add_column(str(col), justify="right" if numeric else "left", overflow="fold")
    for row in df.itertuples(index=False):
        table.add_row(*[cell(v) for v in row])
    print_table(table)


def print_frames(frames: Mapping[str, tuple[pd.DataFrame, str]], output: str) -> None:
    """Several result frames (name -> (frame, title)): tables one after the other for people; one
    JSON object keyed by name, or one CSV whose first column ``table`` names each row's frame."""
    if output == "json":
        write_json({name: frame for name, (frame, _) in frames.items()})
        return
    if output == "csv":
        import pandas as pd

        parts = [frame.assign(table=name) for name, (frame, _) in frames.items()]
        both = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["table"])
        write_csv(both[["table", *[c for c in both.columns if c != "table"]]])
        return
    for frame, title in frames.values():
        print_frame(frame, output, title)


def print_record(record: Mapping[str, Any], output: str, title: str = "", message: str = "") -> None:
    """One result (a dict): a JSON object or a one-row CSV for programs; for people ``message``
    when given (the sentence an action command prints), else a field/value table."""
    if output == "json":
        write_json(dict(record))
        return
    import pandas as pd

    flat = {k: (" to ".join(map(_plain, v)) if isinstance(v, list | tuple) else v) for k, v in record.items()}
    if output == "csv":
        write_csv(pd.DataFrame([flat]))
        return
    if message:
        out.print(message, highlight=False, markup=False, soft_wrap=True)
        return
    rows = pd.DataFrame({"field": list(flat), "value": [_plain(v) for v in flat.values()]})
    print_frame(rows, output, title)


def _plain(value: Any) -> str:
    """A value of a record for people: 4 significant digits, thousands as integers."""
    if isinstance(value, float):
        if value != value:
            return ""
        return f"{value:z,.4g}" if abs(value) < 1000 else f"{value:z,.0f}"
    return "" if value is None else str(value)


def print_table(table: RichTable) -> None:
    """A Rich table for people: in a terminal at its width, cells wrapping (never cut to
    "estima…"); into a pipe or file at its natural width, so nothing wraps either."""
    if out.is_terminal or "COLUMNS" in os.environ:
        out.print(table)
        return
    wide = Console(width=100_000, color_system=None)
    natural = wide.measure(table).maximum
    Console(width=max(natural, 80), color_system=None, highlight=False).print(table)


def cell(value: object) -> str:
    """A value for a table cell: floats to 2 decimals (small ones to 2 significant digits, so a
    support of 0.004 does not read 0.00; never "-0.00"), dates as days."""
    if isinstance(value, float):
        if value != value:
            return ""
        return f"{value:.2g}" if 0 < abs(value) < 0.01 else f"{value:z,.2f}"
    if hasattr(value, "strftime"):
        return str(value)[:10]
    return "" if value is None else str(value)


def parse_filters(items: list[str]) -> dict[str, object]:
    """``--filter DIMENSION=VALUE[,VALUE...]`` options as a dict of filters."""
    filters: dict[str, object] = {}
    for item in items:
        if "=" not in item:
            raise fail(f"--filter takes DIMENSION=VALUE[,VALUE...], got {item!r}", code=2)
        key, _, value = item.partition("=")
        values = [v for v in value.split(",") if v]
        filters[key.strip()] = values if len(values) != 1 else values[0]
    return filters
