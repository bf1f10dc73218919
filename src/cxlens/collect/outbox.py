"""Copy completed responses and accepted events from the operational store to the analytics store.

The operational store is the outbox: a row is marked ``exported_at`` only after
``Workspace.ingest`` (the one validated write path into the analytics store) has committed it.
Ingest is idempotent by primary key, so a crash between the two steps re-sends rows harmlessly.
One thread exports (the web server's :class:`Exporter`, in the worker holding the jobs lease,
or ``cxlens collect sync``), in batches, so the table store gets a few commits rather than one
per answer; any number of processes can write the operational store.

No row can block the others: a row that cannot be stored (invalid text that slipped past the
door, a survey that no longer exists, a store id the stores table does not know) is *held* with
a reason (``export_hold``, ``export_error``) and the batch goes on; a batch that fails for a
reason the checks did not foresee is split until the failing rows are found and held. Failures
of the store itself (catalogue out of reach, disk full) hold nothing: the batch is tried again
next pass. Held rows are listed by ``cxlens collect status`` and released by
``cxlens collect retry``; rows held for an unknown store are retried by themselves when the
stores table changes.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
from sqlalchemy import ARRAY, Text, any_, bindparam, cast, func, select, update

from cxlens.collect.inputs import printable, suspect, unstorable
from cxlens.collect.surveys import Survey, survey_from_dict
from cxlens.model.schema import get_table
from cxlens.ops import InboxEvent, OpsStore, Response, SurveyRecord, get_collect_settings, utcnow

if TYPE_CHECKING:
    from cxlens.storage.workspace import Workspace

log = logging.getLogger("cxlens.collect.outbox")
BATCH = 5000
#: Events exported in one pass at most: the analytics store's commit costs the same for 5,000
#: rows as for 50,000, so larger passes cost less per event.
EVENTS_BATCH = 50_000
#: Ids marked exported by one statement at most.
MARK_CHUNK = 10_000
#: In a stored payload's JSON text, what may decode to text the analytics store cannot hold (a
#: NUL or lone-surrogate escape) or is not plain JSON (a raw control character or surrogate): a
#: payload with any of them is parsed and checked alone (an escaped backslash before ``u`` can
#: only send a good row the slow way, never let a bad one through).
_SUSPECT_JSON = re.compile(r"\\u(?:0000|[dD][89a-fA-F])|[\x00-\x09\x0b-\x1f\ud800-\udfff]")
#: Hold reasons: the store id is not in the stores table / the row cannot be stored as it is.
UNKNOWN_STORE, INVALID = "unknown_store", "invalid"
#: Rows waiting longer than this (seconds) make the health check fail and raise an alert.
LAG_ALERT_SECONDS = 60.0


def feedback_id(response_id: str) -> str:
    """The feedback-table id of a survey response."""
    return f"survey-{response_id}"


def feedback_rows(responses: Sequence[Any], surveys: dict[str, Survey]) -> pd.DataFrame:
    """Completed responses (rows with the columns of :class:`Response`) as rows of the
    ``feedback`` table (survey, touchpoint, store, customer)."""
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
    """What one export pass moved: rows sent, rows the analytics store rejected, rows held."""

    feedback: int = 0
    events: int = 0
    rejected: int = 0
    held: int = 0

    def add(self, other: Exported) -> None:
        """Add another pass's counts to these."""
        self.feedback += other.feedback
        self.events += other.events
        self.rejected += other.rejected
        self.held += other.held


#: Errors of the store or the machine, not of a row: never a reason to hold rows.
def _environmental() -> tuple[type[BaseException], ...]:
    from sqlalchemy.exc import DBAPIError

    from cxlens.storage.catalog import CommitConflictError
    from cxlens.storage.workspace import LegacyStoreError, StoreLockedError

    # the catalogue out of reach, a commit that kept losing races, a store still to migrate
    kinds: list[type[BaseException]] = [
        OSError,
        MemoryError,
        StoreLockedError,
        DBAPIError,
        CommitConflictError,
        LegacyStoreError,
    ]
    try:
        import duckdb

        kinds += [duckdb.IOException, duckdb.OutOfMemoryException, duckdb.InterruptException]
    except (ImportError, AttributeError):
        pass
    return tuple(kinds)


