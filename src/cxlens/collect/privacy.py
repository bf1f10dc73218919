"""The workspace's privacy settings, kept in the operational store so every process (each server
worker, the CLI, cron jobs) applies the same rules, and changed with an audited command.

``redact``: personal data in free text (e-mails, IBANs, addresses, cards, phones, cued names; see
:mod:`cxlens.collect.pii`) is replaced where it first lands: survey text answers before they are
written to the operational store, string values of event ``properties`` before they enter the
inbox, the e-mail address of an invitation once it has been sent, and feedback text loaded from
files (``cxlens ingest``). The older per-process ``CXLENS_REDACT_PII`` still turns on the last one.

One concept, one place: later privacy work (per-customer erasure, exports on request) reads and
records its settings here too (``settings`` table, key ``privacy``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cxlens.collect.pii import DEFAULT_REGIONS, redact
from cxlens.ops import OPS_FILE, OpsStore, get_collect_settings, utcnow
from cxlens.ops.models import Setting

KEY = "privacy"
#: Seconds a process keeps the settings before reading them again (a change applies within it).
CACHE_SECONDS = 5.0
_cache: dict[str, tuple[float, Privacy]] = {}


@dataclass(frozen=True)
class Privacy:
    """Where personal data is redacted, and the phone-number regions redaction looks for."""

    redact: bool = False
    regions: tuple[str, ...] = field(default=DEFAULT_REGIONS)

    def text(self, value: str | None) -> str | None:
        """``value`` redacted when redaction is on."""
        return redact(value, self.regions) if self.redact and value else value

    def json(self, value: Any) -> Any:
        """Every string in a JSON value redacted when redaction is on (keys stay)."""
        if not self.redact:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(v) for v in value]
        return value


def get_privacy(ops: OpsStore, *, fresh: bool = False) -> Privacy:
    """The workspace's privacy settings (defaults when never set)."""
    cached = _cache.get(ops.url)
    if cached and not fresh and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    with ops.sessions() as s:
        row = s.get(Setting, KEY)
    value = row.value if row is not None else {}
    privacy = Privacy(
        redact=bool(value.get("redact", False)),
        regions=tuple(value.get("regions") or DEFAULT_REGIONS),
    )
    _cache[ops.url] = (time.monotonic(), privacy)
    return privacy


def set_privacy(
    ops: OpsStore, *, redact: bool | None = None, regions: list[str] | None = None, actor: str = "system"
) -> Privacy:
    """Change the privacy settings (audited with before and after) and return them."""
    before = get_privacy(ops, fresh=True)
    after = Privacy(
        redact=before.redact if redact is None else redact,
        regions=tuple(r.strip().upper() for r in regions if r.strip()) if regions else before.regions,
    )
    value = {**asdict(after), "regions": list(after.regions)}
    with ops.session() as s:
        row = s.get(Setting, KEY)
        if row is None:
            s.add(Setting(key=KEY, value=value, updated_by=actor[:128]))
        else:
            row.value, row.updated_at, row.updated_by = value, utcnow(), actor[:128]
        old = {**asdict(before), "regions": list(before.regions)}
        ops.audit(s, "settings", "privacy", KEY, actor=actor, before=old, after=value)
    _cache.clear()
    return after


def redaction_on(data_dir: str | Path) -> bool:
    """Whether files loaded into the workspace at ``data_dir`` get their feedback text redacted:
    ``CXLENS_REDACT_PII`` or the workspace setting."""
    from cxlens.config import get_settings

    if get_settings().redact_pii:
        return True
    key = f"dir:{Path(data_dir).resolve()}"
    cached = _cache.get(key)
    if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1].redact
    if not get_collect_settings().ops_url and not (Path(data_dir) / OPS_FILE).exists():
        return False  # no operational store yet, so nothing was ever set (and none is created)
    store = OpsStore(data_dir=data_dir)
    try:
        privacy = get_privacy(store, fresh=True)
    finally:
        store.close()
    _cache[key] = (time.monotonic(), privacy)
    return privacy.redact
