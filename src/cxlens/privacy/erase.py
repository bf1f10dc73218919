"""Erase one customer everywhere the workspace holds their data, and account for it in a receipt.

In order:

1. **Find** the customer across both stores (:func:`cxlens.privacy.subject.find_subject`).
2. **Operational store**, one transaction: responses, invitations, received events, alerts on
   their feedback and case notes deleted; cases kept for the workload figures but cut from the
   person (no customer, feedback or alert, title and resolution text cleared); audit entries
   naming them or their rows keep who did what and when, but their details are replaced by the
   erasure id. On SQLite the deleted content is overwritten (``secure_delete``) and the write-
   ahead log truncated. This goes first, so the exporter sends nothing more of theirs.
3. **Table store**, one commit over every table (:data:`ERASURE`; derived tables by feedback id;
   ``_rejects`` by the raw record's values): affected Parquet files are rewritten without their
   rows (or with orders anonymised), then every earlier snapshot of those tables is forgotten
   and the files only they used deleted at once (:meth:`Workspace.purge`): the erased rows are
   not left readable in old files for the usual hour of retention.
4. **Caches**: every file under ``<data_dir>/cache`` (journey states; recomputed on demand), this
   process's dashboard figures; other processes' figure caches are keyed by the data version,
   which the commit moved, so they never serve the old figures again. Generated demo sources
   under ``<data_dir>/demo`` holding the customer are deleted (regenerated when asked for).
5. **Verify**: both stores and every Parquet file under the data directory are searched
   (:mod:`cxlens.privacy.sweep`); rows that arrived meanwhile (an export running at the same
   time) are erased again.

The receipt counts what was removed where, holds no personal data (not even the customer id: the
erasure id links it to the request), and is written to the audit log.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
import sys
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Text, case, cast, delete, false, literal, or_, select, text, update

from cxlens.ops.act_models import Alert, Case, CaseNote
from cxlens.ops.models import AuditEntry, InboxEvent, Invitation, Response
from cxlens.privacy.subject import (
    ANONYMISE,
    ANONYMISED,
    DELETE,
    ERASURE,
    Subject,
    derived_tables,
    find_subject,
    json_text,
    ops_conditions,
    rejects_sql,
    rows_sql,
    subject_tables,
)
from cxlens.privacy.sweep import Hits, decoded_text, identifier_pattern, sweep_files, sweep_ops, sweep_store
from cxlens.storage.writes import RowChange

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from cxlens.ops import OpsStore
    from cxlens.storage.workspace import Workspace

log = logging.getLogger("cxlens.privacy")
#: Erasure passes over the table store before giving up on rows that keep arriving.
PASSES = 3
ACTION = "erase"
#: What a case keeps of its title once its customer is erased.
ERASED_TITLE = "Case (customer data erased)"


@dataclass
class Receipt:
    """What one erasure removed where (row and file counts only: no personal data)."""

    erasure_id: str
    at: str
    actor: str
    reference: str | None = None
    #: table -> {"deleted": n} or {"anonymised": n}, for the table store and the operational store.
    analytics: dict[str, dict[str, int]] = field(default_factory=dict)
    operational: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Files: rewritten, earlier versions deleted, cache and generated files deleted.
    files: dict[str, int] = field(default_factory=dict)
    #: Places still holding an identifier after the erasure ("table.column" -> rows): empty when
    #: verified; texts like theirs found elsewhere are counted apart (may be another person's).
    remaining: dict[str, int] = field(default_factory=dict)
    similar_texts: dict[str, int] = field(default_factory=dict)
    verified: bool = False
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The receipt as JSON-ready data."""
        return asdict(self)

    @property
    def rows(self) -> int:
        """Rows deleted or anonymised in both stores."""
        return sum(
            n for part in (self.analytics, self.operational) for d in part.values() for n in d.values()
        )


def _count(into: dict[str, dict[str, int]], table: str, what: str, n: int) -> None:
    if n:
        into.setdefault(table, {})
        into[table][what] = into[table].get(what, 0) + n