def record_problem(record: dict[str, Any]) -> str | None:
    """Why a row for the analytics store cannot be stored as it is (invalid text), or None."""
    if not suspect(record):
        return None
    todo: list[tuple[str, Any]] = list(record.items())
    while todo:
        key, value = todo.pop()
        if isinstance(value, str) and (problem := unstorable(value)):
            return f"{printable(key)}: {problem}"
        if isinstance(value, dict):
            todo.extend((f"{key}.{k}", v) for k, v in value.items())
            todo.extend((f"{key} key", k) for k in value)
        elif isinstance(value, list):
            todo.extend((f"{key}[{i}]", v) for i, v in enumerate(value))
    return None


class KnownStores:
    """The store ids of the analytics store's stores table, read again when a load commits;
    ``None`` when the table is empty (then every store id is accepted)."""

    def __init__(self) -> None:
        self._version: int | None = None
        self.ids: frozenset[str] | None = None
        self.changed = False

    def refresh(self, ws: Workspace) -> frozenset[str] | None:
        """The current ids (``changed`` says whether they differ from the last call's)."""
        version = ws.data_version()
        self.changed = False
        if version != self._version:
            ids = ws.table("stores").store_id.execute().dropna().astype(str)
            new = frozenset(ids) or None
            self.changed, self.ids, self._version = new != self.ids, new, version
        return self.ids


def _rows(frame: pd.DataFrame | pa.Table, start: int, stop: int) -> pd.DataFrame | pa.Table:
    """Rows ``start`` to ``stop`` of a data frame or an Arrow table."""
    if isinstance(frame, pa.Table):
        return frame.slice(start, stop - start)
    return frame.iloc[start:stop]


def _ingest_isolating(
    ws: Workspace, table: str, frame: pd.DataFrame | pa.Table, ids: Sequence[str]
) -> tuple[int, dict[str, str]]:
    """Ingest ``frame`` (quarantine policy), whose rows are the outbox rows ``ids``; if it fails
    for a row's sake, split it until the failing rows are found. Returns (rows rejected to
    _rejects, error by id of failing rows)."""
    try:
        results = ws.ingest(table, frame, policy="quarantine")
    except _environmental():
        raise
    except Exception as exc:
        if len(ids) == 1:
            return 0, {ids[0]: printable(f"{type(exc).__name__}: {exc}")[:2000]}
        mid = len(ids) // 2
        left, right = (
            _ingest_isolating(ws, table, _rows(frame, 0, mid), ids[:mid]),
            _ingest_isolating(ws, table, _rows(frame, mid, len(ids)), ids[mid:]),
        )
        return left[0] + right[0], {**left[1], **right[1]}
    return sum(r.rows_rejected for r in results), {}


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


def export_feedback(
    ops: OpsStore, ws: Workspace, limit: int = BATCH, stores: frozenset[str] | None = None
) -> Exported:
    """Ingest finished, not yet exported responses into ``feedback`` and mark them exported;
    hold the rows that cannot go (see the module's docstring).

    Responses with no score and no text (every question skipped) are marked but not sent: the
    feedback table requires one of them.
    """
    close_abandoned(ops)
    with ops.sessions() as s:  # rows of the columns, not ORM objects: a fifth of the export's CPU
        rows = s.execute(
            select(*Response.__table__.columns)
            .where(
                Response.status.in_(("complete", "abandoned")),
                Response.exported_at.is_(None),
                Response.export_hold.is_(None),
            )
            .order_by(Response.submitted_at)
            .limit(limit)
        ).all()
        if not rows:
            return Exported()
        ids = {r.survey_id for r in rows}
        surveys = {}
        for rec in s.scalars(select(SurveyRecord).where(SurveyRecord.survey_id.in_(ids))):
            try:
                surveys[rec.survey_id] = survey_from_dict(rec.definition, rec.survey_id)
            except Exception:  # a definition that no longer loads holds its responses, not all
                log.exception("survey %s cannot be read; its responses are held", rec.survey_id)
    held: dict[str, tuple[str, str]] = {}
    useful = []
    for r in rows:
        survey = surveys.get(r.survey_id)
        if survey is None:
            held[r.response_id] = (INVALID, f"survey {r.survey_id!r} is missing or cannot be read")
        elif (problem := record_problem({"answers": r.answers, **_context(r)})) is not None:
            held[r.response_id] = (INVALID, problem)
        elif stores is not None and r.store_id is not None and r.store_id not in stores:
            held[r.response_id] = (
                UNKNOWN_STORE,
                f"store {printable(r.store_id)!r} is not in the stores table",
            )
        elif survey.feedback_values(r.answers):
            useful.append(r)
    rejected = 0
    if useful:
        frame = feedback_rows(useful, surveys)
        rejected, failed = _ingest_isolating(ws, "feedback", frame, [r.response_id for r in useful])
        held.update({rid: (INVALID, error) for rid, error in failed.items()})
    _hold(ops, Response, Response.response_id, held)
    _mark(ops, Response, Response.response_id, [r.response_id for r in rows if r.response_id not in held])
    return Exported(feedback=len(rows) - len(held), rejected=rejected, held=len(held))


