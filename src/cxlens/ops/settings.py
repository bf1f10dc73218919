"""Typed settings of the collection layer (operational store, invitations), read from ``CXLENS_*``.

Kept apart from :mod:`cxlens.config` so the collection layer can grow its own settings; read
them through :func:`get_collect_settings` (not cached, so tests can change the environment).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CollectSettings(BaseSettings):
    """Settings for survey collection. Every field is an environment variable ``CXLENS_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CXLENS_", extra="ignore")

    ops_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the operational store; empty means SQLite at "
        "<data_dir>/cxlens-ops.sqlite (PostgreSQL: postgresql+psycopg://user@host:port/db).",
    )
    ops_busy_timeout: float = Field(
        default=5.0,
        description="Seconds a request waits for a busy SQLite operational store (SQLite retries with "
        "backoff meanwhile) before it is answered 503 with Retry-After.",
    )
    ops_synchronous: Literal["NORMAL", "FULL"] = Field(
        default="NORMAL",
        description="SQLite operational store durability. NORMAL: an acknowledged answer survives a "
        "killed or crashed server, but a power cut or kernel crash may lose the last commits. FULL: "
        "survives those too, at an fsync per commit (shared by a batch of requests).",
    )
    public_url: str | None = Field(
        default=None,
        description="Public base URL of the survey forms, used in links, QR codes and e-mails "
        "(default: the URL the request came in on, or http://127.0.0.1:8000).",
    )
    smtp_host: str = Field(default="127.0.0.1", description="SMTP server for invitation e-mails.")
    smtp_port: int = Field(default=25, description="SMTP port.")
    smtp_user: str | None = Field(default=None, description="SMTP login (optional).")
    smtp_password: str | None = Field(default=None, description="SMTP password (optional).")
    smtp_starttls: bool = Field(default=False, description="Use STARTTLS for SMTP.")
    mail_from: str = Field(default="cxlens@localhost", description="Sender address of invitations.")
    invitation_days: int = Field(default=30, description="Days an invitation token stays valid.")
    partial_timeout_hours: float = Field(
        default=24.0,
        description="Hours after which an unfinished response is closed and its answers so far are "
        "exported to the feedback table.",
    )


def get_collect_settings() -> CollectSettings:
    """Return the collection settings from the environment (read on each call)."""
    return CollectSettings()