def erase_customer(
    ws: Workspace,
    ops: OpsStore,
    customer_id: str,
    *,
    actor: str = "system",
    reference: str | None = None,
    verify: bool = True,
) -> Receipt:
    """Erase the customer from both stores, caches and files (see the module docstring); the
    receipt is audited. ``reference`` names the request (a ticket number, no personal data)."""
    ws.check_writable("erasing a customer")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    receipt = Receipt(f"er-{uuid.uuid4().hex[:16]}", now.isoformat(), actor[:128], reference)
    subject = find_subject(ws, ops, customer_id)
    _erase_ops(ops, subject, receipt)
    for _ in range(PASSES):
        _erase_store(ws, subject, receipt)
        if not verify:
            break
        left = sweep_store(ws, subject)
        if not left.identifiers:
            break
        subject = _merge(subject, find_subject(ws, ops, customer_id))
    _clear_caches(ws, subject, receipt)
    if verify:
        _verify(ws, ops, subject, receipt)
    legacy = ws.data_dir / "cxlens.duckdb.migrated"
    if legacy.exists():
        receipt.warnings.append(
            f"{legacy.name} (the store before `cxlens store migrate`) is a full copy of earlier data and "
            "was not changed: delete it once the migration is accepted"
        )
    with ops.session() as s:
        ops.audit(s, ACTION, "customer", receipt.erasure_id, actor=actor, receipt=receipt.to_dict())
    return receipt


def _merge(a: Subject, b: Subject) -> Subject:
    for name in ("anonymous_ids", "contacts", "feedback_ids", "order_ids", "response_ids", "tokens"):
        getattr(a, name).update(getattr(b, name))
    a.texts.extend(t for t in b.texts if t not in a.texts)
    return a


# -- the operational store -------------------------------------------------------------------------


def _erase_ops(ops: OpsStore, subject: Subject, receipt: Receipt) -> None:
    """Step 2 of the module docstring, in one transaction."""
    sqlite = ops.dialect == "sqlite"
    with ops.session() as s:
        if sqlite:
            s.execute(text("PRAGMA secure_delete = ON"))
        where = ops_conditions(s, subject)
        named = {subject.customer_id, *subject.anonymous_ids, *subject.response_ids, *subject.tokens}
        named |= subject.contacts
        naming, mentioning = _audit_mentions(s, subject)
        scrubbed = s.execute(
            update(AuditEntry)
            .where(or_(where["audit_log"], AuditEntry.id.in_(naming | mentioning)))
            .values(
                detail={"erased": receipt.erasure_id},
                object_id=case(
                    (or_(AuditEntry.object_id.in_(named), AuditEntry.id.in_(naming)), literal("erased")),
                    else_=AuditEntry.object_id,
                ),
            )
            .execution_options(synchronize_session=False)
        )
        _count(receipt.operational, "audit_log", "scrubbed", _rowcount(scrubbed))
        cases = s.execute(
            update(Case)
            .where(where["cases"])
            .values(
                customer_id=None,
                feedback_id=None,
                alert_id=None,
                title=ERASED_TITLE,
                resolution=None,
                follow_up_notes=None,
            )
            .execution_options(synchronize_session=False)
        )
        _count(receipt.operational, "cases", "anonymised", _rowcount(cases))
        for name, model in (
            ("case_notes", CaseNote),
            ("alerts", Alert),
            ("responses", Response),
            ("invitations", Invitation),
            ("event_inbox", InboxEvent),
        ):
            done = s.execute(delete(model).where(where[name]).execution_options(synchronize_session=False))
            _count(receipt.operational, name, "deleted", _rowcount(done))
    if sqlite:
        _checkpoint(ops, receipt)


def _audit_mentions(s: Session, subject: Subject) -> tuple[set[int], set[int]]:
    """Audit entries whose object id (e.g. a request path) or detail (e.g. a query string) holds
    one of the customer's identifiers as a word, or a text of theirs: (naming, mentioning) ids.
    The database filters by substring, the identifiers are then confirmed as whole words."""
    pattern = identifier_pattern(subject.identifiers)
    ids = re.compile(pattern) if pattern else None
    probes = subject.text_probes()
    needles = {*subject.identifiers, *probes}
    needles |= {json_text(v) for v in needles}
    detail = cast(AuditEntry.detail, Text)
    found = s.execute(
        select(AuditEntry.id, AuditEntry.object_id, detail).where(
            or_(
                false(),
                *(AuditEntry.object_id.contains(n, autoescape=True) for n in needles),
                *(detail.contains(n, autoescape=True) for n in needles),
            )
        )
    ).all()
    naming = {i for i, oid, _ in found if ids is not None and oid and ids.search(oid)}
    mentioning = set()
    for i, _, value in found:
        decoded = decoded_text(value)
        if (ids is not None and ids.search(decoded)) or any(p in decoded for p in probes):
            mentioning.add(i)
    return naming, mentioning


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _checkpoint(ops: OpsStore, receipt: Receipt) -> None:
    """Copy SQLite's write-ahead log into the database and empty it, so no page image from before
    the erasure stays in the ``-wal`` file."""
    with ops.engine.connect() as con:
        busy = con.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy is not None and busy[0]:
        receipt.warnings.append(
            "the operational store's write-ahead log could not be emptied while other connections "
            "were reading; SQLite empties it at its next checkpoint"
        )


