"""Event sources: each system that posts events (web shop, app, POS) has its own write key.

The events API needs a source's key (``X-Write-Key: cxw_...`` or ``Authorization: Bearer
cxw_...``); only its SHA-256 is stored, a key can be rotated or the source revoked at once, and
every event id is scoped by its source (stored as ``<source>:<event id>``), so no one can post a
genuine POS event's id first and have the real one dropped as a duplicate. A web-shop key ships
inside public JavaScript, so treat web events as untrusted; POS and back-end keys stay secret.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from sqlalchemy import select, update

from cxlens.ops import OpsStore, utcnow
from cxlens.ops.models import EventSource

KEY_PREFIX = "cxw_"
SOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class SourceError(ValueError):
    """A source request that cannot be done (bad id, duplicate, unknown)."""


def _sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_source(ops: OpsStore, source_id: str, name: str = "", *, actor: str = "system") -> str:
    """Register a source and return its write key (shown once)."""
    if not SOURCE_ID.match(source_id):
        raise SourceError("a source id is 1-64 lower-case letters, digits, - and _ (e.g. pos, web-shop)")
    key = _new_key()
    with ops.session() as s:
        if s.get(EventSource, source_id) is not None:
            raise SourceError(f"source {source_id!r} already exists; rotate its key instead")
        s.add(
            EventSource(
                source_id=source_id, name=name[:256], key_hash=_sha256(key), prefix=key[:10], created_by=actor
            )
        )
        ops.audit(s, "create", "event_source", source_id, actor=actor, name=name)
    return key


def rotate_key(ops: OpsStore, source_id: str, *, actor: str = "system") -> str:
    """Give a source a new key (the old one stops working at once) and return it."""
    key = _new_key()
    with ops.session() as s:
        source = s.get(EventSource, source_id)
        if source is None:
            raise SourceError(f"no source {source_id!r}")
        source.key_hash, source.prefix, source.revoked_at = _sha256(key), key[:10], None
        ops.audit(s, "rotate", "event_source", source_id, actor=actor)
    return key


def revoke_source(ops: OpsStore, source_id: str, *, actor: str = "system") -> None:
    """Stop accepting a source's events (its stored events stay)."""
    with ops.session() as s:
        source = s.get(EventSource, source_id)
        if source is None:
            raise SourceError(f"no source {source_id!r}")
        source.revoked_at = utcnow()
        ops.audit(s, "revoke", "event_source", source_id, actor=actor)


def list_sources(ops: OpsStore) -> list[EventSource]:
    """Every source, by id."""
    with ops.sessions() as s:
        return list(s.scalars(select(EventSource).order_by(EventSource.source_id)))


def source_for_key(ops: OpsStore, key: str) -> EventSource | None:
    """The active source a write key belongs to, or None."""
    if not key.startswith(KEY_PREFIX):
        return None
    with ops.sessions() as s:
        source = s.scalar(select(EventSource).where(EventSource.key_hash == _sha256(key)))
    if source is None or source.revoked_at is not None:
        return None
    now = utcnow()
    if source.last_used_at is None or now - source.last_used_at > timedelta(minutes=1):
        with ops.session() as s:
            s.execute(
                update(EventSource).where(EventSource.source_id == source.source_id).values(last_used_at=now)
            )
    return source


def scoped_id(source_id: str | None, event_id: str) -> str:
    """The stored id of a source's event (the id itself when no source is given)."""
    return f"{source_id}:{event_id}" if source_id else event_id
