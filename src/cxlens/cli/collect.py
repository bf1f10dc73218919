"""``cxlens collect``: surveys, links and QR codes, invitations, triggers, and the public server."""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from cxlens.cli.common import (
    FormatOpt,
    check_stores,
    err,
    fail,
    open_workspace,
    out,
    print_frame,
    print_record,
    state,
    write_json,
)

if TYPE_CHECKING:
    from cxlens.collect.responses import Collector
    from cxlens.ops import OpsStore
    from cxlens.storage.workspace import Workspace

T = TypeVar("T")
#: The ready survey templates (their files; ``cxlens.collect.surveys.template`` reads them).
TEMPLATES = sorted(
    p.name.removesuffix(".yaml")
    for p in resources.files("cxlens.collect").joinpath("survey_templates").iterdir()
    if p.name.endswith(".yaml")
)
collect_app = typer.Typer(help="Collect feedback: surveys, links, QR codes, invitations, triggers.")
survey_app = typer.Typer(help="Survey definitions, links and QR codes.", no_args_is_help=True)
triggers_app = typer.Typer(help="Journey-event triggers that send invitations.", no_args_is_help=True)
collect_app.add_typer(survey_app, name="survey")
collect_app.add_typer(triggers_app, name="triggers")
sources_app = typer.Typer(help="Event sources and their write keys.", no_args_is_help=True)
collect_app.add_typer(sources_app, name="sources")

StoreOpt = Annotated[str | None, typer.Option("--store", "-s", help="Store id.")]
TouchpointOpt = Annotated[str | None, typer.Option("--touchpoint", "-t", help="Journey touchpoint id.")]
ChannelOpt = Annotated[str | None, typer.Option("--channel", "-c", help="Channel id.")]
KioskOpt = Annotated[bool, typer.Option("--kiosk", help="Kiosk mode: the form resets after each answer.")]


@contextmanager
def collector() -> Iterator[tuple[Workspace, Collector]]:
    """The workspace (not opened unless needed) and a collector over its operational store."""
    from cxlens.collect.responses import CollectError, Collector
    from cxlens.ops import OpsStore
    from cxlens.web.settings import get_web_settings

    with open_workspace() as ws:
        ops = OpsStore(get_web_settings().ops_url, data_dir=ws.data_dir)
        try:
            yield ws, Collector(ops, ws.journey_map)
        except CollectError as exc:
            raise fail(exc.message + "".join(f"\n  {k}: {v}" for k, v in exc.fields.items())) from None
        finally:
            ops.close()


def base_url() -> str:
    """Public base URL for links printed by the CLI."""
    from cxlens.web.settings import get_web_settings

    s = get_web_settings()
    return (s.public_url or f"http://{s.host}:{s.port}").rstrip("/")


@survey_app.command("add")
def survey_add(
    path: Annotated[Path | None, typer.Argument(help="Survey definition (YAML or JSON).")] = None,
    from_template: Annotated[
        str | None, typer.Option("--template", help=f"Start from a template: {', '.join(TEMPLATES)}.")
    ] = None,
    survey_id: Annotated[str | None, typer.Option("--id", help="Survey id (default: from the file).")] = None,
    output: FormatOpt = "table",
) -> None:
    """Add a survey, or a new version of it, from a file or a ready template."""
    from cxlens.collect.links import link
    from cxlens.collect.surveys import SurveyError, load_survey, survey_from_dict, template, to_json

    if (path is None) == (from_template is None):
        raise fail("give a definition file or --template NAME", code=2)
    try:
        survey = load_survey(path) if path is not None else template(str(from_template), survey_id)
        if survey_id and path is not None:
            survey = survey_from_dict({**to_json(survey), "id": survey_id}, str(path))
    except SurveyError as exc:
        raise fail(str(exc)) from None
    with collector() as (_ws, col):
        saved = col.save_survey(survey, actor="cli")
    url = link(base_url(), "s", saved.id)
    record = {"survey_id": saved.id, "version": saved.version, "questions": len(saved.questions)}
    record.update(pages=len(saved.pages), locales=",".join(saved.locales), link=url)
    message = (
        f"survey {saved.id} version {saved.version}: {len(saved.questions)} questions in "
        f"{len(saved.pages)} page(s), locales {', '.join(saved.locales)}\nlink: {url}"
    )
    print_record(record, output, message=message)