def _unknown(store: str) -> str:
    return f"store {printable(store)!r} is not in the stores table"


def _context(r: Any) -> dict[str, Any]:
    return {
        "store_id": r.store_id,
        "touchpoint": r.touchpoint,
        "channel": r.channel,
        "customer_id": r.customer_id,
        "anonymous_id": r.anonymous_id,
        "order_id": r.order_id,
        "language": r.language,
    }


def export_events(
    ops: OpsStore, ws: Workspace, limit: int = EVENTS_BATCH, stores: frozenset[str] | None = None
) -> Exported:
    """Ingest accepted, not yet exported events into ``events`` and mark them exported; hold the
    rows that cannot go."""
    with ops.sessions() as s:  # the payloads' JSON text, decoded below in one go
        rows = s.execute(
            select(InboxEvent.event_id, cast(InboxEvent.payload, Text))
            .where(InboxEvent.exported_at.is_(None), InboxEvent.export_hold.is_(None))
            .order_by(InboxEvent.received_at)
            .limit(limit)
        ).all()
    if not rows:
        return Exported()
    ids = [r[0] for r in rows]
    texts = [r[1] or "" for r in rows]
    parsed = _parse_payloads(texts)
    if parsed is None:  # some payload needs a closer look: each row parsed and checked alone
        held, good_ids, table = _check_payloads(ids, texts, stores)
    else:
        held, good_ids, table = _unknown_stores(ids, parsed, stores)
    rejected = 0
    if good_ids:
        rejected, failed = _ingest_isolating(ws, "events", table, good_ids)
        held.update({eid: (INVALID, error) for eid, error in failed.items()})
    _hold(ops, InboxEvent, InboxEvent.event_id, held)
    _mark(ops, InboxEvent, InboxEvent.event_id, [eid for eid in ids if eid not in held])
    return Exported(events=len(rows) - len(held), rejected=rejected, held=len(held))


def _event_schema() -> pa.Schema:
    """The ``events`` columns as the door stores them in a payload (timestamps as text)."""
    kinds = {"float": pa.float64(), "int": pa.int64()}
    return pa.schema([(c.name, kinds.get(c.type.value, pa.string())) for c in get_table("events").columns])


def _parse_payloads(texts: list[str]) -> pa.Table | None:
    """All payloads as one Arrow table (one C parse, no Python object per value), or None when
    one of them needs a closer look: suspect text, not one object per line, other fields or types
    than the door stores."""
    if not texts:
        return None
    joined = "\n".join(texts)
    if joined.count("\n") != len(texts) - 1 or _SUSPECT_JSON.search(joined):
        return None
    schema = _event_schema()
    options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")
    try:
        table = pa_json.read_json(io.BytesIO(joined.encode()), parse_options=options)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeEncodeError):
        return None
    if table.num_rows != len(texts):
        return None
    return table.select(schema.names)


def _unknown_stores(
    ids: list[str], table: pa.Table, stores: frozenset[str] | None
) -> tuple[dict[str, tuple[str, str]], list[str], pa.Table]:
    """Hold the events whose store the stores table does not know; (held, ids kept, their rows)."""
    held: dict[str, tuple[str, str]] = {}
    if stores is None:
        return held, ids, table
    column = table.column("store_id")
    known = pc.is_in(column, value_set=pa.array(sorted(stores), type=pa.string()))
    unknown = pc.and_(pc.is_valid(column), pc.invert(known))  # no store id: nothing to check
    if not pc.any(unknown).as_py():
        return held, ids, table
    flags = unknown.to_pylist()
    values = column.to_pylist()
    for eid, flag, store in zip(ids, flags, values, strict=True):
        if flag:
            held[eid] = (UNKNOWN_STORE, _unknown(str(store)))
    keep = [i for i, flag in enumerate(flags) if not flag]
    return held, [ids[i] for i in keep], table.take(pa.array(keep, type=pa.int64()))


