"""The operational store as it was before migrations existed (commit 28f49f7): surveys,
invitations, responses, the event inbox, the audit log, users and API keys, alerts, cases and plans.

A database created by ``create_all`` from those models is stamped with this revision and
upgraded from here; an empty database starts by running it.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create every table of the baseline schema."""
    op.create_table(
        "act_cursors",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("value", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "action_plans",
        sa.Column("plan_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("driver", sa.String(length=128), nullable=True),
        sa.Column("touchpoint", sa.String(length=256), nullable=True),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("stores", sa.JSON(), nullable=False),
        sa.Column("control_stores", sa.JSON(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("plan_id"),
    )
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=512), nullable=False),
        sa.Column("feedback_id", sa.String(length=256), nullable=True),
        sa.Column("store_id", sa.String(length=256), nullable=True),
        sa.Column("region", sa.String(length=256), nullable=True),
        sa.Column("touchpoint", sa.String(length=256), nullable=True),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("dedup_key", sa.String(length=700), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("delivery_error", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("alert_id"),
        sa.UniqueConstraint("dedup_key"),
    )
    op.create_index("ix_alerts_store_created", "alerts", ["store_id", "created_at"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=256), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "event_inbox",
        sa.Column("event_id", sa.String(length=256), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("exported_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("ix_event_inbox_export", "event_inbox", ["exported_at"], unique=False)
    op.create_table(
        "surveys",
        sa.Column("survey_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("survey_id"),
    )
    op.create_table(
        "users",
        sa.Column("user_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=128), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("stores", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("user_id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
        ),
        sa.PrimaryKeyConstraint("key_id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "cases",
        sa.Column("case_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("feedback_id", sa.String(length=256), nullable=True),
        sa.Column("customer_id", sa.String(length=256), nullable=True),
        sa.Column("store_id", sa.String(length=256), nullable=True),
        sa.Column("region", sa.String(length=256), nullable=True),
        sa.Column("touchpoint", sa.String(length=256), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assignee", sa.String(length=128), nullable=True),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("sla_due_at", sa.DateTime(), nullable=True),
        sa.Column("escalated_at", sa.DateTime(), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("root_causes", sa.JSON(), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("follow_up_at", sa.DateTime(), nullable=True),
        sa.Column("follow_up_notes", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.alert_id"],
        ),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_index("ix_cases_sla", "cases", ["status", "sla_due_at"], unique=False)
    op.create_index("ix_cases_store_status", "cases", ["store_id", "status"], unique=False)
    op.create_table(
        "invitations",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("survey_id", sa.String(length=128), nullable=False),
        sa.Column("customer_id", sa.String(length=256), nullable=True),
        sa.Column("anonymous_id", sa.String(length=256), nullable=True),
        sa.Column("store_id", sa.String(length=256), nullable=True),
        sa.Column("touchpoint", sa.String(length=256), nullable=True),
        sa.Column("channel", sa.String(length=256), nullable=True),
        sa.Column("order_id", sa.String(length=256), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("trigger_id", sa.String(length=128), nullable=True),
        sa.Column("event_id", sa.String(length=256), nullable=True),
        sa.Column("send_via", sa.String(length=16), nullable=True),
        sa.Column("contact", sa.String(length=1024), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("send_after", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("send_error", sa.Text(), nullable=True),
        sa.Column("responded_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.survey_id"],
        ),
        sa.PrimaryKeyConstraint("token"),
        sa.UniqueConstraint("trigger_id", "event_id", name="uq_invitations_trigger_event"),
    )
    op.create_index(
        "ix_invitations_customer_created", "invitations", ["customer_id", "created_at"], unique=False
    )
    op.create_index("ix_invitations_pending", "invitations", ["sent_at", "send_after"], unique=False)
    op.create_table(
        "case_notes",
        sa.Column("note_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.case_id"],
        ),
        sa.PrimaryKeyConstraint("note_id"),
    )
    op.create_index(op.f("ix_case_notes_case_id"), "case_notes", ["case_id"], unique=False)
    op.create_table(
        "responses",
        sa.Column("response_id", sa.String(length=64), nullable=False),
        sa.Column("survey_id", sa.String(length=128), nullable=False),
        sa.Column("survey_version", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("store_id", sa.String(length=256), nullable=True),
        sa.Column("touchpoint", sa.String(length=256), nullable=True),
        sa.Column("channel", sa.String(length=256), nullable=True),
        sa.Column("customer_id", sa.String(length=256), nullable=True),
        sa.Column("anonymous_id", sa.String(length=256), nullable=True),
        sa.Column("order_id", sa.String(length=256), nullable=True),
        sa.Column("kiosk", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.Column("exported_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.survey_id"],
        ),
        sa.ForeignKeyConstraint(
            ["token"],
            ["invitations.token"],
        ),
        sa.PrimaryKeyConstraint("response_id"),
        sa.UniqueConstraint("token"),
    )
    op.create_index("ix_responses_export", "responses", ["status", "exported_at"], unique=False)


def downgrade() -> None:
    """Drop every table of the baseline schema."""
    op.drop_index("ix_responses_export", table_name="responses")
    op.drop_table("responses")
    op.drop_index(op.f("ix_case_notes_case_id"), table_name="case_notes")
    op.drop_table("case_notes")
    op.drop_index("ix_invitations_pending", table_name="invitations")
    op.drop_index("ix_invitations_customer_created", table_name="invitations")
    op.drop_table("invitations")
    op.drop_index("ix_cases_store_status", table_name="cases")
    op.drop_index("ix_cases_sla", table_name="cases")
    op.drop_table("cases")
    op.drop_table("api_keys")
    op.drop_table("users")
    op.drop_table("surveys")
    op.drop_index("ix_event_inbox_export", table_name="event_inbox")
    op.drop_table("event_inbox")
    op.drop_table("audit_log")
    op.drop_index("ix_alerts_store_created", table_name="alerts")
    op.drop_table("alerts")
    op.drop_table("action_plans")
    op.drop_table("act_cursors")