@survey_app.command("list")
def survey_list(output: FormatOpt = "table") -> None:
    """List the surveys with their response counts."""
    import pandas as pd

    from cxlens.ops import Response

    rows = []
    with collector() as (_ws, col):
        for rec in col.surveys():
            done = col.ops.count(Response, Response.survey_id == rec.survey_id, Response.status == "complete")
            part = col.ops.count(Response, Response.survey_id == rec.survey_id, Response.status == "partial")
            rows.append((rec.survey_id, rec.version, bool(rec.active), done, part))
    frame = pd.DataFrame(rows, columns=["id", "version", "active", "complete", "partial"])
    if output == "table":
        frame["active"] = frame["active"].map({True: "yes", False: "no"})
    print_frame(frame, output, "surveys")


@survey_app.command("show")
def survey_show(
    survey_id: Annotated[str, typer.Argument(help="Survey id.")], output: FormatOpt = "table"
) -> None:
    """Print a survey definition (JSON, coloured in a terminal; as it is with -o json)."""
    from cxlens.collect.surveys import to_json

    with collector() as (_ws, col):
        definition = to_json(col.survey(survey_id))
    if output == "table":
        out.print_json(data=definition)
    elif output == "json":
        write_json(definition)
    else:
        raise fail("a survey definition is a document: use -o json (or the table view)", code=2)


@survey_app.command("link")
def survey_link(
    survey_id: Annotated[str, typer.Argument(help="Survey id.")],
    store: StoreOpt = None,
    touchpoint: TouchpointOpt = None,
    channel: ChannelOpt = None,
    kiosk: KioskOpt = False,
    output: FormatOpt = "table",
) -> None:
    """Print the public link for a store and touchpoint, and the web-shop snippet."""
    from cxlens.collect.links import link, snippet
    from cxlens.collect.responses import Context

    check_stores([store])
    with collector() as (_ws, col):
        survey = col.survey(survey_id)
        Context(store_id=store, touchpoint=touchpoint, channel=channel).check(col.journey)
    params = {"store": store, "tp": touchpoint, "ch": channel}
    url = link(base_url(), "k" if kiosk else "s", survey_id, **params)
    code = (
        None
        if kiosk
        else snippet(base_url(), survey_id, survey.text(survey.title, survey.default_locale), **params)
    )
    print_record({"link": url, "snippet": code}, output, message=url + ("" if code is None else "\n" + code))


@survey_app.command("qr")
def survey_qr(
    survey_id: Annotated[str, typer.Argument(help="Survey id.")],
    target: Annotated[Path, typer.Option("--out", help="File to write (.png or .svg).")],
    store: StoreOpt = None,
    touchpoint: TouchpointOpt = None,
    channel: ChannelOpt = None,
    kiosk: KioskOpt = False,
    scale: Annotated[int, typer.Option(min=1, max=40, help="Pixels per module.")] = 8,
    output: FormatOpt = "table",
) -> None:
    """Write a QR code of the survey link for receipts, posters or kiosks."""
    from cxlens.collect.links import link, qr_bytes
    from cxlens.collect.responses import Context

    fmt = target.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise fail("--out must end in .png or .svg", code=2)
    check_stores([store])
    with collector() as (_ws, col):
        col.survey(survey_id)
        Context(store_id=store, touchpoint=touchpoint, channel=channel).check(col.journey)
    url = link(base_url(), "k" if kiosk else "s", survey_id, store=store, tp=touchpoint, ch=channel)
    target.write_bytes(qr_bytes(url, fmt, scale))
    print_record({"file": str(target), "link": url}, output, message=f"{target}: {url}")


