"""Security and resilience: event sources with write keys, shared rate limits, sign-in backoff,
workspace settings, export holds, API-key expiry and OIDC subjects.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NEW_COLUMNS: dict[str, list[tuple[str, Any]]] = {
    "api_keys": [("expires_at", sa.DateTime()), ("revoked_at", sa.DateTime())],
    "event_inbox": [
        ("source_id", sa.String(length=64)),
        ("export_hold", sa.String(length=32)),
        ("export_error", sa.Text()),
    ],
    "responses": [("export_hold", sa.String(length=32)), ("export_error", sa.Text())],
    "users": [("oidc_subject", sa.String(length=512)), ("password_changed_at", sa.DateTime())],
}


def upgrade() -> None:
    """New tables, and nullable columns on existing ones (no data is rewritten)."""
    op.create_table(
        "event_sources",
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("source_id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "login_throttle",
        sa.Column("username", sa.String(length=128), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(), nullable=True),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(length=256), nullable=False),
        sa.Column("tat", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    for table, columns in NEW_COLUMNS.items():
        for name, kind in columns:
            op.add_column(table, sa.Column(name, kind, nullable=True))
    op.create_index("ix_users_oidc_subject", "users", ["oidc_subject"], unique=True)


def downgrade() -> None:
    """Drop what :func:`upgrade` added."""
    op.drop_index("ix_users_oidc_subject", table_name="users")
    for table, columns in NEW_COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for name, _ in columns:
                batch.drop_column(name)
    for table in ("settings", "rate_buckets", "login_throttle", "event_sources"):
        op.drop_table(table)
