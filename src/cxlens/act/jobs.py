"""The periodic closing-the-loop job for the server: evaluate alert rules, then sweep SLAs."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cxlens.act.alerts import AlertRun, RuleSet, run_alerts
from cxlens.act.cases import Escalation, escalate_overdue
from cxlens.act.routing import Routing

if TYPE_CHECKING:
    from cxlens.ops import OpsStore
    from cxlens.storage.workspace import Workspace

log = logging.getLogger(__name__)


def act_cycle(
    ops: OpsStore,
    ws: Workspace,
    rules: RuleSet,
    routing: Routing,
    base_url: str,
    now: datetime | None = None,
) -> tuple[AlertRun, list[Escalation]]:
    """One run of the alert rules and one SLA sweep (both idempotent), for the exporter thread."""
    run = run_alerts(ops, ws, rules, routing, now=now, base_url=base_url)
    escalated = escalate_overdue(ops, routing, now, base_url=base_url)
    if run.fired or escalated or run.failed:
        log.info(
            "act: %d new alerts, %d delivered, %d failed, %d cases escalated",
            run.fired,
            run.delivered,
            run.failed,
            len(escalated),
        )
    return run, escalated


def configured_cycle(
    ops: OpsStore,
    ws: Workspace,
    base_url: str,
    rules_file: Path | None = None,
    routing_file: Path | None = None,
    now: datetime | None = None,
) -> tuple[AlertRun, list[Escalation]] | None:
    """:func:`act_cycle` with the configuration in force, read afresh each time (so a version
    saved in the web editor applies from the next cycle), when any is configured: a file, or a
    stored version of the rules or the routing; None (nothing run) otherwise."""
    from cxlens.act import config

    rules = config.resolve(ops, "rules", rules_file)
    routing = config.resolve(ops, "routing", routing_file)
    if rules.source == "default" and routing.source == "default":
        return None
    return act_cycle(ops, ws, rules.config, routing.config, base_url, now=now)