@collect_app.command("invite")
def invite(
    survey_id: Annotated[str, typer.Argument(help="Survey id.")],
    customer: Annotated[str | None, typer.Option("--customer", help="Customer id.")] = None,
    store: StoreOpt = None,
    touchpoint: TouchpointOpt = None,
    order: Annotated[str | None, typer.Option("--order", help="Order id.")] = None,
    language: Annotated[str | None, typer.Option("--lang", help="Language of the form.")] = None,
    output: FormatOpt = "table",
) -> None:
    """Create a personal invitation (one response per token) and print its link."""
    from cxlens.collect.links import link
    from cxlens.collect.responses import Context

    check_stores([store])
    with collector() as (_ws, col):
        inv = col.invite(
            survey_id,
            Context(store_id=store, touchpoint=touchpoint, customer_id=customer, order_id=order),
            language=language,
        )
    url = link(base_url(), "t", inv.token)
    print_record({"token": inv.token, "link": url}, output, message=url)


@collect_app.command("status")
def status(output: FormatOpt = "table") -> None:
    """Counts in the operational store: responses, invitations, events waiting for export."""
    from cxlens.collect.outbox import export_lag
    from cxlens.ops import InboxEvent, Invitation, Response

    with collector() as (_ws, col):
        ops = col.ops
        rows = [
            ("responses complete", ops.count(Response, Response.status == "complete")),
            ("responses partial", ops.count(Response, Response.status == "partial")),
            (
                "responses waiting for export",
                ops.count(Response, Response.status != "partial", Response.exported_at.is_(None)),
            ),
            ("invitations", ops.count(Invitation)),
            ("invitations answered", ops.count(Invitation, Invitation.responded_at.is_not(None))),
            ("events", ops.count(InboxEvent)),
            ("events waiting for export", ops.count(InboxEvent, InboxEvent.exported_at.is_(None))),
        ]
        lag = export_lag(ops)
        held = _held(ops)
        where = repr(ops)
    if output != "table":
        record: dict[str, Any] = {
            "operational_store": where,
            **{name.replace(" ", "_"): n for name, n in rows},
        }
        record.update(oldest_waiting_seconds=lag.oldest_seconds, late=lag.late, held=lag.held)
        record["held_rows"] = [dict(zip(("table", "id", "reason", "error"), h, strict=True)) for h in held]
        print_record(record, output)
        return
    out.print(f"operational store: {where}", highlight=False)
    for name, n in rows:
        out.print(f"{name}: {n:,}", highlight=False)
    late = " (late: more than a minute)" if lag.late else ""
    out.print(f"oldest row waiting for export: {lag.oldest_seconds:,.0f} s{late}", highlight=False)
    out.print(f"rows held back from export: {lag.held:,}", highlight=False)
    for table, row_id, reason, error in held:
        out.print(f"  {table} {row_id}: {reason}: {error}", highlight=False, markup=False, soft_wrap=True)
    if held:
        out.print("fix the cause (e.g. load the store), then: cxlens collect retry", highlight=False)


def _held(ops: OpsStore, limit: int = 20) -> list[tuple[str, str, str, str]]:
    """Up to ``limit`` held rows of each table: (table, id, reason, error)."""
    from sqlalchemy import select

    from cxlens.collect.inputs import printable
    from cxlens.ops import InboxEvent, Response

    found: list[tuple[str, str, str, str]] = []
    with ops.sessions() as s:
        for model, key in ((Response, Response.response_id), (InboxEvent, InboxEvent.event_id)):
            query = select(key, model.export_hold, model.export_error).where(model.export_hold.is_not(None))
            for row_id, reason, error in s.execute(query.limit(limit)):
                found.append((model.__tablename__, printable(row_id), reason or "", printable(error or "")))
    return found


@collect_app.command("retry")
def retry(
    reason: Annotated[
        str | None, typer.Option(help="Only rows held for this reason (unknown_store or invalid).")
    ] = None,
    output: FormatOpt = "table",
) -> None:
    """Release rows held back from export so the next export tries them again."""
    from cxlens.collect.outbox import release

    with collector() as (_ws, col):
        n = release(col.ops, reason)
    print_record(
        {"released": n}, output, message=f"released {n:,} held rows; they are exported at the next sync"
    )


