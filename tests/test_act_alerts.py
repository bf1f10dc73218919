"""Alerts: single-feedback rules (detractor, keywords in many languages, negative aspects) and
metric rules (significant drop, robust-z anomaly), routing, deduplication, the incremental cursor,
and delivery to a real local webhook receiver and a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conftest import Inbox, free_port
from cxlens.act import alerts as al
from cxlens.act.cases import list_cases as case_list
from cxlens.act.routing import Routing, load_routing
from cxlens.ops import AuditEntry, OpsStore
from cxlens.ops.act_models import Alert, Case
from cxlens.storage.workspace import Workspace

NOW = datetime(2026, 11, 20, 12, 0)


STORES = pd.DataFrame(
    {"store_id": ["S1", "S2", "S3"], "name": ["One", "Two", "Three"], "region": ["North", "North", "South"]}
)


def _fb(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    cols = ["feedback_id", "submitted_at", "store_id", "touchpoint", "nps", "text", "customer_id"]
    df = pd.DataFrame(rows, columns=cols)
    df["submitted_at"] = pd.to_datetime(df["submitted_at"])
    df["source"] = "survey"
    df["nps"] = df["nps"].astype("Int64")
    return df


FEEDBACK = _fb(
    [
        ("f1", "2026-11-19 10:00", "S1", "store_visit", 3, "Staff ignored me", "C1"),
        ("f2", "2026-11-19 11:00", "S2", "store_visit", 9, "我要退款，谢谢", "C2"),
        ("f3", "2026-11-19 12:00", "S3", "store_visit", 10, "Quiero un REEMBOLSO ya", "C3"),
        ("f4", "2026-11-19 13:00", "S3", "delivery", 8, "all fine", "C4"),
        ("f5", "2026-11-19 14:00", "S3", "delivery", 2, "<script>alert(1)</script> late", "C5"),
        ("f6", "2026-11-19 15:00", "S1", "checkout_queue", 10, "返金してください", "C6"),
        ("f7", "2026-11-19 16:00", "S2", "checkout_queue", 9, "Хочу ВОЗВРАТ денег", "C7"),
        ("f8", "2026-11-19 17:00", "S2", "checkout_queue", 9, "환불 해주세요", "C8"),
        ("f9", "2026-11-19 18:00", "S2", "checkout_queue", 10, "lovely staff, no complaints", "C9"),
    ]
)


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    workspace.ingest("stores", STORES)
    workspace.ingest("feedback", FEEDBACK)
    return workspace


FEEDBACK_RULES = al.RuleSet(
    (
        al.DetractorRule(id="detractor", kind="detractor"),
        al.KeywordRule(id="refund", kind="keyword"),
    )
)


def test_feedback_rules_fire_on_detractors_and_multilingual_refund_keywords(
    ws: Workspace, ops: OpsStore
) -> None:
    run = al.run_alerts(ops, ws, FEEDBACK_RULES, now=NOW, since=datetime(2026, 11, 1), send=False)
    assert run.evaluated == len(FEEDBACK)
    fired = {(a.rule_id, a.feedback_id) for a in al.list_alerts(ops)}
    detractors = {("detractor", f) for f in FEEDBACK.loc[FEEDBACK["nps"] <= 6, "feedback_id"]}
    refunds = {("refund", f) for f in ["f2", "f3", "f6", "f7", "f8"]}
    assert fired == detractors | refunds
    assert run.fired == len(fired)
    f5 = next(a for a in al.list_alerts(ops) if a.feedback_id == "f5")
    assert f5.region == "South"
    assert f5.touchpoint == "delivery"
    assert f5.detail["excerpt"].startswith("<script>")  # stored raw; escaped where shown


def test_rerun_and_dedup_window(ws: Workspace, ops: OpsStore) -> None:
    first = al.run_alerts(ops, ws, FEEDBACK_RULES, now=NOW, since=datetime(2026, 11, 1), send=False)
    again = al.run_alerts(
        ops, ws, FEEDBACK_RULES, now=NOW + timedelta(hours=1), since=datetime(2026, 11, 1), send=False
    )
    assert again.fired == 0
    assert again.deduplicated == first.fired
    assert ops.count(Alert) == first.fired
    # same store within the window -> one alert per store; after the window, a new one
    per_store = al.RuleSet((al.KeywordRule(id="refund-store", kind="keyword", dedup_by="store_id"),))
    run = al.run_alerts(ops, ws, per_store, now=NOW, since=datetime(2026, 11, 1), send=False)
    assert run.fired == 3
    assert run.deduplicated == 2
    later = al.run_alerts(
        ops, ws, per_store, now=NOW + timedelta(days=8), since=datetime(2026, 11, 1), send=False
    )
    assert later.fired == 3
    # a feedback row alerts once, ever: re-reading it after the window (a short window, or
    # --since going back) finds the same row and adds nothing
    short = al.RuleSet(FEEDBACK_RULES.rules, dedup_window=timedelta(hours=1))
    much_later = al.run_alerts(
        ops, ws, short, now=NOW + timedelta(days=30), since=datetime(2026, 11, 1), send=False
    )
    assert much_later.fired == 0
    assert much_later.deduplicated == first.fired


def test_cursor_makes_runs_incremental(ws: Workspace, ops: OpsStore) -> None:
    al.run_alerts(ops, ws, FEEDBACK_RULES, now=NOW, since=datetime(2026, 11, 1), send=False)
    rules = al.RuleSet(FEEDBACK_RULES.rules, overlap=timedelta(0))
    nothing_new = al.run_alerts(ops, ws, rules, now=NOW, send=False)
    assert nothing_new.evaluated == 0
    ws.ingest("feedback", _fb([("f10", "2026-11-20 09:00", "S1", "store_visit", 1, "rude", "C10")]))
    run = al.run_alerts(ops, ws, rules, now=NOW, send=False)
    assert run.evaluated == 1
    assert run.fired == 1


def test_routing_by_store_region_and_touchpoint(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(
        """