def _check_payloads(
    ids: list[str], texts: list[str], stores: frozenset[str] | None
) -> tuple[dict[str, tuple[str, str]], list[str], pd.DataFrame]:
    """Each payload parsed and checked alone; (held, ids kept, their rows)."""
    held: dict[str, tuple[str, str]] = {}
    good: list[tuple[str, dict[str, Any]]] = []
    for eid, text in zip(ids, texts, strict=True):
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            held[eid] = (INVALID, "not a JSON object")
        elif (problem := record_problem(payload)) is not None:
            held[eid] = (INVALID, problem)
        elif (
            stores is not None and (store := payload.get("store_id")) is not None and str(store) not in stores
        ):
            held[eid] = (UNKNOWN_STORE, _unknown(str(store)))
        else:
            good.append((eid, payload))
    columns = list(get_table("events").column_names)
    frame = pd.DataFrame.from_records([p for _, p in good], columns=columns)
    frame = frame.astype("object").where(frame.notna(), None)
    return held, [eid for eid, _ in good], frame


def _mark(ops: OpsStore, model: Any, key: Any, ids: list[str]) -> None:
    """Mark rows exported."""
    if not ids:
        return
    table = model.__table__
    column = table.c[key.key]
    now = utcnow()
    with ops.session() as s:
        for start in range(0, len(ids), MARK_CHUNK):
            part = ids[start : start + MARK_CHUNK]
            s.execute(update(table).where(_among(ops, column, part)).values(exported_at=now))


def _among(ops: OpsStore, column: Any, ids: list[str]) -> Any:
    """``column IN ids`` with the ids as one bound value where the store allows (a JSON array on
    SQLite, an array on PostgreSQL): no statement text or parameter per id."""
    if ops.dialect == "sqlite":
        return column.in_(select(func.json_each(json.dumps(ids)).table_valued("value").c.value))
    if ops.dialect == "postgresql":
        return column == any_(bindparam("ids", ids, type_=ARRAY(Text)))
    return column.in_(ids)


def _hold(ops: OpsStore, model: Any, key: Any, held: dict[str, tuple[str, str]]) -> None:
    if not held:
        return
    with ops.session() as s:
        for row_id, (reason, error) in held.items():
            s.execute(update(model).where(key == row_id).values(export_hold=reason, export_error=error))
            ops.audit(s, "export.hold", model.__tablename__, row_id, reason=reason, error=error)
    log.warning("held %d row(s) of %s back from the analytics store", len(held), model.__tablename__)


def release(ops: OpsStore, reason: str | None = None) -> int:
    """Let held rows be exported again (all, or those held for ``reason``); the number released."""
    count = 0
    with ops.session() as s:
        for model in (Response, InboxEvent):
            where: list[Any] = [model.export_hold.is_not(None), model.exported_at.is_(None)]
            if reason is not None:
                where.append(model.export_hold == reason)
            result = s.execute(update(model).where(*where).values(export_hold=None, export_error=None))
            count += int(getattr(result, "rowcount", 0) or 0)
    return count


@dataclass
class Lag:
    """How far the export is behind: rows waiting, the oldest one's age, rows held back."""

    responses_waiting: int
    events_waiting: int
    oldest_seconds: float
    held: int

    @property
    def late(self) -> bool:
        """Rows have waited longer than :data:`LAG_ALERT_SECONDS`."""
        return self.oldest_seconds > LAG_ALERT_SECONDS


def export_lag(ops: OpsStore) -> Lag:
    """The export's lag, from the operational store alone (any process can ask)."""
    now = utcnow()
    with ops.sessions() as s:
        waiting = (
            Response.status.in_(("complete", "abandoned")),
            Response.exported_at.is_(None),
            Response.export_hold.is_(None),
        )
        n_resp, oldest_resp = s.execute(
            select(func.count(), func.min(func.coalesce(Response.submitted_at, Response.updated_at))).where(
                *waiting
            )
        ).one()
        n_ev, oldest_ev = s.execute(
            select(func.count(), func.min(InboxEvent.received_at)).where(
                InboxEvent.exported_at.is_(None), InboxEvent.export_hold.is_(None)
            )
        ).one()
        held = sum(
            int(s.scalar(select(func.count()).select_from(m).where(m.export_hold.is_not(None))) or 0)
            for m in (Response, InboxEvent)
        )
    times = [t for t in (oldest_resp, oldest_ev) if t is not None]
    age = max(0.0, (now - min(times)).total_seconds()) if times else 0.0
    return Lag(int(n_resp), int(n_ev), age, held)


