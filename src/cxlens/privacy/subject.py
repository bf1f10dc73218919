"""One customer across both stores: their identifiers, and which rows of every table are theirs.

A customer's data is found from their id: the anonymous ids linked to it (``identities``, and
invitations and responses that name both), their e-mail address (``customers.email``) and
invitation contacts, then every row naming one of these: in each data-model table with a column
tied to a person (``customer_id`` or a reference to ``customers``, ``anonymous_id``, free text or
JSON that may hold an e-mail address), in derived tables by their feedback ids, in ``_rejects``
by the raw record's values, and in the operational store by the conditions of
:func:`ops_conditions`.

The tables come from ``model/schema.py`` and the operational store's models: :data:`ERASURE`
and :data:`OPS_ERASURE` must name every table that can hold a person's data (a test fails
otherwise), so adding one forces a decision on what erasure does to it.
"""

from __future__ import annotations

import json
from collections.abc import Set
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlalchemy import Text, cast, false, or_, select

from cxlens.collect.outbox import feedback_id
from cxlens.model.schema import TABLES, ColumnType
from cxlens.ops.act_models import Alert, Case, CaseNote
from cxlens.ops.models import AuditEntry, Base, InboxEvent, Invitation, Response
from cxlens.storage.store import DERIVED, qident

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from cxlens.model.schema import Table
    from cxlens.ops import OpsStore
    from cxlens.storage.workspace import Workspace

DELETE, ANONYMISE, SCRUB, KEEP = "delete", "anonymise", "scrub", "keep"

#: What erasure does to a customer's rows in each data-model table that can hold them. Orders are
#: kept for the retailer's sales figures (and its legal duty to keep sales records) but cut from
#: the person: no customer id, and each order its own random guest id, so they cannot be linked
#: to each other again. Their lines (``order_items``) hold no personal data and stay.
ERASURE: dict[str, str] = {
    "customers": DELETE,
    "identities": DELETE,
    "orders": ANONYMISE,
    "events": DELETE,
    "feedback": DELETE,
    "loyalty_members": DELETE,
    "points_ledger": DELETE,
    "tier_history": DELETE,
    "campaign_targets": DELETE,
    "coupon_redemptions": DELETE,
}
#: The columns anonymisation changes (DuckDB expressions; ``uuid()`` is drawn for every row).
ANONYMISED: dict[str, dict[str, str]] = {
    "orders": {"customer_id": "NULL", "anonymous_id": "'erased-' || replace(uuid()::VARCHAR, '-', '')"},
}

#: What erasure does in each table of the operational store. ``keep``: no customer data
#: (definitions, staff accounts, rate-limit counters keyed by network address, settings).
OPS_ERASURE: dict[str, str] = {
    "surveys": KEEP,
    "invitations": DELETE,
    "responses": DELETE,
    "event_inbox": DELETE,
    "event_sources": KEEP,
    "settings": KEEP,
    "rate_buckets": KEEP,
    "audit_log": SCRUB,
    "alerts": DELETE,
    "cases": ANONYMISE,
    "case_notes": DELETE,
    "action_plans": KEEP,
    "act_cursors": KEEP,
    "act_config": KEEP,
    "users": KEEP,
    "api_keys": KEEP,
    "login_throttle": KEEP,
}
#: Texts shorter than this are not searched for by the sweep (too likely to be someone else's).
MIN_TEXT_PROBE = 20
#: How much of each text the sweep searches for (excerpts keep the start of a text).
TEXT_PROBE = 60

_CUSTOMERS, _ANONYMOUS, _CONTACTS, _FEEDBACK = (
    "__subject_customers",
    "__subject_anonymous",
    "__subject_contacts",
    "__subject_feedback",
)


@dataclass(frozen=True)
class PersonalColumns:
    """The columns of one table that tie a row to a person."""

    customer: tuple[str, ...] = ()
    anonymous: tuple[str, ...] = ()
    #: Free text and JSON, searched for the customer's e-mail addresses and contacts.
    text: tuple[str, ...] = ()
    #: Feedback ids (their survey responses' rows, and rows derived from their feedback).
    feedback: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.customer or self.anonymous or self.text or self.feedback)


def personal_columns(spec: Table) -> PersonalColumns:
    """Which columns of a data-model (or derived) table tie its rows to a person."""
    cols = spec.columns
    return PersonalColumns(
        customer=tuple(c.name for c in cols if c.name == "customer_id" or c.references == "customers"),
        anonymous=tuple(c.name for c in cols if c.name == "anonymous_id"),
        text=tuple(c.name for c in cols if c.pii or c.type == ColumnType.JSON),
        feedback=tuple(c.name for c in cols if c.name == "feedback_id"),
    )


def subject_tables() -> dict[str, PersonalColumns]:
    """Data-model tables that can hold a person's rows, with the columns that say so."""
    return {name: cols for name, spec in TABLES.items() if (cols := personal_columns(spec))}


def ops_tables() -> list[str]:
    """Every table of the operational store (all model modules imported)."""
    import cxlens.ops.act_models
    import cxlens.ops.auth_models  # noqa: F401

    return sorted(Base.metadata.tables)


