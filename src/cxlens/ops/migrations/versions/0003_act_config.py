"""Stored, versioned alert rules and owner routing (``act_config``), edited in the web app and
imported by ``cxlens act rules|routing import``.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """A new table; nothing existing changes."""
    op.create_table(
        "act_config",
        sa.Column("config_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("comment", sa.String(length=512), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("config_id"),
        sa.UniqueConstraint("kind", "version", name="uq_act_config_kind_version"),
    )


def downgrade() -> None:
    """Drop what :func:`upgrade` added."""
    op.drop_table("act_config")