default: {owner: cx-team}
routes:
  - {match: {touchpoint: delivery}, owner: logistics}
  - {match: {store_id: [S1]}, owner: alice}
  - {match: {region: South}, owner: bob}
""",
        encoding="utf-8",
    )
    routing = load_routing(path)
    assert routing.owner_for("S1", "North", "store_visit").owner == "alice"
    assert routing.owner_for("S3", "South", "store_visit").owner == "bob"
    assert routing.owner_for("S3", "South", "delivery").owner == "logistics"
    # no route: the store's team, else the region's, else the touchpoint's, else the default
    assert routing.owner_for("S2", "North", "store_visit").owner == "store:S2"
    assert routing.owner_for(None, "North", "store_visit").owner == "region:North"
    assert routing.owner_for(None, None, "web_visit").owner == "touchpoint:web_visit"
    assert routing.owner_for(None, None, None).owner == "cx-team"
    team = routing.contact("store:S2")
    assert (team.owner, team.email, team.open_cases) == ("store:S2", None, None)
    path.write_text("default: {owner: cx-team, open_cases: high}\nteams: []\n", encoding="utf-8")
    one_team = load_routing(path)
    assert one_team.owner_for("S2", "North", "store_visit").owner == "cx-team"
    assert one_team.contact("cx-team").opens_case("urgent")
    assert not one_team.contact("cx-team").opens_case("normal")
    path.write_text("routes: [{match: {city: Lisbon}, owner: x}]", encoding="utf-8")
    with pytest.raises(ValueError, match=r"routes\[0\]\.match"):
        load_routing(path)
    path.write_text("teams: [city]\ndefault: {owner: cx, open_cases: soon, digest: 1d}", encoding="utf-8")
    with pytest.raises(ValueError, match=r"default\.open_cases: .*priority[\s\S]*teams: "):
        load_routing(path)


def test_alert_reaches_webhook_and_smtp_with_routed_owner(
    ws: Workspace, ops: OpsStore, smtp: Inbox, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    routing = Routing.model_validate(
        {
            "default": {"owner": "cx-team"},
            "routes": [
                {"match": {"store_id": "S1"}, "owner": "alice", "webhook": url, "email": "alice@shop.test"},
                {"match": {"region": "South"}, "owner": "bob", "email": "bob@shop.test"},
            ],
        }
    )
    rules = al.RuleSet((al.DetractorRule(id="detractor", kind="detractor", open_case=True),))
    run = al.run_alerts(ops, ws, rules, routing, now=NOW, since=datetime(2026, 11, 1))
    assert run.fired == 2
    assert run.delivered == 2
    assert run.failed == 0
    assert run.cases_opened == 2
    [hook] = received
    assert hook["type"] == "alert"
    assert hook["owner"] == "alice"
    assert hook["store_id"] == "S1"
    assert hook["detail"]["feedback_id"] == "f1"
    assert hook["case_id"] is not None
    recipients = sorted(r for m in smtp.messages for r in m.rcpt_tos)
    assert recipients == ["alice@shop.test", "bob@shop.test"]
    bob = next(m for m in smtp.messages if m.rcpt_tos == ["bob@shop.test"])
    msg = email.message_from_bytes(bob.content, policy=email.policy.default)
    assert "Detractor: NPS 2" in str(msg["Subject"])
    assert "script" not in msg.get_body(("plain",)).get_content()  # no customer text in e-mails
    with ops.sessions() as s:
        alerts = list(s.query(Alert))
        cases = list(s.query(Case))
    assert all(a.delivered_at is not None for a in alerts)
    assert {c.assignee for c in cases} == {"alice", "bob"}
    assert ops.count(AuditEntry, AuditEntry.object_type == "alert") == 2


def test_failed_delivery_is_kept_and_retried(ws: Workspace, ops: OpsStore, smtp: Inbox) -> None:
    dead = f"http://127.0.0.1:{free_port()}/nobody"
    routing = Routing.model_validate({"default": {"owner": "cx", "webhook": dead}, "teams": []})
    rules = al.RuleSet((al.DetractorRule(id="detractor", kind="detractor"),))
    run = al.run_alerts(ops, ws, rules, routing, now=NOW, since=datetime(2026, 11, 1))
    assert run.failed == 2
    assert run.delivered == 0
    assert "webhook" in run.errors[0]
    fixed = Routing.model_validate({"default": {"owner": "cx", "email": "cx@shop.test"}, "teams": []})
    retry = al.run_alerts(ops, ws, al.RuleSet(()), fixed, now=NOW)
    assert retry.delivered == 2
    assert len(smtp.messages) == 2


def _daily(
    rng: np.random.Generator, days: int, stores: dict[str, float], drop: dict[str, float]
) -> pd.DataFrame:
    """Daily CSAT answers per store; in the last week, stores in ``drop`` have that top-box share."""
    start = pd.Timestamp("2026-10-05")  # a Monday, so weeks are whole
    rows = []
    for d in range(days):
        day = start + pd.Timedelta(days=d)
        last_week = d >= days - 7
        for store, share in stores.items():
            p = drop.get(store, share) if last_week else share
            for i, happy in enumerate(rng.random(40) < p):
                rows.append(
                    (f"{store}-{d}-{i}", day + pd.Timedelta(minutes=10 * i), store, 5 if happy else 2)
                )
    df = pd.DataFrame(rows, columns=["feedback_id", "submitted_at", "store_id", "csat"])
    df["source"], df["touchpoint"] = "survey", "store_visit"
    return df


def _independent_drop(df: pd.DataFrame, store: str) -> tuple[float, float]:
    """Plain pandas: CSAT % of the last week and the week before, for one store."""
    part = df[df["store_id"] == store]
    week = part["submitted_at"].dt.to_period("W-SUN")
    last, prev = week.max(), week.max() - 1
    share = lambda w: 100 * float((part.loc[week == w, "csat"] >= 4).mean())  # noqa: E731
    return share(last), share(prev)


def test_metric_drop_fires_on_a_planted_drop_only(workspace: Workspace, ops: OpsStore) -> None:
    rng = np.random.default_rng(3)
    stores = {"S1": 0.8, "S2": 0.8, "S3": 0.8}
    df = _daily(rng, 28, stores, drop={"S2": 0.5})
    workspace.ingest("stores", STORES)
    workspace.ingest("feedback", df)
    rule = al.MetricDropRule(id="csat-drop", kind="metric_drop", metric="csat", grain="week", min_drop=5)
    run = al.run_alerts(ops, workspace, al.RuleSet((rule,)), now=NOW, send=False)
    [alert] = al.list_alerts(ops)
    assert run.fired == 1
    assert alert.store_id == "S2"
    assert alert.region == "North"
    last, prev = _independent_drop(df, "S2")
    assert alert.detail["value"] == pytest.approx(last, abs=1e-3)
    assert alert.detail["baseline"] == pytest.approx(prev, abs=1e-3)
    assert alert.detail["p_value"] < 0.05
    assert alert.detail["ci"][1] < 0
    # the same drop in the same period alerts once, however often the rule runs
    week_later = al.run_alerts(ops, workspace, al.RuleSet((rule,)), now=NOW + timedelta(days=8), send=False)
    assert week_later.fired == 0


def _monthly_reviews(rng: np.random.Generator, five_star: dict[str, float]) -> pd.DataFrame:
    """Star ratings without a store (a review export): per month, that share 5 stars, else 2."""
    rows = []
    for month, share in five_star.items():
        for i in range(150):
            stars = 5 if rng.random() < share else 2
            rows.append((f"{month}-{i}", pd.Timestamp(f"{month}-01") + pd.Timedelta(hours=4 * i), stars))
    return pd.DataFrame(rows, columns=["feedback_id", "submitted_at", "rating"]).assign(source="review")


def test_default_rules_alert_on_a_star_rating_drop_in_reviews(workspace: Workspace, ops: OpsStore) -> None:
    df = _monthly_reviews(np.random.default_rng(8), {"2026-08": 0.8, "2026-09": 0.8, "2026-10": 0.45})
    workspace.ingest("feedback", df)
    al.run_alerts(ops, workspace, al.DEFAULT_RULES, now=NOW, send=False)
    [alert] = [a for a in al.list_alerts(ops) if a.rule_id == "rating-drop"]
    month = df["submitted_at"].dt.to_period("M")
    last, prev = (float(df.loc[month == p, "rating"].mean()) for p in (month.max(), month.max() - 1))
    assert alert.detail["value"] == pytest.approx(last, abs=1e-3)
    assert alert.detail["baseline"] == pytest.approx(prev, abs=1e-3)
    assert alert.detail["p_value"] < 0.05
    assert alert.store_id is None
    assert "Rating dropped" in alert.title
    assert "feedback with no store_id" in alert.title


def test_star_rating_rule_stays_quiet_without_a_drop(workspace: Workspace, ops: OpsStore) -> None:
    df = _monthly_reviews(np.random.default_rng(9), {"2026-08": 0.7, "2026-09": 0.7, "2026-10": 0.7})
    workspace.ingest("feedback", df)
    al.run_alerts(ops, workspace, al.DEFAULT_RULES, now=NOW, send=False)
    assert not [a for a in al.list_alerts(ops) if a.rule_id == "rating-drop"]


def test_metric_rules_stay_quiet_on_noise(workspace: Workspace, ops: OpsStore) -> None:
    rng = np.random.default_rng(11)
    df = _daily(rng, 35, {"S1": 0.8, "S2": 0.75, "S3": 0.7}, drop={})
    workspace.ingest("stores", STORES)
    workspace.ingest("feedback", df)
    rules = al.RuleSet(
        (
            al.MetricDropRule(id="drop", kind="metric_drop", metric="csat", min_drop=5),
            al.AnomalyRule(id="anomaly", kind="anomaly", metric="csat", min_n=20),
        )
    )
    run = al.run_alerts(ops, workspace, rules, now=NOW, send=False)
    assert run.fired == 0


def test_anomaly_fires_on_a_bad_day(workspace: Workspace, ops: OpsStore) -> None:
    rng = np.random.default_rng(5)
    df = _daily(rng, 29, {"S1": 0.8, "S3": 0.8}, drop={})
    last_day = df["submitted_at"].dt.normalize() == df["submitted_at"].dt.normalize().max()
    df.loc[last_day & (df["store_id"] == "S3"), "csat"] = 1  # a very bad last day in S3
    workspace.ingest("stores", STORES)
    workspace.ingest("feedback", df)
    rule = al.AnomalyRule(id="anomaly", kind="anomaly", metric="csat", min_n=20)
    al.run_alerts(ops, workspace, al.RuleSet((rule,)), now=NOW, send=False)
    [alert] = al.list_alerts(ops)
    assert alert.store_id == "S3"
    assert alert.detail["z"] < -3.5
    assert alert.detail["value"] == 0.0


def test_robust_z_against_numpy() -> None:
    base = np.array([80.0, 82, 79, 81, 80, 78, 83])
    med = np.median(base)
    mad = np.median(np.abs(base - med)) * 1.4826
    assert al.robust_z(np.array(60.0), base) == pytest.approx((60 - med) / mad)
    assert al.robust_z(np.array(1.0), np.ones(7)) == 0.0


def test_rules_file_errors_name_the_rule_and_field(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n  - {id: x, kind: detractor, threshold: 11}\n  - {id: b, kind: nope}\n"
        "  - {id: a, kind: keyword}\n  - {id: a, kind: detractor}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="invalid alert rules") as err:
        al.load_rules(path)
    text = str(err.value)
    assert "rules[0].threshold: must be less than or equal to 10" in text
    assert "rules[1].kind: must be one of" in text
    assert "'a' is used twice" in text
    path.write_text(
        "dedup_window: 2d\nrules:\n"
        "  - {id: refund, kind: keyword, keywords: [refund, 退款], open_case: true}\n",
        encoding="utf-8",
    )
    rules = al.load_rules(path)
    assert rules.dedup_window == timedelta(days=2)
    assert rules.rules[0].keywords == ("refund", "退款")


def test_empty_workspace_gives_no_alerts(workspace: Workspace, ops: OpsStore) -> None:
    run = al.run_alerts(ops, workspace, now=NOW, since=datetime(2026, 1, 1), send=False)
    assert run.fired == 0
    assert run.evaluated == 0


def test_act_cycle_alerts_then_escalates_on_a_later_sweep(ws: Workspace, ops: OpsStore) -> None:
    from cxlens.act.jobs import act_cycle

    routing = Routing.model_validate({"escalation": [{"owner": "head"}], "sla_hours": {"high": 24}})
    rules = al.RuleSet((al.DetractorRule(id="detractor", kind="detractor", priority="high", open_case=True),))
    run, escalated = act_cycle(ops, ws, rules, routing, "http://cx.test", now=datetime(2026, 11, 19, 20, 0))
    assert run.cases_opened == 2
    assert escalated == []
    run, escalated = act_cycle(ops, ws, rules, routing, "http://cx.test", now=datetime(2026, 11, 21, 0, 0))
    assert run.fired == 0
    assert [(e.level, e.owner) for e in escalated] == [(1, "head"), (1, "head")]


# -- first run, severity, team routing, automatic cases, digests, volume ------------------------------


def test_first_run_reads_the_last_days_of_feedback_even_when_the_data_are_old(
    ws: Workspace, ops: OpsStore
) -> None:
    """No cursor yet: the last ``first_run`` of feedback before the last answer, not the day before
    now (which found nothing on data that end before today, such as the demo)."""
    late = _fb([("g1", "2026-11-16 09:00", "S1", "store_visit", 1, "awful", "C9")])
    ws.ingest("feedback", late)
    far_later = NOW + timedelta(days=300)
    run = al.run_alerts(ops, ws, FEEDBACK_RULES, now=far_later, send=False)
    assert run.evaluated == len(FEEDBACK)  # 2026-11-19, within two days of the last answer
    assert run.fired > 0
    again = al.run_alerts(ops, ws, FEEDBACK_RULES, now=far_later, send=False)
    assert again.fired == 0  # the cursor now holds


def test_severity_routing_to_teams_and_automatic_cases(ws: Workspace, ops: OpsStore) -> None:
    """Default rules: a 0-2 detractor and a refund request are high priority and open a case for
    the store's team on their own (the default routing's ``open_cases: high``); a 3-4 detractor is
    a normal alert without a case; nothing goes to one central team."""
    run = al.run_alerts(ops, ws, now=NOW, since=datetime(2026, 11, 1), send=False)
    alerts = {(a.rule_id, a.feedback_id): a for a in al.list_alerts(ops)}
    f5 = alerts[("detractor", "f5")]  # NPS 2 at S3's delivery
    assert (f5.priority, f5.owner, f5.detail["severity"]) == ("high", "store:S3", "severe")
    f1 = alerts[("detractor", "f1")]  # NPS 3
    assert (f1.priority, f1.owner, f1.case_id) == ("normal", "store:S1", None)
    assert f5.case_id is not None
    refunds = [a for (rule, _), a in alerts.items() if rule == "refund"]
    assert len(refunds) == 5
    assert all(a.case_id is not None and a.priority == "high" for a in refunds)
    assert run.cases_opened == 6
    cases = {c.case_id: c for c in case_list(ops)}
    assert cases[f5.case_id].assignee == "store:S3"
    assert {a.owner for a in alerts.values()} == {"store:S1", "store:S2", "store:S3"}
    vol = run.volume()
    assert vol["alerts"].sum() == run.fired
    assert vol.set_index("owner").loc["store:S2", "cases"] == 3
    quiet = Routing.model_validate({"default": {"owner": "cx", "open_cases": None}})
    other = al.run_alerts(ops, ws, now=NOW, since=datetime(2026, 11, 1), routing=quiet, send=False)
    assert other.cases_opened == 0  # everything was already recorded: dedup once, ever


def test_a_severe_metric_drop_is_high_priority(workspace: Workspace, ops: OpsStore) -> None:
    rng = np.random.default_rng(8)
    workspace.ingest("stores", STORES)
    workspace.ingest("feedback", _daily(rng, 28, {"S1": 0.8, "S2": 0.8, "S3": 0.8}, {"S1": 0.2, "S2": 0.62}))
    rule = al.MetricDropRule(id="csat-drop", kind="metric_drop", metric="csat", min_drop=5, severe_drop=30)
    al.run_alerts(ops, workspace, al.RuleSet((rule,)), now=NOW, send=False)
    got = {a.store_id: a.priority for a in al.list_alerts(ops)}
    assert got == {"S1": "high", "S2": "normal"}


def test_concurrent_runs_record_each_alert_and_open_each_case_once(ws: Workspace, ops: OpsStore) -> None:
    """The server's job and a CLI run at the same moment: one alert per subject, one case each."""
    from concurrent.futures import ThreadPoolExecutor

    def one(_: int) -> al.AlertRun:
        return al.run_alerts(ops, ws, now=NOW, since=datetime(2026, 11, 1), send=False)

    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(one, range(4)))
    alerts = al.list_alerts(ops)
    assert sum(r.fired for r in runs) == len(alerts) == len({a.dedup_key for a in alerts})
    cases = case_list(ops)
    assert len(cases) == len({c.alert_id for c in cases}) == sum(a.case_id is not None for a in alerts)