@collect_app.command("sync")
def sync(output: FormatOpt = "table") -> None:
    """Copy new responses and events to the analytics store (the server does this by itself)."""
    from cxlens.collect.inputs import printable
    from cxlens.collect.outbox import export_all
    from cxlens.storage.workspace import LegacyStoreError

    with collector() as (ws, col):
        try:
            done = export_all(col.ops, ws)
        except LegacyStoreError as exc:
            raise fail(str(exc)) from None
        except Exception as exc:  # a clear line, never a traceback; rows stay waiting
            message = printable(f"{type(exc).__name__}: {exc}")
            raise fail(f"export failed, nothing was marked exported ({message}); try again") from None
    record = {"responses": done.feedback, "events": done.events, "rejected": done.rejected, "held": done.held}
    message = (
        f"exported {done.feedback:,} responses and {done.events:,} events "
        f"({done.rejected:,} rejected by validation, see _rejects; {done.held:,} held back, "
        "see cxlens collect status)"
    )
    print_record(record, output, message=message)


@triggers_app.command("run")
def triggers_run(
    path: Annotated[Path, typer.Argument(help="Triggers YAML file.")],
    now: Annotated[datetime | None, typer.Option(help="Pretend it is this time (UTC).")] = None,
    output: FormatOpt = "table",
) -> None:
    """Invite customers for due journey events (caps, quiet hours) and send the invitations."""
    from cxlens.collect.triggers import load_triggers, run_triggers

    try:
        triggers = load_triggers(path)
    except (OSError, ValueError) as exc:
        raise fail(str(exc)) from None
    with collector() as (ws, col):
        report = run_triggers(col, ws, triggers, base_url(), now)
    if output != "table":
        counts = ("invited", "capped", "no_contact", "already", "sent", "deferred", "failed")
        print_record({**{k: getattr(report, k) for k in counts}, "errors": list(report.errors)}, output)
        return
    out.print(
        f"invited {report.invited}, capped {report.capped}, no contact {report.no_contact}, "
        f"already invited {report.already}; sent {report.sent}, held for quiet hours {report.deferred}, "
        f"failed {report.failed}",
        highlight=False,
    )
    for e in report.errors[:10]:
        out.print(f"  [yellow]{e}[/]", highlight=False)


def _probe_url(host: str, port: int) -> str:
    """Where this machine reaches a server listening on ``host`` (any address: loopback)."""
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{target}]:{port}/healthz" if ":" in target else f"http://{target}:{port}/healthz"


def announce_when_ready(url: str, message: str, stop: threading.Event, every: float = 0.1) -> None:
    """Print ``message`` once the server at ``url`` answers an HTTP request (any status), not
    before: start-up warms the figure cache first, which takes seconds on a large store."""
    import urllib.error
    import urllib.request

    while not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=2):
                pass
        except urllib.error.HTTPError:
            pass  # 503 while exports lag: it answers all the same
        except (OSError, ValueError):
            stop.wait(every)
            continue
        out.print(message, highlight=False, markup=False, soft_wrap=True)
        return


