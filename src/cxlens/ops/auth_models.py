"""Tables of the operational store for staff access: users and API keys.

They are declared on the same :class:`cxlens.ops.models.Base` as the collection tables and
created with them when an :class:`~cxlens.ops.OpsStore` opens.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cxlens.ops.models import Base, utcnow

#: Roles, from most to least privileged: admins manage users; store managers see their stores only.
ROLES = ("admin", "analyst", "store_manager")


class User(Base):
    """A staff user of the web app; ``stores`` scopes a store manager to those store ids."""

    __tablename__ = "users"
    __table_args__ = (Index("ix_users_oidc_subject", "oidc_subject", unique=True),)

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32))
    stores: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Part of every session cookie; bumping it (on logout) ends every session of the user.
    session_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    #: The identity provider's subject (``iss|sub``) once the user has signed in through OIDC.
    oidc_subject: Mapped[str | None] = mapped_column(String(512))
    password_changed_at: Mapped[datetime | None]


class ApiKey(Base):
    """An API key of a user (acts with the user's role and stores); only its SHA-256 is stored."""

    __tablename__ = "api_keys"

    key_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128), default="")
    user_id: Mapped[int] = mapped_column(ForeignKey("users.user_id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class LoginThrottle(Base):
    """Failed sign-ins per username (known or not), for the per-account backoff: after a few
    failures each further attempt must wait longer, whatever address it comes from."""

    __tablename__ = "login_throttle"

    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]
