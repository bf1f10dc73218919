"""Tables of the operational store for closing the loop: alerts, cases, case notes, action plans,
the alert evaluator's cursor and the stored, versioned alert rules and owner routing.

Alert rules and owner routing are YAML: shipped defaults, a file (``--rules``/``--routing``,
``CXLENS_ALERT_RULES_FILE``/``CXLENS_ROUTING_FILE``), or versions stored in ``act_config`` by
``cxlens act rules|routing import`` and the web editors; the latest stored version wins. Every
change to a case, plan or configuration is written to the existing ``audit_log``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxlens.ops.models import ID, Base, utcnow

CASE_STATUSES = ("open", "in_progress", "resolved", "closed")
PRIORITIES = ("urgent", "high", "normal", "low")
PLAN_STATUSES = ("planned", "active", "done", "cancelled")


class Alert(Base):
    """One alert: a rule fired on a feedback row or a metric; ``dedup_key`` makes it unique."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_store_created", "store_id", "created_at"),)

    alert_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(512))
    feedback_id: Mapped[str | None] = mapped_column(String(ID))
    store_id: Mapped[str | None] = mapped_column(String(ID))
    region: Mapped[str | None] = mapped_column(String(ID))
    touchpoint: Mapped[str | None] = mapped_column(String(ID))
    owner: Mapped[str | None] = mapped_column(String(128))
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    title: Mapped[str] = mapped_column(String(512))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedup_key: Mapped[str] = mapped_column(String(700), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
    delivery_error: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="new")
    case_id: Mapped[int | None] = mapped_column(Integer)


class Case(Base):
    """A case worked by a person: from an alert or opened by hand, with an SLA and escalation."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_store_status", "store_id", "status"),
        Index("ix_cases_sla", "status", "sla_due_at"),
    )

    case_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(512))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.alert_id"))
    feedback_id: Mapped[str | None] = mapped_column(String(ID))
    customer_id: Mapped[str | None] = mapped_column(String(ID))
    store_id: Mapped[str | None] = mapped_column(String(ID))
    region: Mapped[str | None] = mapped_column(String(ID))
    touchpoint: Mapped[str | None] = mapped_column(String(ID))
    status: Mapped[str] = mapped_column(String(16), default="open")
    assignee: Mapped[str | None] = mapped_column(String(128))
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    sla_due_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    root_causes: Mapped[list[str]] = mapped_column(JSON, default=list)
    resolution: Mapped[str | None] = mapped_column(Text)
    follow_up_at: Mapped[datetime | None]
    follow_up_notes: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128), default="system")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]


class CaseNote(Base):
    """A note on a case (free text by a staff member; shown escaped)."""

    __tablename__ = "case_notes"

    note_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.case_id"), index=True)
    author: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ActionPlan(Base):
    """An improvement action on a driver or touchpoint in some stores from a start date."""

    __tablename__ = "action_plans"

    plan_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256))
    driver: Mapped[str | None] = mapped_column(String(128))
    touchpoint: Mapped[str | None] = mapped_column(String(ID))
    metric: Mapped[str] = mapped_column(String(32), default="csat")
    stores: Mapped[list[str]] = mapped_column(JSON, default=list)
    control_stores: Mapped[list[str] | None] = mapped_column(JSON)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    owner: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="active")
    notes: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128), default="system")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ActCursor(Base):
    """Where an incremental job stopped (e.g. the last evaluated feedback time of the alerts)."""

    __tablename__ = "act_cursors"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


CONFIG_KINDS = ("rules", "routing")


class ActConfig(Base):
    """One version of the alert rules or the owner routing (``kind``), as the YAML that was saved
    (validated before it is stored); the highest version of a kind is the one in force."""

    __tablename__ = "act_config"
    __table_args__ = (UniqueConstraint("kind", "version", name="uq_act_config_kind_version"),)

    config_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(128))
    comment: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


ACT_TABLES = (Alert, Case, CaseNote, ActionPlan, ActCursor, ActConfig)
