"""Everything the workspace holds about one customer, as one JSON document (the right of access).

Layout (``format`` ``cxlens-customer-export``, ``format_version`` 1; documented in
docs/security.md)::

    {
      "format": "cxlens-customer-export", "format_version": 1,
      "customer_id": "...", "exported_at": "2025-01-31T12:00:00+00:00",
      "identifiers": {"anonymous_ids": [...], "contacts": [...]},
      "analytics": {"<table>": [{column: value, ...}, ...], ...},
      "operational": {"<table>": [{column: value, ...}, ...], ...}
    }

``analytics`` has one list per table of the table store holding rows of theirs: the data-model
tables (rows naming their id, one of their anonymous ids, or their e-mail address in a text), the
lines of their orders (``order_items``), derived tables about their feedback (``feedback_text``,
``feedback_aspects``) and records of theirs that a load set aside (``_rejects``). ``operational``
has their survey invitations and responses, received events, alerts on their feedback, and cases
and case notes about them. Tables without rows of theirs are left out; timestamps are ISO 8601
in UTC. Invitation tokens are left out (they let whoever holds them answer a survey).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cxlens.ops.act_models import Alert, Case, CaseNote
from cxlens.ops.models import InboxEvent, Invitation, Response
from cxlens.privacy.subject import (
    Subject,
    derived_tables,
    find_subject,
    ops_conditions,
    rejects_sql,
    rows_sql,
    subject_tables,
)
from cxlens.storage.store import qident

if TYPE_CHECKING:
    from cxlens.ops import OpsStore
    from cxlens.storage.workspace import Workspace

FORMAT, FORMAT_VERSION = "cxlens-customer-export", 1
#: Columns never exported: credentials, not data about the person.
_SECRET = {"token"}


def export_customer(ws: Workspace, ops: OpsStore, customer_id: str) -> dict[str, Any]:
    """The customer's data from both stores in the layout of the module docstring."""
    subject = find_subject(ws, ops, customer_id)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "customer_id": customer_id,
        "exported_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "identifiers": {
            "anonymous_ids": sorted(subject.anonymous_ids),
            "contacts": sorted(subject.contacts),
        },
        "analytics": _analytics(ws, subject),
        "operational": _operational(ops, subject),
    }


def holds_anything(document: dict[str, Any]) -> bool:
    """Whether an export found any data about the customer."""
    return bool(document["analytics"] or document["operational"])


def _analytics(ws: Workspace, subject: Subject) -> dict[str, list[dict[str, Any]]]:
    queries: dict[str, tuple[str, list[Any]]] = {
        name: (f"SELECT * FROM {qident(name)} WHERE {rows_sql(cols)}", [])
        for name, cols in subject_tables().items()
    }
    queries["order_items"] = (
        "SELECT * FROM order_items WHERE order_id IN (SELECT unnest(?::VARCHAR[]))",
        [sorted(subject.order_ids)],
    )
    for name, cols in derived_tables(ws).items():
        queries[name] = (f"SELECT * FROM {qident(name)} WHERE {rows_sql(cols)}", [])
    if ws.has_table("_rejects"):
        queries["_rejects"] = (f"SELECT * FROM _rejects WHERE {rejects_sql()}", [])
    out: dict[str, list[dict[str, Any]]] = {}
    with ws.staging() as con:
        for name, rel in subject.relations().items():
            con.register(name, rel)
        for name, (sql, params) in queries.items():
            cur = con.execute(sql, params)
            columns = [d[0] for d in cur.description]
            rows = [dict(zip(columns, map(_plain, r), strict=True)) for r in cur.fetchall()]
            if rows:
                out[name] = rows
    return out


def _operational(ops: OpsStore, subject: Subject) -> dict[str, list[dict[str, Any]]]:
    models = {
        "invitations": Invitation,
        "responses": Response,
        "event_inbox": InboxEvent,
        "alerts": Alert,
        "cases": Case,
        "case_notes": CaseNote,
    }
    out: dict[str, list[dict[str, Any]]] = {}
    with ops.sessions() as s:
        where = ops_conditions(s, subject)
        for name, model in models.items():
            columns = [c.name for c in model.__table__.columns if c.name not in _SECRET]
            rows = [
                {c: _plain(getattr(r, c)) for c in columns}
                for r in s.scalars(select(model).where(where[name]))
            ]
            if rows:
                out[name] = rows
    return out


def _plain(value: Any) -> Any:
    """A value fit for JSON: times as ISO text, NaN as null."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict | list | str | int | float | bool) or value is None:
        return value
    return json.loads(json.dumps(value, default=str))


def audit_export(ops: OpsStore, document: dict[str, Any], actor: str, where: str) -> dict[str, int]:
    """Record an access export in the audit log; return rows per table (empty: nothing held)."""
    counts = {
        name: len(rows) for part in ("analytics", "operational") for name, rows in document[part].items()
    }
    with ops.session() as s:
        ops.audit(s, "export", "customer", document["customer_id"], actor=actor, to=where, rows=counts)
    return counts


def write_export(
    ws: Workspace, ops: OpsStore, customer_id: str, path: Path, *, actor: str = "system"
) -> dict[str, int]:
    """Write the customer's export to ``path`` (mode 0600, replaced atomically) and audit it;
    return rows per table. Nothing is written when nothing is held about them."""
    document = export_customer(ws, ops, customer_id)
    if not holds_anything(document):
        return {}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, ensure_ascii=False, indent=1)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return audit_export(ops, document, actor, str(path))
