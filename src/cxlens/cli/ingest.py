"""``cxlens ingest``: validate and load files, mapping the columns of a retailer's own export."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from cxlens.cli.common import (
    FormatOpt,
    err,
    fail,
    open_workspace,
    out,
    print_frame,
    print_table,
    progress_bars,
    state,
    write_json,
)
from cxlens.model.schema import TABLE_ORDER

if TYPE_CHECKING:
    from cxlens.collect.ingest import LoadResult
    from cxlens.collect.mapping import ColumnMapping
    from cxlens.storage.workspace import Workspace


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
    mapping: ColumnMapping | None = None,
    show_progress: bool = True,
    verbose: bool = True,
) -> list[LoadResult]:
    """Ingest with a progress bar and phase messages on stderr; errors become clear exits."""
    from cxlens.collect.ingest import IngestError, SourceError

    with progress_bars(show_progress) as bars:

        def make_tick(label: str):  # type: ignore[no-untyped-def]
            if bars is None:
                return None
            task = bars.add_task(Path(label).name, total=None)

            def tick(done: int, total: int | None) -> None:
                bars.update(task, completed=done, total=total)

            return tick

        def log(message: str) -> None:
            if verbose:
                err.print(f"[dim]{escape(message)}[/]", highlight=False, soft_wrap=True)

        try:
            return ws.ingest(
                table,
                list(paths),
                policy="quarantine" if quarantine else "reject",
                fmt=fmt,
                encoding=encoding,
                delimiter=sep,
                allow_extra_columns=allow_extra_columns,
                mapping=mapping,
                progress=make_tick,
                log=log,
            )
        except (IngestError, SourceError) as exc:
            raise fail(str(exc)) from None
        except ValueError as exc:
            raise fail(str(exc), code=2) from None
        except Exception as exc:  # a reader or engine error we did not foresee: still no traceback
            raise fail(f"{', '.join(map(str, paths))}: could not load: {type(exc).__name__}: {exc}") from None


def build_mapping(
    mapping_file: Path | None, maps: list[str], sets: list[str], date_formats: list[str]
) -> ColumnMapping:
    """The mapping from a file (if any) with the command-line flags on top."""
    from cxlens.collect.mapping import ColumnMapping, MappingError, load_mapping, parse_pairs

    try:
        base = load_mapping(mapping_file) if mapping_file else ColumnMapping()
        flags = ColumnMapping(
            map=parse_pairs(maps, "--map"),
            set=parse_pairs(sets, "--set"),
            date_formats=list(date_formats),
            origin="--map/--set",
        )
    except MappingError as exc:
        raise fail(str(exc), code=2) from None
    return base.merged(flags)


def ingest(
    table: Annotated[str, typer.Argument(help=f"Table to load: {', '.join(TABLE_ORDER)}.")],
    paths: Annotated[
        list[Path], typer.Argument(help="Files or directories (CSV, TSV, Parquet, JSON, NDJSON; .gz too).")
    ],
    maps: Annotated[
        list[str],
        typer.Option(
            "--map",
            help="COLUMN=HEADER: the data-model column is in the file under this header (repeatable; "
            "any Unicode, e.g. --map text=レビュー本文).",
        ),
    ] = [],  # noqa: B006 - typer reads the default
    sets: Annotated[
        list[str],
        typer.Option("--set", help="COLUMN=VALUE: the same value in every row, e.g. --set source=review."),
    ] = [],  # noqa: B006
    date_formats: Annotated[
        list[str],
        typer.Option(
            "--date-format",
            help="strptime layout of the file's dates, e.g. %Y/%m/%d (repeatable: tried in order).",
        ),
    ] = [],  # noqa: B006
    mapping_file: Annotated[
        Path | None, typer.Option("--mapping", help="Column mapping YAML (see docs/own-data.md).")
    ] = None,
    save_mapping: Annotated[
        Path | None,
        typer.Option("--save-mapping", help="Write the mapping used (or suggested, with --preview) to YAML."),
    ] = None,
    preview: Annotated[
        bool,
        typer.Option(
            "--preview", help="Show the first rows as they would be stored and a suggested mapping."
        ),
    ] = False,
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
    sep: Annotated[
        str | None, typer.Option(help="CSV field separator (default: , ; tab or | from the header line).")
    ] = None,
    allow_extra_columns: Annotated[
        bool,
        typer.Option(
            "--allow-extra-columns", help="Drop columns the data model does not know instead of failing."
        ),
    ] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="Hide the progress bar.")] = False,
    output: FormatOpt = "table",
) -> None:
    """Validate and load files into a table of the data model (idempotent and atomic per file).

    A retailer's own export loads without code: name the columns with --map (or a --mapping
    file), constants with --set and date layouts with --date-format; --preview first shows what
    would be stored and suggests a mapping from the headers.
    """
    from cxlens.collect.mapping import ColumnMapping

    mapping = build_mapping(mapping_file, maps, sets, date_formats)
    if preview:
        show_preview(table, paths, mapping, fmt, encoding, sep, save_mapping, output)
        return
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
            mapping=mapping,
            show_progress=not no_progress and sys.stderr.isatty(),
        )
    saved = None
    if save_mapping is not None:
        used = mapping if mapping.table else ColumnMapping(**{**vars(mapping), "table": table})
        saved = used.save(save_mapping)
    if output != "table":
        _print_results(results, saved, output)
        return
    for r in results:
        out.print(escape(r.summary()), highlight=False)
        for note in r.notes:
            out.print(f"  [dim]note: {escape(note)}[/]", highlight=False)
        for e in r.errors[:10]:
            out.print(f"  [yellow]{escape(str(e))}[/]", highlight=False)
        if r.error_count > 10:
            out.print(f"  ... {r.error_count - 10:,} more problems: see the _rejects table", highlight=False)
    if saved is not None:
        out.print(f"mapping saved to {saved}", highlight=False, markup=False)


def _print_results(results: list[LoadResult], saved: Path | None, output: str) -> None:
    """What each file's load did, for programs: one row (JSON record or CSV line) per file."""
    import pandas as pd

    rows = [
        {
            "table": r.table,
            "source": r.source,
            "rows_read": r.rows_read,
            "rows_loaded": r.rows_loaded,
            "rows_duplicate": r.rows_duplicate,
            "rows_rejected": r.rows_rejected,
            "problems": r.error_count,
            "load_id": r.load_id,
            "seconds": round(r.seconds, 3),
            "notes": "; ".join(r.notes),
            "mapping_saved_to": None if saved is None else str(saved),
        }
        for r in results
    ]
    print_frame(pd.DataFrame(rows), output)


