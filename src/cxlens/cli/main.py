"""The ``cxlens`` command line: thin commands over :class:`cxlens.Workspace`, grouped by the four
steps of customer experience management (map, collect, analyse, act).

Each area keeps its commands in a module of its own (``journey``, ``analyse``, ...); this module
holds the top-level app, the collection and workspace commands, and the main job.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from cxlens.cli.act import act_app
from cxlens.cli.analyse import analyse_app
from cxlens.cli.backup import backup, restore
from cxlens.cli.collect import collect_app
from cxlens.cli.collect import serve as collect_serve
from cxlens.cli.common import (
    ACT,
    ADMIN,
    ANALYSE,
    COLLECT,
    MAP,
    PANELS,
    EngineOpt,
    FormatOpt,
    err,
    fail,
    open_workspace,
    out,
    print_frame,
    print_record,
    progress_bars,
    state,
)
from cxlens.cli.customers import customers_app
from cxlens.cli.ingest import ingest, run_ingest
from cxlens.cli.journey import journey_app
from cxlens.cli.loyalty import loyalty_app
from cxlens.cli.privacy import privacy_app
from cxlens.cli.promo import promo_app
from cxlens.cli.store import store_app
from cxlens.cli.text import text_app
from cxlens.cli.users import users_app
from cxlens.errors import not_writable

if TYPE_CHECKING:
    import pandas as pd

    from cxlens.act.alerts import AlertRun
    from cxlens.storage.workspace import Workspace


class StepsGroup(TyperGroup):
    """The top-level command list in the order of the steps of customer experience management
    (map, collect, analyse, act), then workspace chores; in order of creation within a step."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)

        def rank(name: str) -> int:
            panel = getattr(self.commands[name], "rich_help_panel", None)
            return PANELS.index(panel) if panel in PANELS else len(PANELS)

        return sorted(names, key=rank)


class _Cli(typer.Typer):
    """The top-level app: a store that cannot be written here (a read-only data directory) is an
    ``error:`` line and exit code 1 from any command, never a traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            message = not_writable(exc)
            if message is None:
                raise
            raise SystemExit(fail(message).exit_code) from None


app = _Cli(
    name="cxlens",
    help="cxlens: open customer experience management for retailers.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    cls=StepsGroup,
)
app.add_typer(journey_app, name="journey", rich_help_panel=MAP)
app.add_typer(collect_app, name="collect", rich_help_panel=COLLECT)
app.add_typer(analyse_app, name="analyse", rich_help_panel=ANALYSE)
app.add_typer(text_app, name="text", rich_help_panel=ANALYSE)
app.add_typer(customers_app, name="customers", rich_help_panel=ANALYSE)
app.add_typer(loyalty_app, name="loyalty", rich_help_panel=ANALYSE)
app.add_typer(promo_app, name="promo", rich_help_panel=ANALYSE)
app.add_typer(act_app, name="act", rich_help_panel=ACT)
app.add_typer(users_app, name="users", rich_help_panel=ADMIN)
app.add_typer(privacy_app, name="privacy", rich_help_panel=ADMIN)
app.command(rich_help_panel=COLLECT)(ingest)
app.add_typer(store_app, name="store", rich_help_panel=ADMIN)
app.command(rich_help_panel=ADMIN)(backup)
app.command(rich_help_panel=ADMIN)(restore)
app.command(
    "serve",
    rich_help_panel=ADMIN,
    help="Serve the web app: dashboards at /app (users from `cxlens users`), survey forms, events API.",
)(collect_serve)


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
    state.workspace_closed = False
    state.closed_names = None


def status_frame(ws: Workspace) -> pd.DataFrame:
    """Rows per data-model table."""
    import pandas as pd

    return pd.DataFrame(list(ws.counts().items()), columns=["table", "rows"])


@app.command(rich_help_panel=ADMIN)
def status(output: FormatOpt = "table") -> None:
    """Show what the store holds: rows per table."""
    with open_workspace() as ws:
        print_frame(status_frame(ws), output, f"cxlens store {ws.location}")


@app.command(rich_help_panel=ADMIN)
def settings(output: FormatOpt = "table") -> None:
    """Print the settings in force (from CXLENS_* environment variables and defaults)."""
    from cxlens.config import get_settings

    values = {f"CXLENS_{k.upper()}": v for k, v in get_settings().model_dump().items()}
    if output != "table":
        print_record(values, output)
        return
    for name, value in values.items():
        out.print(f"{name}={'' if value is None else value}", highlight=False, markup=False)


def demo_dir(ws: Workspace, customers: int, seed: int) -> Path:
    """Where the demo files for these parameters live inside the data directory."""
    return ws.data_dir / "demo" / f"customers-{customers}-seed-{seed}"


def build_demo(ws: Workspace, customers: int, seed: int, show_progress: bool) -> Path:
    """Generate the demo retailer's files (once per size and seed) and load them into the store."""
    from cxlens.demo import generate
    from cxlens.model.schema import TABLE_ORDER

    target = demo_dir(ws, customers, seed)
    if not (target / "_SUCCESS").exists():
        tmp = target.with_name(target.name + ".tmp")
        with progress_bars(show_progress) as bars:
            task = bars.add_task("generating demo retailer", total=customers) if bars else None

            def tick(_label: str, done: int) -> None:
                if bars is not None and task is not None:
                    bars.update(task, completed=done)

            err.print(f"[dim]generating a demo retailer with {customers:,} customers (seed {seed})[/]")
            shutil.rmtree(tmp, ignore_errors=True)
            generate(tmp, customers=customers, seed=seed, progress=tick)
        (tmp / "_SUCCESS").touch()
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    for table in TABLE_ORDER:
        folder = target / table
        if folder.exists():
            results = run_ingest(ws, table, [folder], show_progress=show_progress, verbose=False)
            loaded = sum(r.rows_loaded for r in results)
            read = sum(r.rows_read for r in results)
            err.print(f"[dim]loaded {table}: {loaded:,} new of {read:,} rows[/]", highlight=False)
    return target


