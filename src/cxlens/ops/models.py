"""Tables of the operational store (SQLAlchemy 2): surveys, invitations, responses, the event
inbox and the audit log.

The operational store holds what the collection layer needs to answer requests quickly and
safely (token uniqueness, partial responses, idempotency by event id). Completed responses and
accepted events are copied to the analytics store by :mod:`cxlens.collect.outbox`; the
``exported_at`` columns record what has been copied.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = 256


def utcnow() -> datetime:
    """The current time as naive UTC (how every timestamp is stored, on SQLite and PostgreSQL)."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Declarative base of the operational store."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: DateTime()}


class SurveyRecord(Base):
    """A survey definition (the validated JSON of :class:`cxlens.collect.surveys.Survey`)."""

    __tablename__ = "surveys"

    survey_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    definition: Mapped[dict[str, Any]]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invitation(Base):
    """A personal invitation: one token, one response."""

    __tablename__ = "invitations"
    __table_args__ = (
        UniqueConstraint("trigger_id", "event_id", name="uq_invitations_trigger_event"),
        Index("ix_invitations_customer_created", "customer_id", "created_at"),
        Index("ix_invitations_pending", "sent_at", "send_after"),
    )

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    survey_id: Mapped[str] = mapped_column(ForeignKey("surveys.survey_id"))
    customer_id: Mapped[str | None] = mapped_column(String(ID))
    anonymous_id: Mapped[str | None] = mapped_column(String(ID))
    store_id: Mapped[str | None] = mapped_column(String(ID))
    touchpoint: Mapped[str | None] = mapped_column(String(ID))
    channel: Mapped[str | None] = mapped_column(String(ID))
    order_id: Mapped[str | None] = mapped_column(String(ID))
    language: Mapped[str | None] = mapped_column(String(16))
    trigger_id: Mapped[str | None] = mapped_column(String(128))
    event_id: Mapped[str | None] = mapped_column(String(ID))
    send_via: Mapped[str | None] = mapped_column(String(16))
    contact: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    send_after: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    send_error: Mapped[str | None] = mapped_column(Text)
    responded_at: Mapped[datetime | None]


class Response(Base):
    """A survey response, partial (``status='partial'``) until its last page is submitted."""

    __tablename__ = "responses"
    __table_args__ = (Index("ix_responses_export", "status", "exported_at"),)

    response_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    survey_id: Mapped[str] = mapped_column(ForeignKey("surveys.survey_id"))
    survey_version: Mapped[int] = mapped_column(Integer, default=1)
    token: Mapped[str | None] = mapped_column(ForeignKey("invitations.token"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="partial")
    page: Mapped[int] = mapped_column(Integer, default=0)
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    language: Mapped[str | None] = mapped_column(String(16))
    store_id: Mapped[str | None] = mapped_column(String(ID))
    touchpoint: Mapped[str | None] = mapped_column(String(ID))
    channel: Mapped[str | None] = mapped_column(String(ID))
    customer_id: Mapped[str | None] = mapped_column(String(ID))
    anonymous_id: Mapped[str | None] = mapped_column(String(ID))
    order_id: Mapped[str | None] = mapped_column(String(ID))
    kiosk: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]
    exported_at: Mapped[datetime | None]
    #: Why the exporter holds the row back (``unknown_store``, ``invalid``); null: not held.
    export_hold: Mapped[str | None] = mapped_column(String(32))
    export_error: Mapped[str | None] = mapped_column(Text)


class InboxEvent(Base):
    """An event accepted by the collection API; the primary key (``<source>:<event id>``, so a
    source cannot take another's ids) makes intake idempotent."""

    __tablename__ = "event_inbox"
    __table_args__ = (Index("ix_event_inbox_export", "exported_at"),)

    event_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    payload: Mapped[dict[str, Any]]
    exported_at: Mapped[datetime | None]
    source_id: Mapped[str | None] = mapped_column(String(64))
    #: Why the exporter holds the row back (``unknown_store``, ``invalid``); null: not held.
    export_hold: Mapped[str | None] = mapped_column(String(32))
    export_error: Mapped[str | None] = mapped_column(Text)


class EventSource(Base):
    """A system that posts events (web shop, app, POS) with its own revocable write key; only the
    key's SHA-256 is stored, and event ids are scoped by the source."""

    __tablename__ = "event_sources"

    source_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(128), default="system")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class Setting(Base):
    """A workspace-level setting shared by every process (e.g. where personal data is redacted);
    changes are audited."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(128), default="system")


class RateBucket(Base):
    """Rate-limit state shared by every server process: the theoretical arrival time (GCRA) of
    the next request for a key such as ``form:203.0.113.9``, in Unix seconds."""

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(String(ID), primary_key=True)
    tat: Mapped[float] = mapped_column(Float)


class AuditEntry(Base):
    """Who did what to which object, and when (survey changes, invitations, exports)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(ID))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