def test_digest_batches_normal_alerts_and_sends_high_ones_at_once(
    ws: Workspace, ops: OpsStore, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    routing = Routing.model_validate(
        {"default": {"owner": "cx", "webhook": url, "digest": "1d", "immediate": "high"}, "teams": []}
    )
    run = al.run_alerts(ops, ws, routing=routing, now=NOW, since=datetime(2026, 11, 1))
    singles = [m for m in received if m["type"] == "alert"]
    digests = [m for m in received if m["type"] == "alert.digest"]
    assert {m["priority"] for m in singles} == {"high"}
    assert len(singles) == 6  # the severe detractor and five refund requests
    [digest] = digests
    assert digest["count"] == 1  # the NPS-3 detractor
    assert digest["alerts"][0]["title"].startswith("Detractor: NPS 3")
    assert run.digests == 1
    assert run.delivered == 7
    late = _fb([("h1", "2026-11-20 09:00", "S2", "store_visit", 4, "meh", "C10")])
    ws.ingest("feedback", late)
    soon = al.run_alerts(ops, ws, routing=routing, now=NOW + timedelta(hours=2))
    assert soon.fired == 1
    assert soon.delivered == 0  # waits for the next digest
    assert len(received) == 7
    next_day = al.run_alerts(ops, ws, al.RuleSet(()), routing, now=NOW + timedelta(days=1, minutes=1))
    assert next_day.digests == 1
    assert received[-1]["type"] == "alert.digest"
    assert received[-1]["count"] == 1
    assert all(a.delivered_at is not None for a in al.list_alerts(ops))
