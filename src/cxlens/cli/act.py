"""``cxlens act``: alerts, cases and action plans (closing the loop)."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cxlens.cli.common import (
    FormatOpt,
    check_stores,
    err,
    fail,
    lowercase,
    open_workspace,
    out,
    print_frame,
    print_record,
    state,
    write_json,
)

if TYPE_CHECKING:
    import pandas as pd

    from cxlens.act.routing import Routing
    from cxlens.ops import OpsStore

act_app = typer.Typer(
    help="Act: alerts, cases with SLAs, action plans and their measured effect.", no_args_is_help=True
)
alerts_app = typer.Typer(
    help="Alert rules on feedback and metrics: run them, list alerts.", no_args_is_help=True
)
cases_app = typer.Typer(
    help="Cases: open, assign, work, resolve; the SLA escalation sweep.", no_args_is_help=True
)
plans_app = typer.Typer(help="Action plans and their measured effect.", no_args_is_help=True)
rules_app = typer.Typer(
    help="The alert rules in force: show, import a YAML file as a new version, export, history, preview.",
    no_args_is_help=True,
)
routing_app = typer.Typer(
    help="The owner routing in force: show, import a YAML file as a new version, export, history.",
    no_args_is_help=True,
)
act_app.add_typer(alerts_app, name="alerts")
act_app.add_typer(cases_app, name="cases")
act_app.add_typer(plans_app, name="plans")
act_app.add_typer(rules_app, name="rules")
act_app.add_typer(routing_app, name="routing")

RoutingOpt = Annotated[
    Path | None,
    typer.Option(
        "--routing",
        help="Routing YAML (owners, escalation, SLA hours); used when no version is stored.",
        exists=True,
    ),
]
ActorOpt = Annotated[
    str | None, typer.Option("--as", help="Who is acting (audit log); default: cli:<os user>.")
]
CaseId = Annotated[int, typer.Argument(help="Case number.")]


def _actor(value: str | None) -> str:
    if value:
        return value
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@contextmanager
def _ops(*errors: type[Exception]) -> Iterator[OpsStore]:
    """The operational store; ``errors`` (the act layer's own, e.g. ``CaseError``) become messages."""
    from cxlens.ops import OpsStore

    store = OpsStore(data_dir=state.data_dir)
    try:
        yield store
    except errors as exc:
        raise fail(_problem(exc)) from None
    finally:
        store.close()


def _problem(exc: Exception) -> str:
    """An error as printed: a configuration problem as ``file:line: field: problem`` lines."""
    from cxlens.act.validation import ConfigError

    if isinstance(exc, ConfigError):
        return "\n".join(exc.located() or [str(exc)])
    return str(exc)


def _routing(path: Path | None, ops: OpsStore) -> Routing:
    """The routing in force: the latest stored version, else ``--routing``, else the defaults."""
    from cxlens.act.config import resolve

    try:
        found = resolve(ops, "routing", path)
    except ValueError as exc:
        raise fail(_problem(exc)) from None
    _note_ignored(found.source, found.version, path, "routing")
    routing: Routing = found.config
    return routing


def _note_ignored(source: str, version: int, path: Path | None, kind: str) -> None:
    if source == "stored" and path is not None:
        err.print(
            f"note: stored {kind} version {version} is in force; {path} is ignored "
            f"(cxlens act {kind} import {path} stores it)",
            highlight=False,
            markup=False,
        )


def _when(value: str | None, name: str) -> datetime | None:
    import pandas as pd

    if value is None:
        return None
    try:
        return pd.Timestamp(value).to_pydatetime().replace(tzinfo=None)
    except ValueError:
        raise fail(
            f"{name} must be a date or time like 2026-11-20 or 2026-11-20T09:00, got {value!r}"
        ) from None


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)


# -- alerts -----------------------------------------------------------------------------------------