def lag_alert(ops: OpsStore, lag: Lag, error: str | None = None) -> bool:
    """Record an ``export_lag`` alert (at most one per hour); True when a new one was made."""
    from sqlalchemy.exc import IntegrityError

    from cxlens.ops.act_models import Alert

    now = utcnow()
    title = (
        f"Feedback and events are not reaching the analytics store: {lag.responses_waiting:,} responses "
        f"and {lag.events_waiting:,} events waiting, the oldest for {lag.oldest_seconds / 60:.0f} min"
    )
    try:
        with ops.session() as s:
            s.add(
                Alert(
                    rule_id="export_lag",
                    kind="system",
                    subject="export",
                    priority="high",
                    title=title[:512],
                    detail={**lag.__dict__, "error": error},
                    dedup_key=f"export_lag:{now:%Y-%m-%dT%H}",
                    created_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


def export_all(ops: OpsStore, ws: Workspace, known: KnownStores | None = None) -> Exported:
    """Export everything pending (in batches) and return the totals."""
    known = known or KnownStores()
    stores = known.refresh(ws)
    if known.changed:
        release(ops, UNKNOWN_STORE)
    total = Exported()
    while True:
        fb, ev = export_feedback(ops, ws, stores=stores), export_events(ops, ws, stores=stores)
        total.add(fb)
        total.add(ev)
        if fb.feedback + fb.held < BATCH and ev.events + ev.held < EVENTS_BATCH:
            return total


#: A periodic job that needs the analytics store (e.g. a trigger run): (every seconds, function).
Job = tuple[float, Callable[[], object]]


class Exporter:
    """A background thread that exports pending rows every ``interval`` seconds, and once at stop.

    Periodic jobs that read the analytics store (``jobs``) run on it too. With several server
    processes, ``leader`` says whether this one is to do the work (see :mod:`cxlens.web.workers`).
    """

    def __init__(
        self,
        ops: OpsStore,
        ws: Workspace,
        interval: float = 1.0,
        on_error: Callable[[Exception], None] | None = None,
        jobs: list[Job] | None = None,
        leader: Callable[[], bool] | None = None,
    ) -> None:
        self.ops, self.ws, self.interval = ops, ws, interval
        #: With several server processes, only the one this says yes to exports and runs jobs.
        self.leader = leader
        self.on_error = on_error
        self.jobs = list(jobs or [])
        self._next_run = [0.0] * len(self.jobs)
        self.totals = Exported()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.known = KnownStores()
        #: The last failure of a whole pass (None after a pass succeeds), and how many in a row.
        self.last_error: str | None = None
        self.failures = 0
        self._lag_checked = 0.0
        self._lag_warned = 0.0

    def flush(self) -> Exported:
        """Export now (also called by the thread); errors are logged and retried next time (a
        traceback for the first failure in a row, then a line a minute)."""
        with self._lock:
            try:
                done = export_all(self.ops, self.ws, self.known)
            except Exception as exc:  # the thread must survive a locked store or a full disk
                self.failures += 1
                self.last_error = printable(f"{type(exc).__name__}: {exc}")[:500]
                if self.failures == 1:
                    log.exception("export to the analytics store failed; retrying")
                elif self.failures % max(1, int(60 / max(self.interval, 0.01))) == 0:
                    log.error("export still failing (%d passes): %s", self.failures, self.last_error)
                if self.on_error:
                    self.on_error(exc)
                return Exported()
            self.failures, self.last_error = 0, None
            self.totals.add(done)
            return done

    def check_lag(self, every: float = 10.0) -> Lag | None:
        """Every ``every`` seconds: measure the lag; when rows have waited longer than a minute,
        log a warning (at most every 5 minutes) and record an ``export_lag`` alert (one an hour)."""
        now = time.monotonic()
        if now - self._lag_checked < every:
            return None
        self._lag_checked = now
        lag = export_lag(self.ops)
        if lag.late:
            if now - self._lag_warned > 300:
                self._lag_warned = now
                log.warning(
                    "export lag: %d responses and %d events waiting, the oldest for %.0f s (%s)",
                    lag.responses_waiting,
                    lag.events_waiting,
                    lag.oldest_seconds,
                    self.last_error or "no error",
                )
            lag_alert(self.ops, lag, self.last_error)
        return lag

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
            if not self._stop.is_set() and (self.leader is None or self.leader()):
                self.flush()
                self.run_jobs()
                try:
                    self.check_lag()
                except Exception:  # monitoring must not stop the exports
                    log.exception("measuring the export lag failed")

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