@dataclass
class Subject:
    """Everything that identifies one customer in the stores, gathered by :func:`find_subject`."""

    customer_id: str
    anonymous_ids: set[str] = field(default_factory=set)
    #: E-mail addresses and other contacts (an invitation's phone number).
    contacts: set[str] = field(default_factory=set)
    feedback_ids: set[str] = field(default_factory=set)
    order_ids: set[str] = field(default_factory=set)
    response_ids: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)
    #: Free text they wrote (feedback, survey answers).
    texts: list[str] = field(default_factory=list)

    @property
    def identifiers(self) -> set[str]:
        """Values that name the customer wherever they appear: ids and contacts."""
        return {self.customer_id, *self.anonymous_ids, *self.contacts}

    def text_probes(self) -> set[str]:
        """The start of each text they wrote that is long enough to be theirs alone."""
        return {t.strip()[:TEXT_PROBE] for t in self.texts if len(t.strip()) >= MIN_TEXT_PROBE}

    def relations(self) -> dict[str, pa.Table]:
        """Arrow tables (one column ``k``) for the DuckDB conditions of :func:`rows_sql`."""

        def rel(values: set[str]) -> pa.Table:
            return pa.table({"k": pa.array(sorted(values), pa.string())})

        return {
            _CUSTOMERS: rel({self.customer_id}),
            _ANONYMOUS: rel(self.anonymous_ids),
            _CONTACTS: rel(self.contacts),
            _FEEDBACK: rel(self.feedback_ids),
        }

    def found(self) -> bool:
        """Whether anything at all was found besides the id itself."""
        return bool(self.anonymous_ids or self.contacts or self.feedback_ids or self.order_ids or self.tokens)


def rows_sql(cols: PersonalColumns) -> str:
    """DuckDB condition selecting the subject's rows of a table (relations of
    :meth:`Subject.relations` registered)."""
    parts = [f"{qident(c)} IN (SELECT k FROM {_CUSTOMERS})" for c in cols.customer]
    parts += [f"{qident(c)} IN (SELECT k FROM {_ANONYMOUS})" for c in cols.anonymous]
    parts += [f"{qident(c)} IN (SELECT k FROM {_FEEDBACK})" for c in cols.feedback]
    parts += [f"EXISTS (SELECT 1 FROM {_CONTACTS} n WHERE contains({qident(c)}, n.k))" for c in cols.text]
    return "(" + " OR ".join(parts or ["false"]) + ")"


def rejects_sql() -> str:
    """DuckDB condition selecting ``_rejects`` lines of the subject: a top-level value of the raw
    record (the record as read, JSON) is one of their ids or feedback ids, or the record or the
    reason holds one of their contacts."""
    values = f"(SELECT list(k) FROM (SELECT k FROM {_CUSTOMERS} UNION ALL SELECT k FROM {_ANONYMOUS} " + (
        f"UNION ALL SELECT k FROM {_CONTACTS} UNION ALL SELECT k FROM {_FEEDBACK}))"
    )
    record = (
        "CASE WHEN json_valid(raw_record) THEN "
        f"list_has_any(json_extract_string(raw_record, '$.*'), {values}) ELSE false END"
    )
    contact = f"EXISTS (SELECT 1 FROM {_CONTACTS} n WHERE contains(coalesce(raw_record, '') || reason, n.k))"
    return f"({record} OR {contact})"


def derived_tables(ws: Workspace) -> dict[str, PersonalColumns]:
    """Derived tables of the store (text analytics, ...) with columns tying rows to a person."""
    from cxlens.model.schema import Column, Table

    out = {}
    _, pointers = ws.store.pointers()
    for name in sorted(pointers):
        if name.startswith("_") or name in TABLES:
            continue
        table = ws.store.state(name, pointers[name]).table
        if table.name()[-2] != DERIVED:
            continue
        spec = Table(
            name, "", tuple(Column(f.name, ColumnType.STRING, "") for f in table.schema().fields), ()
        )
        if cols := personal_columns(spec):
            out[name] = PersonalColumns(cols.customer, cols.anonymous, (), cols.feedback)
    return out


# -- finding the subject -----------------------------------------------------------------------------


def find_subject(ws: Workspace, ops: OpsStore, customer_id: str) -> Subject:
    """Gather the customer's identifiers from both stores (see the module docstring)."""
    subject = Subject(customer_id)
    with ws.staging() as con:
        for (anon,) in con.execute(
            "SELECT DISTINCT anonymous_id FROM identities WHERE customer_id = ?", [customer_id]
        ).fetchall():
            subject.anonymous_ids.add(anon)
        for (mail,) in con.execute(
            "SELECT DISTINCT email FROM customers WHERE customer_id = ? AND email IS NOT NULL", [customer_id]
        ).fetchall():
            subject.contacts.add(mail)
    _find_in_ops(ops, subject)
    subject.feedback_ids.update(feedback_id(r) for r in subject.response_ids)
    tables = subject_tables()
    with ws.staging() as con:
        for name, rel in subject.relations().items():
            con.register(name, rel)
        fb = con.execute(
            f"SELECT feedback_id, text FROM feedback WHERE {rows_sql(tables['feedback'])}"
        ).fetchall()
        for fid, text in fb:
            subject.feedback_ids.add(fid)
            if text:
                subject.texts.append(text)
        orders = con.execute(f"SELECT order_id FROM orders WHERE {rows_sql(tables['orders'])}").fetchall()
        subject.order_ids.update(o for (o,) in orders)
    return subject