@alerts_app.command("run")
def alerts_run(
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="Alert rules YAML (used when no version is stored; default rules if neither).",
            exists=True,
        ),
    ] = None,
    routing: RoutingOpt = None,
    since: Annotated[
        str | None, typer.Option(help="Evaluate feedback after this time (overrides the cursor).")
    ] = None,
    send: Annotated[bool, typer.Option("--send/--no-send", help="Deliver by e-mail and webhook.")] = True,
    base_url: Annotated[
        str, typer.Option(help="Base URL of the web app, for links.")
    ] = "http://127.0.0.1:8000",
    output: FormatOpt = "table",
) -> None:
    """Evaluate the rules on new feedback and on the metrics; record, route and deliver alerts."""
    from cxlens.act import alerts as al
    from cxlens.act import cases as cs
    from cxlens.act.config import resolve

    with open_workspace() as ws, _ops(cs.CaseError) as ops:
        try:
            found = resolve(ops, "rules", rules)
        except ValueError as exc:
            raise fail(_problem(exc)) from None
        _note_ignored(found.source, found.version, rules, "rules")
        ruleset = found.config
        route = _routing(routing, ops)
        run = al.run_alerts(
            ops, ws, ruleset, route, since=_when(since, "--since"), send=send, base_url=base_url
        )
    if output != "table":
        counts = ("evaluated", "fired", "deduplicated", "cases_opened", "delivered", "digests", "failed")
        record = {k: getattr(run, k) for k in counts}
        print_record({**record, "alert_ids": run.alert_ids, "errors": run.errors}, output)
    else:
        out.print(
            f"evaluated {run.evaluated} feedback rows: {run.fired} new alerts, {run.deduplicated} "
            f"duplicates, {run.cases_opened} cases opened, {run.delivered} delivered, {run.failed} failed",
            highlight=False,
        )
        out.print(run.volume_note(), highlight=False, markup=False)
        for line in run.errors:
            out.print(f"  {line}", highlight=False, markup=False)
    if run.failed:
        raise typer.Exit(1)


ALERT_COLUMNS = ["alert_id", "created_at", "rule_id", "store_id", "owner", "title", "case_id", "delivered_at"]


