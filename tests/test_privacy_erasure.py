"""Per-customer erasure and access export.

One customer is planted everywhere a workspace can hold them: every data-model table with a
customer column, a record set aside by a load (``_rejects``), the text tables, the journey cache,
earlier snapshots (loads, compaction), and the operational store (invitation with their e-mail,
survey responses with a text they wrote, received events, alerts on their feedback, a case with a
note quoting them, audit entries). After ``erase_customer`` nothing of theirs is found in any
table of either store, in any Parquet file under the data directory (decoded), in the Iceberg
manifests (decoded) or in the raw bytes of any other file there (the SQLite stores included),
while every other customer's rows stay as they were.
"""

from __future__ import annotations

import datetime as dt
import json
import stat
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import DemoStore
from cxlens.act import cases
from cxlens.act.alerts import run_alerts
from cxlens.analyse.journey_cache import cached_states
from cxlens.cli.main import app as cli
from cxlens.collect.outbox import export_all
from cxlens.collect.responses import Collector, Context
from cxlens.collect.sources import create_source
from cxlens.collect.surveys import template
from cxlens.model.schema import TABLES
from cxlens.ops import OpsStore
from cxlens.ops.act_models import Case, CaseNote
from cxlens.ops.models import AuditEntry
from cxlens.privacy import erase_customer, export_customer, find_subject
from cxlens.privacy.subject import ERASURE, OPS_ERASURE, ops_tables, subject_tables
from cxlens.privacy.sweep import sweep_ops, sweep_store
from cxlens.storage.workspace import Workspace
from cxlens.text.store import enrich_feedback
from cxlens.web.app import create_app
from cxlens.web.settings import WebSettings

CID = "CX-ERASE-7f3a9c"
ANON = "ANON-ERASE-7f3a9c"
MAIL = "erase.me.7f3a9c@example.org"
TEXT = "The zanzibar velvet umbrella 7f3a9c broke twice and nobody ever called me back"
ANSWER = "Quokka shaped receipts 7f3a9c never arrive by e-mail, please fix this"
SECRETS = (CID, ANON, MAIL, TEXT[:40], ANSWER[:40])
WHEN = dt.datetime(2025, 12, 20, 10, 0)


def test_every_table_with_customer_data_has_an_erasure_policy() -> None:
    """A new data-model or operational table that can hold a person's data fails here until
    ``ERASURE``/``OPS_ERASURE`` says what erasure does to it (and stale entries fail too)."""
    assert set(subject_tables()) == set(ERASURE)
    assert set(ops_tables()) == set(OPS_ERASURE)
    # the derivation itself: a table gains a customer column -> it is found
    found = subject_tables()
    assert found["orders"].customer == ("customer_id",)
    assert found["orders"].anonymous == ("anonymous_id",)
    assert found["events"].text == ("properties",)
    assert "feedback" in found
    assert "text" in found["feedback"].text
    assert "stores" not in found
    assert "order_items" not in found  # lines of an order hold no personal data
    assert all(any(c.name == "customer_id" for c in TABLES[t].columns) for t in ERASURE)