def _find_in_ops(ops: OpsStore, subject: Subject) -> None:
    """Invitations and responses naming the customer (or one of their anonymous ids) add their
    anonymous ids, contacts, tokens, response ids and answers."""
    with ops.sessions() as s:
        invitations = s.scalars(select(Invitation).where(_invitation_rows(subject))).all()
        for inv in invitations:
            subject.tokens.add(inv.token)
            if inv.anonymous_id:
                subject.anonymous_ids.add(inv.anonymous_id)
            if inv.contact:
                subject.contacts.add(inv.contact)
        for resp in s.scalars(select(Response).where(_response_rows(subject))).all():
            subject.response_ids.add(resp.response_id)
            if resp.anonymous_id:
                subject.anonymous_ids.add(resp.anonymous_id)
            subject.texts.extend(_strings(resp.answers))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _strings(v)]
    if isinstance(value, list):
        return [t for v in value for t in _strings(v)]
    return []


def _invitation_rows(subject: Subject) -> Any:
    return or_(
        Invitation.customer_id == subject.customer_id,
        Invitation.anonymous_id.in_(subject.anonymous_ids),
        Invitation.contact.in_(subject.contacts),
        Invitation.token.in_(subject.tokens),
    )


def _response_rows(subject: Subject) -> Any:
    return or_(
        Response.customer_id == subject.customer_id,
        Response.anonymous_id.in_(subject.anonymous_ids),
        Response.token.in_(subject.tokens),
        Response.response_id.in_(subject.response_ids),
    )


def json_text(value: str) -> str:
    """``value`` as it appears inside a JSON document stored by SQLAlchemy (ASCII-escaped)."""
    return json.dumps(value)[1:-1]


def _json_contains(
    column: Any, ids: set[str], contacts: Set[str] = frozenset(), texts: Set[str] = frozenset()
) -> Any:
    """The JSON column's text holds one of ``ids`` as a whole JSON string, or one of ``contacts``
    or ``texts`` anywhere."""
    text = cast(column, Text)
    return or_(
        false(),
        *(text.contains(f'"{json_text(v)}"', autoescape=True) for v in ids),
        *(text.contains(json_text(v), autoescape=True) for v in contacts | texts),
    )


def ops_conditions(s: Session, subject: Subject) -> dict[str, Any]:
    """Per operational table (by name), the SQLAlchemy condition selecting the subject's rows;
    the audit log's condition selects entries naming them or their rows (see :func:`audit_rows`)."""
    alerts = or_(
        Alert.feedback_id.in_(subject.feedback_ids),
        Alert.subject.in_(
            [f"customer_id={subject.customer_id}"] + [f"anonymous_id={a}" for a in subject.anonymous_ids]
        ),
        _json_contains(Alert.detail, {subject.customer_id, *subject.anonymous_ids}, subject.contacts),
    )
    alert_ids = set(s.scalars(select(Alert.alert_id).where(alerts)).all())
    cases = or_(
        Case.customer_id == subject.customer_id,
        Case.feedback_id.in_(subject.feedback_ids),
        Case.alert_id.in_(alert_ids),
    )
    case_ids = set(s.scalars(select(Case.case_id).where(cases)).all())
    inbox = or_(
        InboxEvent.payload["customer_id"].as_string() == subject.customer_id,
        InboxEvent.payload["anonymous_id"].as_string().in_(subject.anonymous_ids),
        _json_contains(InboxEvent.payload, set(), subject.contacts),
    )
    return {
        "invitations": _invitation_rows(subject),
        "responses": _response_rows(subject),
        "event_inbox": inbox,
        "alerts": Alert.alert_id.in_(alert_ids),
        "cases": Case.case_id.in_(case_ids),
        "case_notes": CaseNote.case_id.in_(case_ids),
        "audit_log": audit_rows(subject, alert_ids, case_ids),
    }


def audit_rows(subject: Subject, alert_ids: set[int], case_ids: set[int]) -> Any:
    """Audit entries about the subject: naming them or one of their responses, alerts or cases, or
    holding one of their identifiers or texts in the detail."""
    named = {subject.customer_id, *subject.anonymous_ids, *subject.response_ids, *subject.tokens}
    return or_(
        AuditEntry.object_id.in_(named | subject.contacts),
        (AuditEntry.object_type == "alert") & AuditEntry.object_id.in_([str(i) for i in alert_ids]),
        (AuditEntry.object_type == "case") & AuditEntry.object_id.in_([str(i) for i in case_ids]),
        _json_contains(AuditEntry.detail, named, subject.contacts, subject.text_probes()),
    )
