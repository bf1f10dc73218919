"""Stored, versioned alert rules and routing (``act_config``): validation errors name the field and
store nothing, versions count up and are audited, a stale save is refused, the latest stored version
wins over the configured file and the file over the defaults, the alert run and the case routing use
what is in force, and the CLI round-trips import/export; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cxlens.act import alerts as al
from cxlens.act import cases as cs
from cxlens.act import config as cf
from cxlens.act.jobs import configured_cycle
from cxlens.act.routing import Routing, parse_routing
from cxlens.act.rules import DEFAULT_RULES, parse_rules
from cxlens.cli.main import app
from cxlens.ops import AuditEntry, OpsStore
from cxlens.ops.act_models import ActConfig
from cxlens.storage.workspace import Workspace

runner = CliRunner()
RULES = "rules:\n  - {id: low-nps, kind: detractor, threshold: 3}\n"
ROUTING = "routes:\n  - {match: {store_id: S1}, owner: alice}\nsla_hours: {normal: 10}\n"


def test_defaults_round_trip_through_their_yaml() -> None:
    assert parse_rules(cf.default_body("rules")) == DEFAULT_RULES
    assert parse_routing(cf.default_body("routing")) == Routing()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "rules:\n  - {id: a, kind: keyword}\n  - {id: b, kind: aspect}\n"
            "  - {id: c, kind: detractor, threshold: lots}\n",
            "rules[2].threshold: must be a number",
        ),
        ("rules:\n  - {id: a, kind: nope}\n", "rules[0].kind: must be one of"),
        ("rules:\n  - {id: a}\n", "rules[0].kind: is required"),
        ("rules:\n  - {id: a, kind: keyword, colour: red}\n", "rules[0].colour: is not a known field"),
        ("rules:\n  - {id: a, kind: detractor, priority: asap}\n", "rules[0].priority: priority is one of"),
        ("rules: {id: a}\n", "rules: must be a list"),
        ("dedup_window: soon\n", "dedup_window: 'soon' is not a duration"),
        ("rulez: []\n", "rulez: is not a known field"),
        ("rules: [\n", "line 2, column 1: not valid YAML"),
        ("dedup_window: 3651d\n", "dedup_window: must be at most 3650 days"),
        ("first_run: 0d\n", "first_run: must be more than 0"),
        ("first_run: 1.0e+300\n", "first_run: must be at most 3650 days"),
        (
            "rules:\n  - {id: a, kind: keyword, dedup_window: 99999w}\n",
            "rules[0].dedup_window: must be at most 3650",
        ),
        ("rules:\n  - {id: a, kind: detractor, threshold: '3'}\n", "rules[0].threshold: must be a number"),
        ("rules:\n  - {id: a, kind: detractor, threshold: true}\n", "rules[0].threshold: must be a number"),
        ("rules:\n  - {id: a, kind: anomaly, z: .nan}\n", "rules[0].z: must be a finite number"),
        (
            "rules:\n  - {id: a, kind: metric_drop, min_drop: .inf}\n",
            "rules[0].min_drop: must be a finite number",
        ),
        (
            "rules:\n  - {id: a, kind: anomaly, baseline_days: 5000}\n",
            "rules[0].baseline_days: must be less than",
        ),
        ("rules:\n  - {id: a, kind: aspect, max_score: x}\n", "rules[0].max_score: must be a number"),
        (
            "rules:\n  - {id: a, kind: metric_drop, filters: {colour: red}}\n",
            "rules[0].filters.colour: is not a dimension",
        ),
        (
            "rules:\n  - {id: a, kind: anomaly, filters: {store_id: 101}}\n",
            "rules[0].filters.store_id: must be text",
        ),
        (
            "rules:\n  - {id: a, kind: anomaly, filters: {region: []}}\n",
            "rules[0].filters.region: must not be an empty",
        ),
        (
            "rules:\n  - {id: a, kind: anomaly, filters: [touchpoint]}\n",
            "rules[0].filters: must be a mapping",
        ),
        ("- a\n", "(top): must be a mapping"),
    ],
)
def test_rule_errors_name_the_field(text: str, expected: str) -> None:
    with pytest.raises(cf.ConfigError) as err:
        cf.parse("rules", text)
    assert any(line.startswith(expected) for line in err.value.errors), err.value.errors


LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


@pytest.mark.parametrize("kind", ["rules", "routing"])
@pytest.mark.parametrize(
    ("text", "expected", "line"),
    [
        (LAUGHS, "line 1, column 4: anchors and aliases (& and *) are not allowed", 1),
        ("rules: []\nx: *y\n", "line 2, column 4: anchors and aliases (& and *) are not allowed", 2),
        ("teams: []\n\nrules: &r []\n", "line 3, column 8: anchors and aliases (& and *) are not allowed", 3),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 32 levels deep", 1),
    ],
)
def test_anchors_aliases_and_deep_nesting_are_refused_naming_the_line(
    kind: str, text: str, expected: str, line: int
) -> None:
    with pytest.raises(cf.ConfigError) as err:
        cf.parse(kind, text)  # at once: nothing is expanded (9^9 values for LAUGHS)
    assert len(err.value.errors) == 1
    assert expected in err.value.errors[0]
    assert err.value.positions[0] is not None
    assert err.value.positions[0][0] == line
    assert err.value.located("f.yaml")[0].startswith(f"f.yaml:{line}: ")


def test_field_errors_carry_their_line_and_too_long_a_text_is_refused() -> None:
    text = "rules:\n  - {id: a, kind: keyword}\n  - id: b\n    kind: detractor\n    threshold: lots\n"
    with pytest.raises(cf.ConfigError) as err:
        cf.parse("rules", text + "  - {id: c}\nrulez: 1\n", "r.yaml")
    assert err.value.located() == [
        "r.yaml:7: rulez: is not a known field",
        "r.yaml:5: rules[1].threshold: must be a number",
        "r.yaml:6: rules[2].kind: is required",
    ]
    with pytest.raises(cf.ConfigError, match="longer than 200,000 characters"):
        cf.parse("routing", "# " + "x" * cf.MAX_BODY + "\n")


def test_typed_filters_and_durations_that_are_valid_pass() -> None:
    text = (
        "overlap: 0d\nrules:\n  - id: a\n    kind: metric_drop\n"
        "    filters: {touchpoint: checkout, store_id: ['101', S2], late_delivery: true, brand: null}\n"
    )
    rule = cf.parse("rules", text).rules[0]
    assert rule.filters == {
        "touchpoint": "checkout",
        "store_id": ["101", "S2"],
        "late_delivery": True,
        "brand": None,
    }
    assert parse_rules(cf.default_body("rules")) == DEFAULT_RULES
    with pytest.raises(cf.ConfigError) as err:
        cf.parse("routing", "default: {owner: a, digest: 4000d}\nsla_hours: {high: .inf, low: '3'}\n")
    assert err.value.errors[0].startswith("default.digest: must be at most 3650 days")
    assert "sla_hours.high: must be a finite number" in err.value.errors
    assert "sla_hours.low: must be a number" in err.value.errors


def test_routing_errors_name_the_field() -> None:
    text = (
        "default: {owner: cx, open_cases: soon}\nroutes:\n  - {match: {store_id: S1}}\n"
        "  - {match: {store_id: S2}, owner: b, webhook: ftp://x}\nsla_hours: {high: many}\n"
    )
    with pytest.raises(cf.ConfigError) as err:
        cf.parse("routing", text)
    lines = err.value.errors
    assert "routes[0].owner: is required" in lines
    assert any(line.startswith("default.open_cases: a priority is one of") for line in lines)
    assert any(line.startswith("routes[1].webhook: a webhook must be an http(s) URL") for line in lines)
    assert "sla_hours.high: must be a number" in lines


def test_versions_audit_and_stale_saves(ops: OpsStore) -> None:
    assert cf.latest(ops, "rules") is None
    with pytest.raises(cf.ConfigError):
        cf.save(ops, "rules", "rules: [{id: a, kind: detractor, threshold: x}]", author="ana")
    assert ops.count(ActConfig) == 0  # nothing stored on an error
    first = cf.save(ops, "rules", RULES, author="ana", expected_version=0, comment="quieter")
    second = cf.save(ops, "rules", RULES.replace("3", "2"), author="bob", expected_version=1)
    assert (first.version, second.version) == (1, 2)
    routing = cf.save(ops, "routing", ROUTING, author="ana")
    assert routing.version == 1  # each kind counts its own versions
    with pytest.raises(cf.StaleVersionError, match="now version 2"):
        cf.save(ops, "rules", RULES, author="carol", expected_version=1)
    assert ops.count(ActConfig, ActConfig.kind == "rules") == 2
    assert [r.version for r in cf.history(ops, "rules")] == [2, 1]
    assert cf.history(ops, "rules")[1].comment == "quieter"
    with ops.sessions() as s:
        audit = list(s.scalars(select(AuditEntry).where(AuditEntry.object_type == "act_config")))
    assert [(a.actor, a.object_id, a.detail["after"]["version"]) for a in audit] == [
        ("ana", "rules", 1),
        ("bob", "rules", 2),
        ("ana", "routing", 1),
    ]
    assert audit[1].detail["before"] == {"version": 1}


def test_resolution_order_stored_then_file_then_default(ops: OpsStore, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {id: from-file, kind: keyword}\n", encoding="utf-8")
    assert cf.resolve(ops, "rules").source == "default"
    assert cf.resolve_rules(ops) == DEFAULT_RULES
    from_file = cf.resolve(ops, "rules", path)
    assert (from_file.source, from_file.path) == ("file", str(path))
    assert [r.id for r in from_file.config.rules] == ["from-file"]
    cf.save(ops, "rules", RULES, author="ana")
    stored = cf.resolve(ops, "rules", path)
    assert (stored.source, stored.version) == ("stored", 1)
    assert [r.id for r in cf.resolve_rules(ops, path).rules] == ["low-nps"]
    assert cf.resolve_routing(ops).owner_for("S1").owner == "store:S1"
    cf.save(ops, "routing", ROUTING, author="ana")
    assert cf.resolve_routing(ops).owner_for("S1").owner == "alice"


def _workspace(root: Path) -> Workspace:
    ws = Workspace(root)
    ws.ingest("stores", pd.DataFrame({"store_id": ["S1", "S2"], "name": ["One", "Two"]}))
    ws.ingest(
        "feedback",
        pd.DataFrame(
            {
                "feedback_id": ["f1", "f2", "f3"],
                "submitted_at": pd.to_datetime(["2026-11-19 10:00", "2026-11-19 11:00", "2026-11-19 12:00"]),
                "source": "survey",
                "store_id": ["S1", "S2", "S2"],
                "touchpoint": "store_visit",
                "nps": pd.array([2, 3, 9], dtype="Int64"),
            }
        ),
    )
    return ws


def test_the_alert_job_and_case_routing_use_what_is_stored(ops: OpsStore, tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "ws")
    try:
        now = datetime(2026, 11, 19, 20, 0)
        assert configured_cycle(ops, ws, "http://cx.test", now=now) is None  # nothing configured
        cf.save(ops, "rules", "rules:\n  - {id: worst, kind: detractor, threshold: 2}\n", author="ana")
        cf.save(ops, "routing", ROUTING, author="ana")
        done = configured_cycle(ops, ws, "http://cx.test", now=now)
        assert done is not None
        alerts = al.list_alerts(ops)
        assert [(a.rule_id, a.store_id, a.owner) for a in alerts] == [("worst", "S1", "alice")]
        case = cs.open_case(ops, "door", store_id="S1", routing=cf.resolve_routing(ops))
        assert case.assignee == "alice"
        assert (case.sla_due_at - case.created_at).total_seconds() == pytest.approx(10 * 3600, abs=2)
        preview = al.preview_alerts(ws, parse_rules(RULES), cf.resolve_routing(ops), days=7)
        assert preview.volume()[["owner", "alerts"]].to_dict("records") == [
            {"owner": "alice", "alerts": 1},
            {"owner": "store:S2", "alerts": 1},
        ]
        assert len(al.list_alerts(ops)) == 1  # the preview records nothing
    finally:
        ws.close()


def _cli(data_dir: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--data-dir", str(data_dir), "act", *args])
    return result.exit_code, result.stdout, result.output


def test_cli_import_export_history_round_trip(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    code, stdout, _ = _cli(data_dir, "rules", "export")
    assert code == 0
    assert parse_rules(stdout) == DEFAULT_RULES
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {id: a, kind: keyword}\n  - {id: b, kind: detractor, threshold: x}\n")
    code, _, output = _cli(data_dir, "rules", "import", str(bad))
    assert code == 1
    assert "rules[1].threshold: must be a number" in output
    assert "nothing was stored" in output
    good = tmp_path / "rules.yaml"
    good.write_text(RULES, encoding="utf-8")
    code, stdout, _ = _cli(data_dir, "rules", "import", str(good), "--as", "ana", "-o", "json")
    assert code == 0, stdout
    assert json.loads(stdout)["version"] == 1
    code, _, output = _cli(data_dir, "rules", "import", str(good), "--expect-version", "0")
    assert code == 1
    assert "now version 1" in output
    code, stdout, _ = _cli(data_dir, "rules", "export")
    assert stdout == RULES  # the stored text, as imported
    code, stdout, _ = _cli(data_dir, "rules", "show", "-o", "json")
    shown = json.loads(stdout)
    assert (shown["source"], shown["version"]) == ("stored", 1)
    assert shown["config"]["rules"][0]["id"] == "low-nps"
    code, stdout, _ = _cli(data_dir, "rules", "history", "-o", "json")
    assert [(r["version"], r["author"]) for r in json.loads(stdout)] == [(1, "ana")]
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING, encoding="utf-8")
    assert _cli(data_dir, "routing", "import", str(routing))[0] == 0
    out_file = tmp_path / "exported.yaml"
    assert _cli(data_dir, "routing", "export", "--out", str(out_file))[0] == 0
    assert out_file.read_text(encoding="utf-8") == ROUTING
    code, stdout, _ = _cli(data_dir, "routing", "show", "-o", "json")
    assert json.loads(stdout)["config"]["routes"][0]["owner"] == "alice"
    code, stdout, _ = _cli(data_dir, "routing", "export", "--version", "1", "-o", "json")
    assert json.loads(stdout)["body"] == ROUTING
    code, stdout, _ = _cli(data_dir, "rules", "export", "-o", "csv")
    assert stdout.splitlines() == ["kind,source,version,path,out", "rules,stored,1,,"]


def test_cli_preview_counts_alerts_per_owner_and_day(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _workspace(data_dir).close()
    code, stdout, output = _cli(data_dir, "rules", "preview", "--days", "7", "-o", "json")
    assert code == 0, output
    preview = json.loads(stdout)
    assert preview["rules"]["source"] == "default"
    assert preview["evaluated"] == 3
    rows = {(r["owner"], r["day"]): r["alerts"] for r in preview["rows"]}
    assert rows == {("store:S1", "2026-11-19"): 1, ("store:S2", "2026-11-19"): 1}
    with OpsStore(data_dir=data_dir) as ops:
        assert al.list_alerts(ops) == []


def test_cli_bad_files_and_values_are_file_line_errors_never_tracebacks(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _workspace(data_dir).close()
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {id: a, kind: keyword}\n  - id: b\n    kind: detractor\n    threshold: x\n")
    aliased = tmp_path / "aliased.yaml"
    aliased.write_text("teams: &t [store_id]\nx: *t\n")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"rules: []\n# \xff\n")
    routing = tmp_path / "routing.yaml"
    routing.write_text("routes:\n  - {match: {city: X}, owner: a}\n")
    cases = [
        (("rules", "import", str(bad)), f"{bad}:5: rules[1].threshold: must be a number"),
        (("routing", "import", str(aliased)), f"{aliased}:1: anchors and aliases (& and *) are not allowed"),
        (("rules", "import", str(binary)), f"{binary}:2: not UTF-8 text"),
        (("rules", "import", str(tmp_path)), f"{tmp_path}: (top): cannot be read"),
        (("routing", "import", str(routing)), f"{routing}:2: routes[0].match: match on one or more of"),
        (("rules", "preview", "--file", str(bad)), f"{bad}:5: rules[1].threshold: must be a number"),
        (("rules", "preview", "--routing", str(routing)), f"{routing}:2: routes[0].match: match on"),
        (
            ("rules", "preview", "--file", str(tmp_path / "missing.yaml")),
            "missing.yaml: (top): cannot be read",
        ),
    ]
    for args, expected in cases:
        result = runner.invoke(app, ["--data-dir", str(data_dir), "act", *args])
        assert result.exit_code == 1, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
        assert expected in " ".join(result.output.split()), (args, result.output)
        assert "Traceback" not in result.output
    for days in ("3651", "nan"):
        too_far = runner.invoke(app, ["--data-dir", str(data_dir), "act", "rules", "preview", "--days", days])
        assert too_far.exit_code == 2  # a usage error, like --days 0
        assert "3650" in too_far.output
    with OpsStore(data_dir=data_dir) as ops:
        assert ops.count(ActConfig) == 0


def test_invalid_stored_rules_are_logged_once_and_the_sla_sweep_still_runs(
    ops: OpsStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    from datetime import timedelta

    from cxlens.act.jobs import CycleState
    from cxlens.ops import utcnow

    ws = _workspace(tmp_path / "ws")
    try:
        cf.save(ops, "routing", ROUTING, author="ana")
        with ops.session() as s:  # a version stored before the validation got stricter
            s.add(
                ActConfig(
                    kind="rules",
                    version=1,
                    body="rules: [{id: a, kind: nope}]\n",
                    author="old",
                    created_at=utcnow(),
                )
            )
        case = cs.open_case(ops, "door", store_id="S1", priority="urgent", routing=cf.resolve_routing(ops))
        state, later = CycleState(), utcnow() + timedelta(days=2)
        with caplog.at_level(logging.INFO, logger="cxlens.act.jobs"):
            first = configured_cycle(ops, ws, "http://cx.test", now=later, state=state)
            second = configured_cycle(ops, ws, "http://cx.test", now=later + timedelta(days=1), state=state)
        assert first is not None
        assert second is not None
        assert first[0] is None  # no alert run on invalid rules ...
        assert [e.case_id for e in first[1]] == [case.case_id]  # ... but the SLA sweep ran
        assert [e.case_id for e in second[1]] == [case.case_id]  # and runs on every cycle
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1  # said once, not every cycle
        assert "stored rules version 1" in errors[0].getMessage()
        assert "rules[0].kind" in errors[0].getMessage()
        assert al.list_alerts(ops) == []
        cf.save(ops, "rules", RULES, author="ana")
        with caplog.at_level(logging.INFO, logger="cxlens.act.jobs"):
            fixed = configured_cycle(ops, ws, "http://cx.test", now=later + timedelta(days=2), state=state)
        assert fixed is not None
        assert fixed[0] is not None
        assert any("valid again" in r.getMessage() for r in caplog.records)
    finally:
        ws.close()


def test_start_up_checks_a_file_only_while_nothing_of_its_kind_is_stored(
    ops: OpsStore, tmp_path: Path
) -> None:
    from cxlens.web.app import create_app
    from cxlens.web.settings import WebSettings

    broken = tmp_path / "rules.yaml"
    broken.write_text("rules: [{id: a, kind: nope}]\n", encoding="utf-8")
    ws = Workspace(tmp_path / "ws")
    try:
        settings = WebSettings(alert_rules_file=broken, routing_file=tmp_path / "missing.yaml")
        with pytest.raises(cf.ConfigError, match=r"rules\[0\]\.kind"):
            create_app(settings, ws, ops=ops, export=False)  # nothing stored: the file must be valid
        cf.save(ops, "rules", RULES, author="ana")
        cf.save(ops, "routing", ROUTING, author="ana")
        create_app(settings, ws, ops=ops, export=False)  # stored versions win: the files are unused
    finally:
        ws.close()
