"""Copy completed responses and accepted events from the operational store to the analytics store.

The operational store is the outbox: a row is marked ``exported_at`` only after
``Workspace.ingest`` (the one validated write path into the analytics store) has committed it.
Ingest is idempotent by primary key, so a crash between the two steps re-sends rows harmlessly.
DuckDB allows one writing process per file, so one process (the web server, or
``cxlens collect sync``) owns the workspace and runs the :class:`Exporter`; any number of
processes can write the operational store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import select, update

from cxlens.collect.surveys import Survey, survey_from_dict
from cxlens.model.schema import get_table
from cxlens.ops import InboxEvent, OpsStore, Response, SurveyRecord, get_collect_settings, utcnow

if TYPE_CHECKING:
    from cxlens.storage.workspace import Workspace

log = logging.getLogger("cxlens.collect.outbox")
BATCH = 5000


def feedback_id(response_id: str) -> str:
    """The feedback-table id of a survey response."""
    return f"survey-{response_id}"


def feedback_rows(responses: list[Response], surveys: dict[str, Survey]) -> pd.DataFrame:
    """Completed responses as rows of the ``feedback`` table (survey, touchpoint, store, customer)."""
    columns = get_table("feedback").column_names
    records = []
    for r in responses:
        survey = surveys[r.survey_id]
        record: dict[str, Any] = {
            "feedback_id": feedback_id(r.response_id),
            "submitted_at": r.submitted_at or r.updated_at,
            "source": "survey",
            "customer_id": r.customer_id,
            "anonymous_id": r.anonymous_id if r.customer_id is None else None,
            "channel": r.channel or ("kiosk" if r.kiosk else None),
            "touchpoint": r.touchpoint,
            "store_id": r.store_id,
            "order_id": r.order_id,
            "survey_id": r.survey_id,
            "language": r.language,
            **survey.feedback_values(r.answers),
        }
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=list(columns))
    for col in ("nps", "csat", "ces", "rating"):
        frame[col] = frame[col].astype("Int64")
    for col in frame.columns:
        if col not in ("nps", "csat", "ces", "rating", "submitted_at"):
            frame[col] = frame[col].astype("object").where(frame[col].notna(), None)
    return frame


@dataclass
class Exported:
    """What one export pass moved: rows sent and rows the analytics store rejected."""

    feedback: int = 0
    events: int = 0
    rejected: int = 0


def close_abandoned(ops: OpsStore, hours: float | None = None) -> int:
    """Close partial responses idle for ``hours`` (status ``abandoned``) so their answers count."""
    hours = get_collect_settings().partial_timeout_hours if hours is None else hours
    cutoff = utcnow() - timedelta(hours=hours)
    with ops.session() as s:
        result = s.execute(
            update(Response)
            .where(Response.status == "partial", Response.updated_at < cutoff)
            .values(status="abandoned", submitted_at=Response.updated_at)
        )
    return int(getattr(result, "rowcount", 0) or 0)


def export_feedback(ops: OpsStore, ws: Workspace, limit: int = BATCH) -> Exported:
    """Ingest finished, not yet exported responses into ``feedback`` and mark them exported.

    Responses with no score and no text (every question skipped) are marked but not sent: the
    feedback table requires one of them.
    """
    close_abandoned(ops)
    with ops.sessions() as s:
        rows = list(
            s.scalars(
                select(Response)
                .where(Response.status.in_(("complete", "abandoned")), Response.exported_at.is_(None))
                .order_by(Response.submitted_at)
                .limit(limit)
            )
        )
        if not rows:
            return Exported()
        ids = {r.survey_id for r in rows}
        surveys = {
            rec.survey_id: survey_from_dict(rec.definition, rec.survey_id)
            for rec in s.scalars(select(SurveyRecord).where(SurveyRecord.survey_id.in_(ids)))
        }
    useful = [r for r in rows if surveys[r.survey_id].feedback_values(r.answers)]
    rejected = 0
    if useful:
        results = ws.ingest("feedback", feedback_rows(useful, surveys), policy="quarantine")
        rejected = sum(r.rows_rejected for r in results)
    _mark(ops, Response, Response.response_id, [r.response_id for r in rows])
    return Exported(feedback=len(rows), rejected=rejected)


def export_events(ops: OpsStore, ws: Workspace, limit: int = BATCH) -> Exported:
    """Ingest accepted, not yet exported events into ``events`` and mark them exported."""
    with ops.sessions() as s:
        rows = list(
            s.scalars(
                select(InboxEvent)
                .where(InboxEvent.exported_at.is_(None))
                .order_by(InboxEvent.received_at)
                .limit(limit)
            )
        )
    if not rows:
        return Exported()
    columns = list(get_table("events").column_names)
    frame = pd.DataFrame.from_records([r.payload for r in rows], columns=columns)
    frame = frame.astype("object").where(frame.notna(), None)
    results = ws.ingest("events", frame, policy="quarantine")
    _mark(ops, InboxEvent, InboxEvent.event_id, [r.event_id for r in rows])
    return Exported(events=len(rows), rejected=sum(r.rows_rejected for r in results))


def _mark(ops: OpsStore, model: Any, key: Any, ids: list[str]) -> None:
    now = utcnow()
    with ops.session() as s:
        for start in range(0, len(ids), 500):
            s.execute(update(model).where(key.in_(ids[start : start + 500])).values(exported_at=now))


def export_all(ops: OpsStore, ws: Workspace) -> Exported:
    """Export everything pending (in batches) and return the totals."""
    total = Exported()
    while True:
        fb, ev = export_feedback(ops, ws), export_events(ops, ws)
        total.feedback += fb.feedback
        total.events += ev.events
        total.rejected += fb.rejected + ev.rejected
        if fb.feedback < BATCH and ev.events < BATCH:
            return total


#: A periodic job that needs the analytics store (e.g. a trigger run): (every seconds, function).
Job = tuple[float, Callable[[], object]]


class Exporter:
    """A background thread that exports pending rows every ``interval`` seconds, and once at stop.

    It is the only thread of the server that uses the workspace's DuckDB connection, so periodic
    jobs that read the analytics store (``jobs``) run on it too.
    """

    def __init__(
        self,
        ops: OpsStore,
        ws: Workspace,
        interval: float = 1.0,
        on_error: Callable[[Exception], None] | None = None,
        jobs: list[Job] | None = None,
    ) -> None:
        self.ops, self.ws, self.interval = ops, ws, interval
        self.on_error = on_error
        self.jobs = list(jobs or [])
        self._next_run = [0.0] * len(self.jobs)
        self.totals = Exported()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def flush(self) -> Exported:
        """Export now (also called by the thread); errors are logged and retried next time."""
        with self._lock:
            try:
                done = export_all(self.ops, self.ws)
            except Exception as exc:  # the thread must survive a locked store or a full disk
                log.exception("export to the analytics store failed; retrying")
                if self.on_error:
                    self.on_error(exc)
                return Exported()
            self.totals.feedback += done.feedback
            self.totals.events += done.events
            self.totals.rejected += done.rejected
            return done

    def poke(self) -> None:
        """Ask for an export soon (after a response completes)."""
        self._wake.set()

    def run_jobs(self) -> None:
        """Run the periodic jobs that are due; a failing job is logged and tried again next time."""
        now = time.monotonic()
        for i, (every, job) in enumerate(self.jobs):
            if now < self._next_run[i]:
                continue
            self._next_run[i] = now + every
            try:
                job()
            except Exception:  # a job must not stop the exports
                log.exception("periodic job %r failed", job)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if not self._stop.is_set():
                self.flush()
                self.run_jobs()

    def start(self) -> Exporter:
        """Start the thread."""
        self._thread = threading.Thread(target=self._run, name="cxlens-exporter", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and export what is left."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()