@collect_app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (CXLENS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (CXLENS_PORT).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Worker processes (CXLENS_WORKERS), on SQLite or PostgreSQL; one of them runs the "
            "exports and periodic jobs.",
        ),
    ] = None,
) -> None:
    """Serve the public survey forms, QR codes and the event-collection API."""
    import uvicorn  # the web extra
    from sqlalchemy.exc import DBAPIError

    from cxlens.storage.workspace import LegacyStoreError, Workspace
    from cxlens.web.app import create_app
    from cxlens.web.auth import load_secret
    from cxlens.web.settings import get_web_settings

    settings = get_web_settings()
    host, port = host or settings.host, port or settings.port
    workers = workers or settings.workers
    ws = Workspace(state.data_dir, state.journey_map)
    try:
        ws.counts()  # a store that needs migrating or a catalogue out of reach: say so now
    except (LegacyStoreError, DBAPIError) as exc:
        ws.close()
        raise fail(str(exc)) from None
    message = (
        f"ready: cxlens on http://{host}:{port}: dashboards at /app, survey forms, the events API "
        "(Ctrl+C to stop)"
    )
    if workers > 1:
        ws.close()
        # Every worker builds its app from the environment: hand it the command line's options.
        if state.data_dir is not None:
            os.environ["CXLENS_DATA_DIR"] = str(state.data_dir)
        if state.journey_map is not None:
            os.environ["CXLENS_JOURNEY_MAP"] = str(state.journey_map)
        os.environ["CXLENS_WORKERS"] = str(workers)
        load_secret(ws.data_dir, settings)  # created once here, not raced by the workers
        message = f"{message}; {workers} worker processes"
    err.print(
        f"[dim]starting cxlens on http://{host}:{port} (warming the figure cache first)[/]", highlight=False
    )
    stop = threading.Event()
    threading.Thread(
        target=announce_when_ready, args=(_probe_url(host, port), message, stop), daemon=True
    ).start()
    try:
        if workers == 1:
            try:
                app = create_app(settings, ws)
                gc.freeze()  # start-up objects out of the collector's way (bench/intake.py)
                uvicorn.run(app, host=host, port=port, log_level="warning")
            finally:
                ws.close()
        else:
            uvicorn.run(
                "cxlens.web.app:create_app",
                factory=True,
                workers=workers,
                host=host,
                port=port,
                log_level="warning",
            )
    finally:
        stop.set()


def _sources(action: Callable[[OpsStore], T]) -> T:
    from cxlens.collect.sources import SourceError

    with collector() as (_ws, col):
        try:
            return action(col.ops)
        except SourceError as exc:
            raise fail(str(exc)) from None


@sources_app.command("add")
def sources_add(
    source_id: Annotated[str, typer.Argument(help="Source id, e.g. pos, web-shop, app.")],
    name: Annotated[str, typer.Option(help="What the source is.")] = "",
    output: FormatOpt = "table",
) -> None:
    """Register an event source and print its write key (shown once; send it as X-Write-Key)."""
    from cxlens.cli.users import actor
    from cxlens.collect.sources import create_source

    key = _sources(lambda ops: create_source(ops, source_id, name, actor=actor()))
    print_record({"source_id": source_id, "write_key": key}, output, message=key)


@sources_app.command("rotate")
def sources_rotate(
    source_id: Annotated[str, typer.Argument(help="Source id.")], output: FormatOpt = "table"
) -> None:
    """Give a source a new write key (the old one stops working at once) and print it."""
    from cxlens.cli.users import actor
    from cxlens.collect.sources import rotate_key

    key = _sources(lambda ops: rotate_key(ops, source_id, actor=actor()))
    print_record({"source_id": source_id, "write_key": key}, output, message=key)


@sources_app.command("revoke")
def sources_revoke(
    source_id: Annotated[str, typer.Argument(help="Source id.")], output: FormatOpt = "table"
) -> None:
    """Stop accepting a source's events (rotate to use it again)."""
    from cxlens.cli.users import actor
    from cxlens.collect.sources import revoke_source

    _sources(lambda ops: revoke_source(ops, source_id, actor=actor()))
    print_record({"source_id": source_id, "revoked": True}, output, message=f"revoked source {source_id}")


@sources_app.command("list")
def sources_list(output: FormatOpt = "table") -> None:
    """List the event sources with key prefix, last use and status."""
    import pandas as pd

    from cxlens.collect.sources import list_sources

    rows = [
        {
            "source_id": src.source_id,
            "name": src.name or "",
            "key_prefix": src.prefix,
            "last_used_at": src.last_used_at,
            "status": "revoked" if src.revoked_at else "active",
        }
        for src in _sources(list_sources)
    ]
    columns = ["source_id", "name", "key_prefix", "last_used_at", "status"]
    frame = pd.DataFrame(rows, columns=columns)
    if output == "table":
        frame["last_used_at"] = [
            f"{t:%Y-%m-%d %H:%M}" if pd.notna(t) else "never" for t in frame["last_used_at"]
        ]
    print_frame(frame, output, "event sources")