def _plant(ws: Workspace) -> dict[str, Any]:
    """Rows of the customer in every data-model table that can hold them (two loads each, so
    earlier snapshots exist), and a record of theirs set aside by a load."""
    store, product = ws.query("SELECT store_id, (SELECT min(product_id) FROM products) FROM stores LIMIT 1")[
        0
    ]
    campaign, coupon = ws.query("SELECT campaign_id, coupon_id FROM coupons LIMIT 1")[0]
    frames = {
        "customers": [{"customer_id": CID, "created_at": WHEN, "email": MAIL, "home_store_id": store}],
        "identities": [{"anonymous_id": ANON, "customer_id": CID, "id_type": "cookie", "linked_at": WHEN}],
        "orders": [
            {
                "order_id": "O-ERASE-1",
                "customer_id": CID,
                "ordered_at": WHEN,
                "channel": "web",
                "total_amount": 12.5,
            },
            {
                "order_id": "O-ERASE-2",
                "anonymous_id": ANON,
                "ordered_at": WHEN,
                "channel": "web",
                "total_amount": 3.0,
            },
        ],
        "order_items": [
            {"order_id": "O-ERASE-1", "line_no": 1, "product_id": product, "quantity": 1, "unit_price": 12.5}
        ],
        "events": [
            {
                "event_id": "E-ERASE-1",
                "occurred_at": WHEN,
                "customer_id": CID,
                "channel": "web",
                "event_type": "product_view",
            },
            {
                "event_id": "E-ERASE-2",
                "occurred_at": WHEN,
                "anonymous_id": ANON,
                "channel": "web",
                "event_type": "add_to_cart",
            },
            {
                "event_id": "E-ERASE-3",
                "occurred_at": WHEN,
                "anonymous_id": "someone-new",
                "channel": "web",
                "event_type": "product_view",
                "properties": json.dumps({"newsletter": MAIL}),
            },
        ],
        "feedback": [
            {
                "feedback_id": "F-ERASE-1",
                "submitted_at": WHEN,
                "source": "review",
                "customer_id": CID,
                "store_id": store,
                "nps": 0,
                "text": TEXT,
            },
            {
                "feedback_id": "F-ERASE-2",
                "submitted_at": WHEN,
                "source": "survey",
                "anonymous_id": ANON,
                "csat": 2,
                "text": "meh",
            },
        ],
        "loyalty_members": [
            {"customer_id": CID, "member_id": "M-7f3a9c", "enrolled_at": WHEN, "tier": "gold"}
        ],
        "points_ledger": [
            {"entry_id": "P-ERASE-1", "customer_id": CID, "occurred_at": WHEN, "kind": "earn", "points": 10.0}
        ],
        "tier_history": [{"customer_id": CID, "changed_at": WHEN, "to_tier": "gold"}],
        "campaign_targets": [{"campaign_id": campaign, "customer_id": CID, "targeted_at": WHEN}],
        "coupon_redemptions": [
            {"campaign_id": campaign, "coupon_id": coupon, "customer_id": CID, "redeemed_at": WHEN}
        ],
    }
    for table, rows in frames.items():
        for i, row in enumerate(rows):  # one load per row: several files and snapshots
            result = ws.ingest(table, pd.DataFrame([row]))[0]
            assert result.rows_loaded == 1, (table, i, result)
    bad = pd.DataFrame(
        [
            {
                "feedback_id": "F-ERASE-BAD",
                "submitted_at": WHEN,
                "source": "survey",
                "customer_id": CID,
                "nps": 42,
            }
        ]
    )
    assert ws.ingest("feedback", bad, policy="quarantine")[0].rows_rejected == 1
    return {t: len(rows) for t, rows in frames.items()}


def _plant_ops(ws: Workspace, ops: OpsStore) -> None:
    """Invitation, responses, events, alerts, a case with a note, audit entries."""
    collector = Collector(ops, ws.journey_map)
    collector.save_survey(template("post_purchase"))
    survey = collector.survey("post_purchase")
    inv = collector.invite("post_purchase", Context(customer_id=CID), send_via="email", contact=MAIL)
    # the response itself names no one: it is theirs through the invitation's token
    step = collector.submit_json(survey, Context(), {"nps": 1, "improve": ANSWER}, token=inv.token)
    assert step.done, step.errors
    app = create_app(WebSettings(warm_cache=False), ws, ops=ops, export=False)
    key = create_source(ops, "web")
    with TestClient(app, headers={"X-Write-Key": key}) as client:
        r = client.post(
            "/api/v1/surveys/post_purchase/responses",
            json={"answers": {"nps": 3, "improve": "meh"}, "anonymous_id": ANON},
        )
        assert r.status_code == 201, r.text
        events = [
            {
                "event_id": "w1",
                "occurred_at": "2025-12-21T10:00:00Z",
                "customer_id": CID,
                "channel": "web",
                "event_type": "product_view",
            },
            {
                "event_id": "w2",
                "occurred_at": "2025-12-21T10:01:00Z",
                "anonymous_id": "anon-form",
                "channel": "web",
                "event_type": "product_view",
                "properties": {"email": MAIL},
            },
        ]
        assert client.post("/api/v1/events", json=events).status_code == 202
    exported = export_all(ops, ws)
    assert exported.feedback == 2
    assert exported.events == 2
    enrich_feedback(ws)
    alerts = run_alerts(
        ops, ws, send=False, since=WHEN - dt.timedelta(days=1), now=WHEN + dt.timedelta(days=2)
    )
    assert alerts.fired >= 2
    case = cases.open_case(ops, "Complaint by phone", customer_id=CID, actor="anna")
    cases.add_note(ops, case.case_id, f"Customer {CID} said: {TEXT}", actor="anna")