# -- the table store ---------------------------------------------------------------------------------


def _erase_store(ws: Workspace, subject: Subject, receipt: Receipt) -> None:
    """Step 3 of the module docstring: one commit, then the purge of earlier snapshots."""
    changes: dict[str, RowChange] = {}
    policy: dict[str, str] = {}
    for name, cols in subject_tables().items():
        policy[name] = ERASURE.get(name, DELETE)
        updates = ANONYMISED[name] if policy[name] == ANONYMISE else None
        changes[name] = RowChange(rows_sql(cols), updates)
    for name, cols in derived_tables(ws).items():
        policy[name] = DELETE
        changes[name] = RowChange(rows_sql(cols))
    if ws.has_table("_rejects"):
        policy["_rejects"] = DELETE
        changes["_rejects"] = RowChange(rejects_sql())
    _, matched, replaced = ws.change_rows(changes, ACTION, subject.relations())
    for name, n in matched.items():
        _count(receipt.analytics, name, "anonymised" if policy[name] == ANONYMISE else "deleted", n)
    receipt.files["rewritten"] = receipt.files.get("rewritten", 0) + len(replaced)
    purged = sum(ws.purge(name) for name in changes)
    receipt.files["earlier_versions_deleted"] = receipt.files.get("earlier_versions_deleted", 0) + purged


# -- caches, generated files, verification -----------------------------------------------------------


def _clear_caches(ws: Workspace, subject: Subject, receipt: Receipt) -> None:
    """Step 4 of the module docstring."""
    cache = ws.data_dir / "cache"
    files = [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
    for path in files:
        path.unlink(missing_ok=True)
    receipt.files["cache_files_deleted"] = len(files)
    figures = sys.modules.get("cxlens.web.figures")
    if figures is not None:
        figures.CACHE.clear()
    demo = ws.data_dir / "demo"
    generated = 0
    for path in sweep_files(ws, subject):
        if demo in path.parents:
            folder = demo / path.relative_to(demo).parts[0]
            if folder.exists():
                generated += sum(1 for p in folder.rglob("*.parquet"))
                shutil.rmtree(folder)
    receipt.files["generated_files_deleted"] = generated


def _verify(ws: Workspace, ops: OpsStore, subject: Subject, receipt: Receipt) -> None:
    """Step 5 of the module docstring: fill ``remaining``, ``similar_texts`` and the warnings."""
    hits = Hits()
    hits.add(sweep_store(ws, subject))
    hits.add(sweep_ops(ops, subject))
    pending = sweep_files(ws, subject)
    for path in pending:
        hits.identifiers[f"file {_relative(path, ws)}"] = pending[path]
    receipt.remaining = hits.identifiers
    receipt.similar_texts = hits.texts
    receipt.verified = not hits.identifiers
    if pending:
        receipt.warnings.append(
            f"{len(pending)} Parquet files not (yet) in the store hold the customer's data: files of a "
            "load still running (erase again after it) or of a killed one (`cxlens store expire` deletes "
            "them after an hour)"
        )
    elif hits.identifiers:
        receipt.warnings.append("identifiers are still found after the erasure: see `remaining`")


def _relative(path: Path, ws: Workspace) -> str:
    for root in (ws.data_dir, ws.warehouse):
        if root in path.parents:
            return str(path.relative_to(root))
    return path.name


def erasures(ops: OpsStore, limit: int = 100) -> list[dict[str, Any]]:
    """The latest erasure receipts (newest first), from the audit log."""
    with ops.sessions() as s:
        rows = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == ACTION, AuditEntry.object_type == "customer")
            .order_by(AuditEntry.id.desc())
            .limit(limit)
        ).all()
    return [dict(r.detail.get("receipt", {})) for r in rows]