@alerts_app.command("list")
def alerts_list(
    rule: Annotated[str | None, typer.Option(help="Only this rule id.")] = None,
    store: Annotated[str | None, typer.Option(help="Only this store.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    output: FormatOpt = "table",
) -> None:
    """Recent alerts, newest first."""
    from cxlens.act import alerts as al

    check_stores([store])
    with _ops() as ops:
        rows = [
            al.alert_dict(a)
            for a in al.list_alerts(ops, stores=[store] if store else None, rule=rule, limit=limit)
        ]
    print_frame(_frame(rows, ALERT_COLUMNS), output, "Alerts")


# -- cases ------------------------------------------------------------------------------------------

CASE_COLUMNS = [
    "case_id",
    "created_at",
    "status",
    "priority",
    "store_id",
    "touchpoint",
    "assignee",
    "sla_due_at",
    "escalation_level",
    "title",
]


@cases_app.command("list")
def cases_list(
    status: Annotated[str | None, typer.Option(help="open, in_progress, resolved or closed.")] = None,
    store: Annotated[str | None, typer.Option(help="Only this store.")] = None,
    assignee: Annotated[str | None, typer.Option(help="Only this assignee.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 100,
    output: FormatOpt = "table",
) -> None:
    """Cases, newest first."""
    from cxlens.act import cases as cs

    check_stores([store])
    with _ops(cs.CaseError) as ops:
        found = cs.list_cases(ops, status=status, store_id=store, assignee=assignee, limit=limit)
    print_frame(_frame([cs.case_dict(c) for c in found], CASE_COLUMNS), output, "Cases")


@cases_app.command("show")
def cases_show(case_id: CaseId, output: FormatOpt = "table") -> None:
    """One case with its notes."""
    import pandas as pd

    from cxlens.act import cases as cs

    with _ops(cs.CaseError) as ops:
        case = cs.get_case(ops, case_id)
        notes = cs.case_notes(ops, case_id)
    data = cs.case_dict(case)
    if output == "json":
        data["notes"] = [{"at": n.created_at.isoformat(), "author": n.author, "text": n.text} for n in notes]
        write_json(data)
        return
    frame = pd.DataFrame({"field": list(data), "value": ["" if v is None else str(v) for v in data.values()]})
    print_frame(frame, output, f"Case {case_id}")
    for n in notes if output == "table" else []:
        out.print(f"{n.created_at:%Y-%m-%d %H:%M} {n.author}: {n.text}", highlight=False, markup=False)


@cases_app.command("open")
def cases_open(
    title: Annotated[str | None, typer.Argument(help="What the case is about (not with --alert).")] = None,
    store: Annotated[str | None, typer.Option(help="Store id.")] = None,
    region: Annotated[str | None, typer.Option(help="Region.")] = None,
    touchpoint: Annotated[str | None, typer.Option(help="Touchpoint.")] = None,
    priority: Annotated[str, typer.Option(help="urgent, high, normal or low (sets the SLA).")] = "normal",
    assignee: Annotated[str | None, typer.Option(help="Assignee (default: the routed owner).")] = None,
    alert: Annotated[
        int | None, typer.Option(help="Open from this alert instead (takes its details).")
    ] = None,
    routing: RoutingOpt = None,
    actor: ActorOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Open a case by hand, or from an alert."""
    from cxlens.act import cases as cs

    check_stores([store])
    with _ops(cs.CaseError) as ops:
        route = _routing(routing, ops)
        if alert is not None:
            case = cs.open_from_alert(ops, alert, routing=route, actor=_actor(actor))
        elif title is None:
            raise fail("give the case a title, or --alert ID to open it from an alert")
        else:
            case = cs.open_case(
                ops,
                title,
                store_id=store,
                region=region,
                touchpoint=touchpoint,
                priority=priority,
                assignee=assignee,
                routing=route,
                actor=_actor(actor),
            )
    print_record(
        cs.case_dict(case),
        output,
        message=f"opened case {case.case_id} for {case.assignee}, due {case.sla_due_at:%Y-%m-%d %H:%M} UTC",
    )


@cases_app.command("assign")
def cases_assign(
    case_id: CaseId,
    assignee: Annotated[str, typer.Argument(help="New assignee.")],
    actor: ActorOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Give a case to someone."""
    from cxlens.act import cases as cs

    with _ops(cs.CaseError) as ops:
        case = cs.assign(ops, case_id, assignee, actor=_actor(actor))
    print_record(cs.case_dict(case), output, message=f"case {case_id} assigned to {assignee}")


@cases_app.command("status")
def cases_status(
    case_id: CaseId,
    status: Annotated[str, typer.Argument(help="open, in_progress, resolved or closed.")],
    actor: ActorOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Move a case to another status (the lifecycle is enforced)."""
    from cxlens.act import cases as cs

    with _ops(cs.CaseError) as ops:
        case = cs.set_status(ops, case_id, status, actor=_actor(actor))
    print_record(cs.case_dict(case), output, message=f"case {case_id} is now {status}")


@cases_app.command("note")
def cases_note(
    case_id: CaseId,
    text: Annotated[str, typer.Argument(help="The note.")],
    actor: ActorOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Add a note to a case."""
    from cxlens.act import cases as cs

    with _ops(cs.CaseError) as ops:
        note = cs.add_note(ops, case_id, text, actor=_actor(actor))
    record = {"case_id": case_id, "at": note.created_at, "author": note.author, "text": note.text}
    print_record(record, output, message=f"note added to case {case_id}")


@cases_app.command("resolve")
def cases_resolve(
    case_id: CaseId,
    resolution: Annotated[str, typer.Argument(help="What was done.")],
    root_cause: Annotated[
        list[str] | None, typer.Option("--root-cause", "-r", help="Root-cause tag (repeatable).")
    ] = None,
    follow_up: Annotated[
        str | None, typer.Option(help="Customer follow-up notes (marks the customer contacted now).")
    ] = None,
    actor: ActorOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Resolve a case with its resolution, root causes and customer follow-up."""
    from cxlens.act import cases as cs

    with _ops(cs.CaseError) as ops:
        case = cs.resolve(ops, case_id, resolution, root_causes=root_cause, actor=_actor(actor))
        if follow_up:
            case = cs.follow_up(ops, case_id, follow_up, actor=_actor(actor))
    print_record(cs.case_dict(case), output, message=f"case {case_id} resolved")


@cases_app.command("escalate")
def cases_escalate(
    routing: RoutingOpt = None,
    now: Annotated[str | None, typer.Option(help="Sweep as of this time (UTC; default: now).")] = None,
    base_url: Annotated[
        str, typer.Option(help="Base URL of the web app, for links.")
    ] = "http://127.0.0.1:8000",
    output: FormatOpt = "table",
) -> None:
    """SLA sweep: escalate every open case past its due time (safe to run as often as you like)."""
    from cxlens.act import cases as cs

    with _ops(cs.CaseError) as ops:
        route = _routing(routing, ops)
        done = cs.escalate_overdue(ops, route, _when(now, "--now"), base_url=base_url)
    if output != "table":
        rows = [
            {"case_id": e.case_id, "level": e.level, "owner": e.owner, "errors": "; ".join(e.errors)}
            for e in done
        ]
        print_frame(_frame(rows, ["case_id", "level", "owner", "errors"]), output)
        return
    out.print(f"escalated {len(done)} cases", highlight=False)
    for e in done:
        errors = f" (notification failed: {'; '.join(e.errors)})" if e.errors else ""
        out.print(f"  case {e.case_id} -> level {e.level}, {e.owner}{errors}", highlight=False, markup=False)


# -- plans ------------------------------------------------------------------------------------------

PLAN_COLUMNS = [
    "plan_id",
    "name",
    "status",
    "metric",
    "touchpoint",
    "driver",
    "stores",
    "start_date",
    "end_date",
    "owner",
]


@plans_app.command("add")
def plans_add(
    name: Annotated[str, typer.Argument(help="Plan name.")],
    store: Annotated[
        list[str], typer.Option("--store", "-s", help="Store in the plan (repeatable or comma-separated).")
    ],
    start: Annotated[str, typer.Option(help="Start date, e.g. 2025-07-01.")],
    metric: Annotated[str, typer.Option(help="nps, csat, ces or rating.", callback=lowercase)] = "csat",
    touchpoint: Annotated[str | None, typer.Option(help="Touchpoint the plan acts on.")] = None,
    driver: Annotated[str | None, typer.Option(help="Driver or aspect the plan acts on, e.g. staff.")] = None,
    control: Annotated[
        list[str] | None, typer.Option("--control", "-c", help="Control store (default: all others).")
    ] = None,
    end: Annotated[str | None, typer.Option(help="End of the measurement window.")] = None,
    owner: Annotated[str | None, typer.Option(help="Who owns the plan.")] = None,
    notes: Annotated[str | None, typer.Option(help="Free-text notes.")] = None,
    actor: ActorOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Record an action plan."""
    from cxlens.act import plans as pl

    split = lambda xs: [s for x in xs or [] for s in x.split(",")]  # noqa: E731
    check_stores(split(store))
    check_stores(split(control), "--control")
    with _ops(pl.PlanError) as ops:
        plan = pl.create_plan(
            ops,
            name,
            stores=split(store),
            start=start,
            metric=metric,
            touchpoint=touchpoint,
            driver=driver,
            control_stores=split(control) or None,
            end=end,
            owner=owner,
            notes=notes,
            actor=_actor(actor),
        )
    print_record(pl.plan_dict(plan), output, message=f"added plan {plan.plan_id}: {plan.name}")


@plans_app.command("list")
def plans_list(output: FormatOpt = "table") -> None:
    """Action plans, newest first."""
    from cxlens.act import plans as pl

    with _ops(pl.PlanError) as ops:
        rows = [pl.plan_dict(p) for p in pl.list_plans(ops)]
    for row in rows:
        row["stores"] = ",".join(row["stores"] or [])
    print_frame(_frame(rows, PLAN_COLUMNS), output, "Action plans")


@plans_app.command("measure")
def plans_measure(
    plan_id: Annotated[int, typer.Argument(help="Plan number.")],
    confidence: Annotated[float, typer.Option(min=0.5, max=0.999)] = 0.95,
    output: FormatOpt = "table",
) -> None:
    """The plan's effect: difference-in-differences against control stores, with an interval."""
    import pandas as pd

    from cxlens.act import plans as pl

    with _ops(pl.PlanError) as ops, open_workspace(read_only=True) as ws:
        plan = pl.get_plan(ops, plan_id)
        try:
            effect = pl.measure(plan, ws, ops=ops, confidence=confidence)
        except ValueError as exc:
            raise fail(f"cannot measure plan {plan_id}: {exc}") from None
    data = effect.as_dict()
    if output == "json":
        write_json(data)
        return
    cols = [
        "estimate",
        "ci_low",
        "ci_high",
        "p_value",
        "treated_before",
        "treated_after",
        "control_before",
        "control_after",
    ]
    print_frame(
        pd.DataFrame([{k: data[k] for k in cols}]),
        output,
        f"Plan {plan_id}: {plan.name} ({plan.metric}, in {effect.unit})",
    )
    if output == "table":
        verdict = (
            "an effect (the interval excludes 0)"
            if effect.significant
            else "no clear effect (the interval contains 0)"
        )
        out.print(f"{plan.name}: {verdict}", highlight=False, markup=False)


# -- rules and routing: stored, versioned configuration ---------------------------------------------

ImportFile = Annotated[
    Path, typer.Argument(help="YAML file to validate and store as the next version.", exists=True)
]
ExpectOpt = Annotated[
    int | None,
    typer.Option(
        "--expect-version",
        min=0,
        help="Refuse unless the stored version is still this one (0: none stored yet).",
    ),
]
CommentOpt = Annotated[str | None, typer.Option(help="Why this version (kept in the history).")]
VersionOpt = Annotated[
    int | None, typer.Option("--version", min=1, help="A stored version (default: the one in force).")
]
FileOpt = Annotated[
    Path | None,
    typer.Option("--file", help="The YAML file the server or the commands are given (--rules/--routing)."),
]
#: The longest preview window, in days (ten years).
MAX_DAYS = 3650
HISTORY_COLUMNS = ["version", "created_at", "author", "comment", "sha256", "lines"]


def _source_text(found: Any) -> str:
    if found.source == "stored":
        return f"stored version {found.version}"
    return f"file {found.path}" if found.source == "file" else "the shipped defaults"


def _rules_frame(config: Any) -> pd.DataFrame:
    rows = []
    for rule in config.rules:
        extra = rule.model_dump(exclude_defaults=True, exclude={"id", "kind", "priority", "open_case"})
        rows.append(
            {
                "id": rule.id,
                "kind": rule.kind,
                "priority": rule.priority,
                "open_case": rule.open_case,
                "settings": ", ".join(f"{k}={v}" for k, v in extra.items()),
            }
        )
    return _frame(rows, ["id", "kind", "priority", "open_case", "settings"])


def _routing_frame(config: Any) -> pd.DataFrame:
    def row(name: str, contact: Any, escalation: Any = ()) -> dict[str, Any]:
        return {
            "match": name,
            "owner": contact.owner,
            "email": contact.email or "",
            "webhook": contact.webhook or "",
            "open_cases": contact.open_cases or "",
            "escalation": " > ".join(c.owner for c in escalation),
        }

    rows = [row("(default)", config.default, config.escalation)]
    for route in config.routes:
        match = "; ".join(f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in route.match.items())
        rows.append(row(match, route, route.escalation))
    return _frame(rows, ["match", "owner", "email", "webhook", "open_cases", "escalation"])


def _resolved(kind: str, file: Path | None, version: int | None) -> Any:
    from cxlens.act import config as cf

    with _ops(ValueError) as ops:
        if version is None:
            return cf.resolve(ops, kind, file)
        row = cf.get_version(ops, kind, version)
        if row is None:
            raise fail(f"no stored {kind} version {version}")
        return cf.Resolved(kind, "stored", row.version, None, row.body, cf.parse(kind, row.body))


def _show(kind: str, file: Path | None, version: int | None, output: str) -> None:
    import yaml

    found = _resolved(kind, file, version)
    if output == "json":
        write_json({**found.as_dict(), "config": yaml.safe_load(found.body) or {}})
        return
    frame = _rules_frame(found.config) if kind == "rules" else _routing_frame(found.config)
    what = "Alert rules" if kind == "rules" else "Routing"
    print_frame(frame, output, f"{what}: {_source_text(found)}")


def _export(kind: str, file: Path | None, version: int | None, target: Path | None, output: str) -> None:
    found = _resolved(kind, file, version)
    if target is not None:
        target.write_text(found.body, encoding="utf-8")
    if output == "json":
        write_json({**found.as_dict(), "body": found.body, "out": str(target) if target else None})
    elif output == "csv":
        record = {**found.as_dict(), "out": str(target) if target else None}
        print_frame(_frame([record], list(record)), output)
    elif target is not None:
        out.print(f"wrote {_source_text(found)} of the {kind} to {target}", highlight=False, markup=False)
    else:
        sys.stdout.write(found.body if found.body.endswith("\n") else found.body + "\n")


def _import(
    kind: str, path: Path, actor: str | None, expect: int | None, comment: str | None, output: str
) -> None:
    from cxlens.act import config as cf

    try:
        body = cf.read_file(kind, path)
        with _ops(cf.StaleVersionError) as ops:
            row = cf.save(ops, kind, body, author=_actor(actor), expected_version=expect, comment=comment)
            record = cf.version_dict(row)
    except cf.ConfigError as exc:
        raise fail("\n".join(exc.located(str(path))) + "\nnothing was stored") from None
    print_record(
        record, output, message=f"stored {kind} version {row.version} from {path}; it is in force now"
    )


def _history(kind: str, limit: int, output: str) -> None:
    from cxlens.act import config as cf

    with _ops() as ops:
        rows = [cf.version_dict(r) for r in cf.history(ops, kind, limit)]
    print_frame(_frame(rows, HISTORY_COLUMNS), output, f"Stored {kind} versions (the newest is in force)")


@rules_app.command("show")
def rules_show(file: FileOpt = None, version: VersionOpt = None, output: FormatOpt = "table") -> None:
    """The alert rules in force (latest stored version, else --file, else the defaults)."""
    _show("rules", file, version, output)


@rules_app.command("import")
def rules_import(
    path: ImportFile,
    actor: ActorOpt = None,
    expect: ExpectOpt = None,
    comment: CommentOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Validate a rules YAML file and store it as the next version (nothing stored on an error)."""
    _import("rules", path, actor, expect, comment, output)


@rules_app.command("export")
def rules_export(
    file: FileOpt = None,
    version: VersionOpt = None,
    target: Annotated[Path | None, typer.Option("--out", help="Write the YAML here.")] = None,
    output: FormatOpt = "table",
) -> None:
    """The rules in force as YAML (table output: the YAML itself, ready for import)."""
    _export("rules", file, version, target, output)


@rules_app.command("history")
def rules_history(limit: Annotated[int, typer.Option(min=1)] = 50, output: FormatOpt = "table") -> None:
    """Stored versions of the rules, newest first."""
    _history("rules", limit, output)


@rules_app.command("preview")
def rules_preview(
    days: Annotated[
        float, typer.Option(min=1, max=MAX_DAYS, help="Days of feedback before the latest one (1-3650).")
    ] = 7,
    file: FileOpt = None,
    routing_file: Annotated[
        Path | None, typer.Option("--routing", help="Routing YAML, when no version is stored.")
    ] = None,
    output: FormatOpt = "table",
) -> None:
    """How many alerts per owner per day the rules in force would raise on recent data (nothing is
    recorded or sent)."""
    from cxlens.act import alerts as al
    from cxlens.act import config as cf

    with _ops(ValueError) as ops:
        rules = cf.resolve(ops, "rules", file)
        routing = cf.resolve(ops, "routing", routing_file)
    with open_workspace(read_only=True) as ws:
        run = al.preview_alerts(ws, rules.config, routing.config, days)
    frame = run.volume()
    if output == "json":
        write_json(
            {
                "rules": rules.as_dict(),
                "routing": routing.as_dict(),
                "days": days,
                "evaluated": run.evaluated,
                "alerts": run.fired,
                "rows": [{k: _plain_value(v) for k, v in r.items()} for r in frame.to_dict("records")],
            }
        )
        return
    title = f"Alerts per owner and day, last {days:g} days ({_source_text(rules)} of the rules)"
    print_frame(frame, output, title)
    if output == "table":
        out.print(
            f"{run.evaluated} feedback rows: {run.fired} alerts; {run.volume_note()}",
            highlight=False,
            markup=False,
        )


def _plain_value(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


@routing_app.command("show")
def routing_show(file: FileOpt = None, version: VersionOpt = None, output: FormatOpt = "table") -> None:
    """The owner routing in force (latest stored version, else --file, else the defaults)."""
    _show("routing", file, version, output)


@routing_app.command("import")
def routing_import(
    path: ImportFile,
    actor: ActorOpt = None,
    expect: ExpectOpt = None,
    comment: CommentOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Validate a routing YAML file and store it as the next version (nothing stored on an error)."""
    _import("routing", path, actor, expect, comment, output)


@routing_app.command("export")
def routing_export(
    file: FileOpt = None,
    version: VersionOpt = None,
    target: Annotated[Path | None, typer.Option("--out", help="Write the YAML here.")] = None,
    output: FormatOpt = "table",
) -> None:
    """The routing in force as YAML (table output: the YAML itself, ready for import)."""
    _export("routing", file, version, target, output)


@routing_app.command("history")
def routing_history(limit: Annotated[int, typer.Option(min=1)] = 50, output: FormatOpt = "table") -> None:
    """Stored versions of the routing, newest first."""
    _history("routing", limit, output)


# -- audit ------------------------------------------------------------------------------------------


@act_app.command("audit")
def audit(
    object_type: Annotated[
        str | None, typer.Option("--type", help="case, action_plan, alert, user, survey ...")
    ] = None,
    object_id: Annotated[str | None, typer.Option("--id", help="Only this object.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    output: FormatOpt = "table",
) -> None:
    """Recent audit-log entries: who changed what, with the values before and after."""
    from sqlalchemy import select

    from cxlens.ops import AuditEntry

    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if object_type:
        query = query.where(AuditEntry.object_type == object_type)
    if object_id:
        query = query.where(AuditEntry.object_id == object_id)
    with _ops() as ops, ops.sessions() as s:
        entries = list(s.scalars(query))
    rows = [
        {
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "object": f"{e.object_type} {e.object_id or ''}".strip(),
            "detail": e.detail,
        }
        for e in entries
    ]
    frame = _frame(rows, ["at", "actor", "action", "object", "detail"])
    if output != "json":
        frame["detail"] = frame["detail"].map(_detail)
    else:
        frame["at"] = frame["at"].astype(str)
    print_frame(frame, output, "Audit log")


def _detail(detail: dict[str, Any] | None) -> str:
    detail = detail or {}
    before, after = detail.get("before"), detail.get("after")
    if isinstance(before, dict) and isinstance(after, dict):
        if not before:
            shown = {k: v for k, v in after.items() if v not in (None, [], "")}
            return ("created: " + ", ".join(f"{k}={v}" for k, v in shown.items()))[:200]
        keys = list(after) or list(before)
        return "; ".join(f"{k}: {before.get(k)!s} -> {after.get(k)!s}" for k in keys)[:200]
    return ", ".join(f"{k}={v}" for k, v in detail.items())[:200]
