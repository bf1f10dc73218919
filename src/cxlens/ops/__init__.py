"""The operational store (SQLAlchemy: SQLite by default, PostgreSQL for production)."""

from cxlens.ops.models import AuditEntry, Base, InboxEvent, Invitation, Response, SurveyRecord, utcnow
from cxlens.ops.settings import CollectSettings, get_collect_settings
from cxlens.ops.store import OPS_FILE, OpsStore, default_url

__all__ = [
    "OPS_FILE",
    "AuditEntry",
    "Base",
    "CollectSettings",
    "InboxEvent",
    "Invitation",
    "OpsStore",
    "Response",
    "SurveyRecord",
    "default_url",
    "get_collect_settings",
    "utcnow",
]