def _avro_bytes(path: Path) -> bytes:
    """The decompressed blocks of an Avro container file (Iceberg manifests use deflate)."""
    data = path.read_bytes()
    out = [data]

    def varint(pos: int) -> tuple[int, int]:
        shift = result = 0
        while True:
            b = data[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return (result >> 1) ^ -(result & 1), pos

    # header: magic, metadata map, 16-byte sync marker
    pos = 4
    while True:
        count, pos = varint(pos)
        if count == 0:
            break
        if count < 0:
            _, pos = varint(pos)
            count = -count
        for _ in range(count):
            for _ in range(2):
                n, pos = varint(pos)
                pos += n
    marker = data[pos : pos + 16]
    pos += 16
    while pos < len(data):
        _, pos = varint(pos)
        size, pos = varint(pos)
        block = data[pos : pos + size]
        pos += size
        try:
            out.append(zlib.decompress(block, -15))
        except zlib.error:
            out.append(block)
        assert data[pos : pos + 16] == marker
        pos += 16
    return b"".join(out)


def leftovers(root: Path, secrets: tuple[str, ...] = SECRETS) -> dict[str, list[str]]:
    """Every file under ``root`` holding one of ``secrets``: Parquet decoded (every column as
    text), Avro decompressed, anything else as raw bytes."""
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            blob = "\n".join(str(v) for col in table.columns for v in col.to_pylist()).encode()
        elif path.suffix == ".avro":
            blob = _avro_bytes(path)
        else:
            blob = path.read_bytes()
        hits = [s for s in secrets if s.encode() in blob or json.dumps(s)[1:-1].encode() in blob]
        if hits:
            found[str(path.relative_to(root))] = hits
    return found


def _counts(ws: Workspace) -> dict[str, int]:
    _, pointers = ws.store.pointers()
    return {name: ws.query(f'SELECT count(*) FROM "{name}"')[0][0] for name in pointers}


@pytest.mark.slow
def test_erasure_leaves_nothing_of_the_customer_anywhere(
    tmp_path: Path, demo_store: DemoStore, ops: OpsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXLENS_OPS_URL", ops.url)  # the CLI uses the same operational store
    ws = demo_store(tmp_path / "data", customers=300, seed=5)
    planted = _plant(ws)
    _plant_ops(ws, ops)
    cached_states(ws)  # the journey cache holds their events now
    ws.compact(force=True)
    assert (
        CliRunner()
        .invoke(
            cli, ["--data-dir", str(ws.data_dir), "privacy", "export", CID, "--out", str(tmp_path / "x.json")]
        )
        .exit_code
        == 0
    )
    (tmp_path / "x.json").unlink()

    # they are everywhere before
    before = leftovers(tmp_path)
    assert any(p.startswith("data/warehouse/model/feedback/") for p in before)
    assert any(p.startswith("data/warehouse/meta/rejects/") for p in before)
    assert any(p.startswith("data/cache/") for p in before)
    find = find_subject(ws, ops, CID)
    hits = sweep_store(ws, find)
    assert {
        "customers.customer_id",
        "events.properties",
        "_rejects.raw_record",
        "orders.anonymous_id",
    } <= set(hits.identifiers)
    in_ops = sweep_ops(ops, find)
    assert {
        "invitations.contact",
        "responses.answers",
        "event_inbox.payload",
        "case_notes.text",
        "audit_log.object_id",
    } <= set(in_ops.identifiers | in_ops.texts)
    counts_before = _counts(ws)
    document = export_customer(ws, ops, CID)

    receipt = erase_customer(ws, ops, CID, actor="dpo", reference="REQ-17")

    assert receipt.verified, receipt.to_dict()
    assert receipt.remaining == {}
    assert receipt.warnings == []
    assert receipt.analytics["orders"] == {"anonymised": 2}
    for table in (
        "customers",
        "identities",
        "loyalty_members",
        "points_ledger",
        "tier_history",
        "campaign_targets",
        "coupon_redemptions",
    ):
        assert receipt.analytics[table] == {"deleted": planted[table]}, table
    assert receipt.analytics["events"] == {"deleted": 5}  # 3 loaded + 2 received, one of them by e-mail only
    assert receipt.analytics["feedback"] == {"deleted": 4}  # 2 loaded + 2 survey responses
    assert receipt.analytics["_rejects"] == {"deleted": 1}
    assert receipt.analytics["feedback_text"]["deleted"] >= 3
    assert receipt.operational["responses"] == {"deleted": 2}
    assert receipt.operational["invitations"] == {"deleted": 1}
    assert receipt.operational["event_inbox"] == {"deleted": 2}
    assert receipt.operational["alerts"]["deleted"] >= 2
    assert receipt.operational["cases"]["anonymised"] >= 1
    assert receipt.operational["case_notes"] == {"deleted": 1}
    assert receipt.operational["audit_log"]["scrubbed"] >= 2
    assert receipt.files["earlier_versions_deleted"] > 0
    assert receipt.files["cache_files_deleted"] >= 1

    # nothing is left in any file under the data directory (or the SQLite operational store)
    assert leftovers(tmp_path) == {}
    if ops.dialect == "postgresql":
        dump = subprocess.run(
            [
                "pg_dump",
                "--data-only",
                ops.engine.url.render_as_string(hide_password=False).replace("+psycopg", ""),
            ],
            capture_output=True,
            check=True,
        ).stdout
        assert not [s for s in SECRETS if s.encode() in dump]
    assert not sweep_store(ws, find).identifiers
    assert not sweep_ops(ops, find)

    # everyone else's rows are untouched; orders keep their sales, cut from the person
    after = _counts(ws)
    for table, n in counts_before.items():
        gone = receipt.analytics.get(table, {}).get("deleted", 0)
        assert after[table] == n - gone, table
    assert ws.query("SELECT count(*), sum(total_amount) FROM orders WHERE order_id LIKE 'O-ERASE-%'")[0] == (
        2,
        15.5,
    )
    guests = ws.query("SELECT anonymous_id FROM orders WHERE order_id LIKE 'O-ERASE-%'")
    assert len({g for (g,) in guests}) == 2
    assert all(g.startswith("erased-") for (g,) in guests)
    assert ws.query("SELECT count(*) FROM order_items WHERE order_id = 'O-ERASE-1'")[0][0] == 1
    with ops.sessions() as s:
        kept = s.query(Case).filter(Case.title == "Case (customer data erased)").all()
        assert kept
        assert all(c.customer_id is None and c.feedback_id is None for c in kept)
        assert s.query(CaseNote).count() == 0
        entry = s.query(AuditEntry).filter_by(action="erase").one()
    assert entry.actor == "dpo"
    assert entry.object_id == receipt.erasure_id
    assert not [s for s in SECRETS if s in json.dumps(entry.detail)]
    assert entry.detail["receipt"]["reference"] == "REQ-17"

    # the export before held all of it; another erasure finds nothing more
    text = json.dumps(document)
    assert all(s in text for s in (CID, ANON, MAIL, TEXT, ANSWER))
    assert {"customers", "events", "feedback", "order_items", "_rejects", "feedback_text"} <= set(
        document["analytics"]
    )
    assert {"invitations", "responses", "event_inbox", "alerts", "cases", "case_notes"} <= set(
        document["operational"]
    )
    assert "token" not in document["operational"]["invitations"][0]
    again = erase_customer(ws, ops, CID)
    assert again.verified
    assert again.analytics == {}
    ws.close()


def test_export_and_erase_commands_and_the_admin_api(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ws = Workspace(data)
    ws.ingest(
        "customers",
        pd.DataFrame([{"customer_id": CID, "email": MAIL}, {"customer_id": "C2", "email": "c2@example.org"}]),
    )
    ws.ingest(
        "feedback",
        pd.DataFrame(
            [
                {
                    "feedback_id": "F1",
                    "submitted_at": WHEN,
                    "source": "review",
                    "customer_id": CID,
                    "text": TEXT,
                }
            ]
        ),
    )
    runner = CliRunner()
    target = tmp_path / "out" / "export.json"
    run = runner.invoke(cli, ["--data-dir", str(data), "privacy", "export", CID, "--out", str(target)])
    assert run.exit_code == 0, run.output
    assert "customers 1, feedback 1" in run.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    document = json.loads(target.read_text())
    assert document["format"] == "cxlens-customer-export"
    assert document["analytics"]["feedback"][0]["text"] == TEXT
    assert document["analytics"]["customers"][0]["email"] == MAIL
    refused = runner.invoke(cli, ["--data-dir", str(data), "privacy", "export", CID, "--out", str(target)])
    assert refused.exit_code == 1
    assert "--force" in refused.output
    nobody = runner.invoke(
        cli, ["--data-dir", str(data), "privacy", "export", "C404", "--out", str(tmp_path / "n.json")]
    )
    assert nobody.exit_code == 1
    assert "nothing is held" in nobody.output
    assert not (tmp_path / "n.json").exists()

    ops = OpsStore(data_dir=data)
    from cxlens.web.auth import create_api_key, create_user

    create_user(ops, "root", "password1", "admin")
    create_user(ops, "ana", "password1", "analyst")
    admin, analyst = create_api_key(ops, "root"), create_api_key(ops, "ana")
    app = create_app(WebSettings(warm_cache=False), ws, ops=ops, export=False)
    with TestClient(app) as client:
        assert (
            client.get(f"/api/v1/privacy/customers/{CID}", headers={"X-API-Key": analyst}).status_code == 403
        )
        assert (
            client.post(f"/api/v1/privacy/customers/{CID}/erase", headers={"X-API-Key": analyst}).status_code
            == 403
        )
        got = client.get(f"/api/v1/privacy/customers/{CID}", headers={"X-API-Key": admin})
        assert got.status_code == 200
        assert got.json()["analytics"]["feedback"][0]["text"] == TEXT
        assert client.get("/api/v1/privacy/customers/C404", headers={"X-API-Key": admin}).status_code == 404
        erased = client.post(
            f"/api/v1/privacy/customers/{CID}/erase", headers={"X-API-Key": admin}, json={"reference": "T-9"}
        )
        assert erased.status_code == 200, erased.text
        receipt = erased.json()
        assert receipt["verified"], json.dumps(receipt)
        assert receipt["actor"] == "root"
        assert receipt["analytics"] == {"customers": {"deleted": 1}, "feedback": {"deleted": 1}}
        assert CID not in erased.text
        listed = client.get("/api/v1/privacy/erasures", headers={"X-API-Key": admin}).json()
        assert [r["erasure_id"] for r in listed] == [receipt["erasure_id"]]
    assert ws.counts()["customers"] == 1
    run = runner.invoke(
        cli, ["--data-dir", str(data), "privacy", "erase", "C2", "--yes", "--reference", "T-10"]
    )
    assert run.exit_code == 0, run.output
    assert "verified: nothing of the customer is left" in run.output
    assert ws.counts()["customers"] == 0
    listed = runner.invoke(cli, ["--data-dir", str(data), "privacy", "erasures", "-o", "json"])
    assert [r["reference"] for r in json.loads(listed.output)] == ["T-10", "T-9"]
    ops.close()
    ws.close()