def show_preview(
    table: str,
    paths: list[Path],
    mapping: ColumnMapping,
    fmt: str | None,
    encoding: str,
    sep: str | None,
    save_mapping: Path | None,
    output: str = "table",
) -> None:
    """Print the preview of the first file: rows as stored, problems, and the suggested mapping
    (with -o json: the rows as records, the problems, the missing columns and the mapping)."""
    from rich.table import Table as RichTable

    from cxlens.collect.ingest import SourceError
    from cxlens.collect.mapping import MappingError
    from cxlens.collect.preview import preview
    from cxlens.journey.map import JourneyMapError, load_journey_map

    if len(paths) != 1 or paths[0].is_dir():
        raise fail("--preview takes one file", code=2)
    try:
        jm = load_journey_map(state.journey_map)
        shown = preview(table, paths[0], mapping, journey_map=jm, fmt=fmt, encoding=encoding, delimiter=sep)
    except (SourceError, MappingError, JourneyMapError) as exc:
        raise fail(str(exc)) from None
    except ValueError as exc:
        raise fail(str(exc), code=2) from None
    saved = shown.mapping.save(save_mapping) if save_mapping is not None else None
    if output != "table":
        if output == "csv":
            print_frame(shown.rows, "csv")
            return
        write_json(
            {
                "source": shown.source,
                "headers": list(shown.headers),
                "rows": shown.rows,
                "notes": list(shown.notes),
                "problems": [str(p) for p in shown.problems],
                "missing": list(shown.missing),
                "suggested": dict(shown.suggested),
                "mapping": shown.mapping.dump(),
                "flags": shown.flags(),
                "mapping_saved_to": None if saved is None else str(saved),
            }
        )
        return
    out.print(
        f"[bold]{escape(shown.source)}[/]: {len(shown.headers)} columns: {escape(', '.join(shown.headers))}"
    )
    grid = RichTable(title=f"first {len(shown.rows)} rows as {table} would store them", title_justify="left")
    grid.add_column("column")
    for i in range(len(shown.rows)):
        grid.add_column(f"row {i + 1}", overflow="fold", max_width=40)
    for col in shown.rows.columns:
        source = shown.mapping.map.get(col) or ("(set)" if col in shown.mapping.set else col)
        label = col if source == col else f"{col} ← {source}"
        grid.add_row(escape(label), *[escape(_cell(v)) for v in shown.rows[col]])
    print_table(grid)
    for note in shown.notes:
        out.print(f"[dim]note: {escape(note)}[/]", highlight=False)
    for problem in [p for p in shown.problems if p.column not in shown.missing][:20]:
        out.print(f"[yellow]{escape(str(problem))}[/]", highlight=False)
    if shown.missing:
        out.print(
            f"[red]still missing:[/] {', '.join(shown.missing)}: map a column to each "
            f"(--map COLUMN=HEADER) or give a value (--set COLUMN=VALUE)",
            highlight=False,
        )
    if shown.suggested:
        out.print(
            "[bold]suggested from the headers:[/] "
            + escape(", ".join(f"{c} ← {h}" for c, h in shown.suggested.items()))
        )
    out.print(
        "\n[bold]mapping[/] (save it with --save-mapping FILE.yaml, then load with --mapping FILE.yaml):"
    )
    out.print(escape(shown.mapping.dump()), highlight=False)
    out.print(
        f"[bold]or as flags:[/] cxlens ingest {table} {escape(str(paths[0]))} {escape(shown.flags())}",
        soft_wrap=True,
    )
    if saved is not None:
        out.print(f"mapping saved to {saved}", highlight=False, markup=False)


def _cell(value: Any) -> str:
    import pandas as pd

    if value is None or (not isinstance(value, list | tuple) and pd.isna(value)):
        return ""
    text = str(value)
    return text if len(text) <= 120 else text[:117] + "..."