@app.command(rich_help_panel=COLLECT)
def demo(
    customers: Annotated[int, typer.Option(min=100, help="Number of customers to generate.")] = 50_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same retailer.")] = 42,
    output: FormatOpt = "table",
) -> None:
    """Generate a synthetic omnichannel retailer (seeded) and load it into the store."""
    with open_workspace() as ws:
        folder = build_demo(ws, customers, seed, sys.stderr.isatty())
        counts = status_frame(ws)
        location = ws.location
    if output != "table":
        print_record({"demo_files": str(folder), "rows": dict(counts.itertuples(index=False))}, output)
        return
    out.print(f"demo files in {folder}", highlight=False, markup=False, soft_wrap=True)
    print_frame(counts, output, f"cxlens store {location}")


@app.command(rich_help_panel=ANALYSE)
def report(
    path: Annotated[
        Path | None, typer.Option("--out", help="HTML file to write (default: <data-dir>/report.html).")
    ] = None,
    pdf: Annotated[bool, typer.Option("--pdf", help="Also print it to PDF with Chromium.")] = False,
    grain: Annotated[str, typer.Option(help="Period for the summary and trends.")] = "month",
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Write the CX report: one self-contained HTML file that works offline."""
    with open_workspace() as ws:
        written = write_report(ws, path, grain, engine, pdf)
    lines = [f"{kind}: {file}" for kind, file in written.items()]
    print_record({k: str(v) for k, v in written.items()}, output, message="\n".join(lines))


def write_report(
    ws: Workspace, path: Path | None, grain: str, engine: str | None, pdf: bool
) -> dict[str, Path]:
    """Build the report with a spinner, optionally print it to PDF; return the files written
    (``report``, and ``pdf``)."""
    from cxlens.report.builder import build_report, export_pdf

    target = path or ws.data_dir / "report.html"
    with err.status("building the report") as status:
        build_report(
            ws,
            target,
            engine=engine,
            grain=grain,  # type: ignore[arg-type]
            progress=lambda step: status.update(f"building the report: {step}"),
        )
    written = {"report": target}
    if pdf:
        try:
            written["pdf"] = export_pdf(target, target.with_suffix(".pdf"))
        except RuntimeError as exc:
            raise fail(str(exc)) from None
    return written


def analyse_texts(ws: Workspace) -> None:
    """Score feedback texts (language, sentiment, aspects) for the report, if the text extra is here."""
    try:
        from cxlens.text.store import enrich_feedback
    except ImportError:
        err.print("[dim]text analytics skipped: install cxlens\\[text][/]")
        return
    with err.status("analysing feedback texts"):
        result = enrich_feedback(ws)
    err.print(
        f"[dim]analysed {result.analysed:,} feedback texts ({result.aspects:,} aspect mentions) "
        f"in {result.seconds:.0f} s[/]",
        highlight=False,
    )


def print_headline(head: Any) -> None:
    """The headline metrics as sentences: value, interval, n and the tested change."""
    for r in head.itertuples(index=False):
        if r.n == 0:
            out.print(f"{r.label}: no answers yet")
            continue
        change = ""
        if r.change == r.change:
            verdict = {"better": "[green]better[/]", "worse": "[red]worse[/]"}.get(r.verdict, str(r.verdict))
            change = f"; {r.change:+z.1f} vs {r.previous_period:%Y-%m} ({verdict}, p={r.p_value:.3f})"
        out.print(
            f"[bold]{r.label}[/] {r.period:%Y-%m}: {r.value:z.1f} (95% CI {r.ci_low:z.1f} to "
            f"{r.ci_high:z.1f}, n={r.n:,}){change}",
            highlight=False,
            soft_wrap=True,
        )
    if head.attrs.get("comparison"):
        out.print(f"[dim]({head.attrs['comparison']})[/]", highlight=False)


def run_first_alerts(ws: Workspace) -> tuple[AlertRun, float]:
    """Run the alert rules in force once (the stored version, else the defaults) on the last days
    of feedback, so cases are waiting in the app; nothing is sent. Returns the run and its seconds."""
    from cxlens.act.alerts import run_alerts
    from cxlens.act.config import resolve_routing, resolve_rules
    from cxlens.ops import OpsStore

    started = time.perf_counter()
    ops = OpsStore(data_dir=state.data_dir)
    try:
        result = run_alerts(ops, ws, resolve_rules(ops), resolve_routing(ops), send=False)
    finally:
        ops.close()
    return result, time.perf_counter() - started


@app.command(rich_help_panel=ADMIN)
def run(
    customers: Annotated[int, typer.Option(min=100, help="Demo size in customers.")] = 50_000,
    seed: Annotated[int, typer.Option(help="Demo random seed.")] = 42,
    output: FormatOpt = "table",
) -> None:
    """The main job: build the demo retailer, load it, print the headline metrics and write the report."""
    from cxlens.analyse import metrics as m

    started = time.perf_counter()
    people = output == "table"
    with open_workspace() as ws:
        build_demo(ws, customers, seed, sys.stderr.isatty())
        counts = status_frame(ws)
        if people:
            print_frame(counts, output, f"cxlens store {ws.location}")
        analyse_texts(ws)
        shown = m.available_metrics(ws, journey_map=ws.journey_map)
        head = m.headline(ws, shown, "month", journey_map=ws.journey_map) if shown else None
        if people and head is not None:
            print_headline(head)
        target = write_report(ws, None, "month", None, False)["report"]
        alerts, seconds = run_first_alerts(ws)
    if not people:
        record: dict[str, Any] = {
            "rows": dict(counts.itertuples(index=False)),
            "headline": head if head is not None else [],
            "report": str(target),
            "alerts": {
                "new": alerts.fired,
                "evaluated": alerts.evaluated,
                "cases_opened": alerts.cases_opened,
            },
            "seconds": round(time.perf_counter() - started, 1),
        }
        print_record(record, output)
        return
    out.print(
        f"alerts: {alerts.fired} new from {alerts.evaluated:,} recent answers, {alerts.cases_opened} cases "
        f"opened ({alerts.volume_note()}; {seconds:.1f} s)",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    out.print(f"\n[bold]report:[/] {target}  ({time.perf_counter() - started:.0f} s in all)")
    out.print("open it in a browser; it works offline.")
    out.print(
        "[bold]web app:[/] `cxlens users create-admin admin` once, then `cxlens serve` "
        "and open http://127.0.0.1:8000/app",
        highlight=False,
    )
