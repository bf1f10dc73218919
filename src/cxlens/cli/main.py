"""The ``cxlens`` command line: thin commands over :class:`cxlens.Workspace`, grouped by the four
steps of customer experience management (map, collect, analyse, act)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn
from rich.table import Table as RichTable

from cxlens.collect.ingest import IngestError, LoadResult, SourceError
from cxlens.config import get_settings
from cxlens.journey.map import JourneyMapError
from cxlens.model.schema import TABLE_ORDER
from cxlens.storage.workspace import StoreLockedError, Workspace

MAP, COLLECT, ANALYSE, ACT, ADMIN = (
    "1. Map the journey",
    "2. Collect experience data",
    "3. Analyse",
    "4. Act",
    "Workspace",
)

app = typer.Typer(
    name="cxlens",
    help="cxlens: open customer experience management for retailers.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
journey_app = typer.Typer(help="Show and check the journey map.", no_args_is_help=True)
app.add_typer(journey_app, name="journey", rich_help_panel=MAP)

out = Console()
err = Console(stderr=True)


class State:
    """Options shared by every command (set by the top-level callback)."""

    data_dir: Path | None = None
    journey_map: Path | None = None


state = State()


@app.callback()
def main(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", "-d", envvar="CXLENS_DATA_DIR", help="Data directory (default ./cxlens-data)."
        ),
    ] = None,
    journey_map: Annotated[
        Path | None,
        typer.Option(
            "--journey-map", envvar="CXLENS_JOURNEY_MAP", help="Journey map YAML (default: retail)."
        ),
    ] = None,
) -> None:
    """cxlens: map the journey, collect experience data, analyse it, act on it."""
    state.data_dir = data_dir
    state.journey_map = journey_map


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error for people and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
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
    except StoreLockedError as exc:
        raise fail(str(exc)) from None
    finally:
        ws.close()


@journey_app.command("show")
def journey_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print the map as JSON.")] = False,
) -> None:
    """Print the journey map in force: stages, touchpoints, channels and event types."""
    try:
        ws = Workspace(state.data_dir, state.journey_map)
    except JourneyMapError as exc:
        raise fail(str(exc)) from None
    jm = ws.journey_map
    if as_json:
        out.print_json(jm.model_dump_json())
        return
    table = RichTable(title=f"Journey map: {jm.name}", show_lines=False)
    for col in ("stage", "touchpoint", "channels", "event types"):
        table.add_column(col)
    for row in jm.rows():
        table.add_row(
            str(row["stage_name"]) if row["touchpoint_order"] == 0 else "",
            f"{row['touchpoint_name']} [dim]({row['touchpoint']})[/]",
            str(row["channels"]),
            str(row["event_types"]),
        )
    out.print(table)
    out.print("channels: " + ", ".join(f"{c.id} ({c.kind})" for c in jm.channels))


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


def run_ingest(
    ws: Workspace,
    table: str,
    paths: list[Path],
    *,
    quarantine: bool = False,
    fmt: str | None = None,
    encoding: str = "utf-8",
    sep: str | None = None,
    allow_extra_columns: bool = False,
    show_progress: bool = True,
) -> list[LoadResult]:
    """Ingest with a progress bar and phase messages on stderr; errors become clear exits."""
    with progress_bars(show_progress) as bars:

        def make_tick(label: str):  # type: ignore[no-untyped-def]
            if bars is None:
                return None
            task = bars.add_task(Path(label).name, total=None)

            def tick(done: int, total: int | None) -> None:
                bars.update(task, completed=done, total=total)

            return tick

        def log(message: str) -> None:
            err.print(f"[dim]{message}[/]", highlight=False)

        try:
            return ws.ingest(
                table,
                list(paths),
                policy="quarantine" if quarantine else "reject",
                fmt=fmt,
                encoding=encoding,
                delimiter=sep,
                allow_extra_columns=allow_extra_columns,
                progress=make_tick,
                log=log,
            )
        except (IngestError, SourceError) as exc:
            raise fail(str(exc)) from None
        except ValueError as exc:
            raise fail(str(exc), code=2) from None


@app.command(rich_help_panel=COLLECT)
def ingest(
    table: Annotated[str, typer.Argument(help=f"Table to load: {', '.join(TABLE_ORDER)}.")],
    paths: Annotated[
        list[Path], typer.Argument(help="Files or directories (CSV, TSV, Parquet, JSON, NDJSON; .gz too).")
    ],
    quarantine: Annotated[
        bool,
        typer.Option(
            "--quarantine", help="Load good rows and keep bad ones in _rejects (default: reject the file)."
        ),
    ] = False,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="csv, tsv, parquet, json or ndjson (default: from the name)."),
    ] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of CSV/JSON files.")] = "utf-8",
    sep: Annotated[str | None, typer.Option(help="CSV field separator (default , or tab for .tsv).")] = None,
    allow_extra_columns: Annotated[
        bool,
        typer.Option(
            "--allow-extra-columns", help="Drop columns the data model does not know instead of failing."
        ),
    ] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="Hide the progress bar.")] = False,
) -> None:
    """Validate and load files into a table of the data model (idempotent and atomic per file)."""
    with open_workspace() as ws:
        results = run_ingest(
            ws,
            table,
            paths,
            quarantine=quarantine,
            fmt=fmt,
            encoding=encoding,
            sep=sep,
            allow_extra_columns=allow_extra_columns,
            show_progress=not no_progress and sys.stderr.isatty(),
        )
    for r in results:
        out.print(r.summary(), highlight=False)
        for e in r.errors[:10]:
            out.print(f"  [yellow]{e}[/]", highlight=False)
        if r.error_count > 10:
            out.print(f"  ... {r.error_count - 10:,} more problems: see the _rejects table", highlight=False)


def print_status(ws: Workspace) -> None:
    """Print row counts per table and the latest loads."""
    table = RichTable(title=f"cxlens store {ws.db_path}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in ws.counts().items():
        table.add_row(name, f"{n:,}")
    out.print(table)


@app.command(rich_help_panel=ADMIN)
def status() -> None:
    """Show what the store holds: rows per table."""
    with open_workspace() as ws:
        print_status(ws)


@app.command(rich_help_panel=ADMIN)
def settings() -> None:
    """Print the settings in force (from CXLENS_* environment variables and defaults)."""
    for name, value in get_settings().model_dump().items():
        out.print(f"CXLENS_{name.upper()}={'' if value is None else value}", highlight=False)
