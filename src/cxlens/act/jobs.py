"""The periodic closing-the-loop job for the server: evaluate alert rules, then sweep SLAs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
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


@dataclass
class CycleState:
    """What the server's act job last said about each kind's configuration, so an invalid one is
    logged once when it appears (and once when it is fixed), not on every cycle."""

    problems: dict[str, str] = field(default_factory=dict)

    def report(self, kind: str, problem: str | None) -> None:
        """Log a change in whether the ``kind`` in force is valid."""
        if self.problems.get(kind) == problem:
            return
        if problem is None:
            self.problems.pop(kind, None)
            log.info("act: the %s in force are valid again", kind)
        else:
            self.problems[kind] = problem
            log.error("act: the %s in force are not valid; the job goes on without them: %s", kind, problem)


def configured_cycle(
    ops: OpsStore,
    ws: Workspace,
    base_url: str,
    rules_file: Path | None = None,
    routing_file: Path | None = None,
    now: datetime | None = None,
    state: CycleState | None = None,
) -> tuple[AlertRun | None, list[Escalation]] | None:
    """:func:`act_cycle` with the configuration in force, read afresh each time (so a version
    saved in the web editor applies from the next cycle), when any is configured: a file, or a
    stored version of the rules or the routing; None (nothing run) otherwise. Invalid rules are
    reported once through ``state`` and the SLA sweep still runs (no alert run: None in its place);
    without valid routing nothing can be routed or escalated, so nothing runs."""
    from cxlens.act import config

    state = state if state is not None else CycleState()
    found = {}
    for kind, path in (("rules", rules_file), ("routing", routing_file)):
        try:
            found[kind] = config.resolve(ops, kind, path)
        except (ValueError, OSError) as exc:
            state.report(kind, str(exc))
        else:
            state.report(kind, None)
    if "routing" not in found:
        return None
    routing = found["routing"]
    if "rules" not in found:
        return None, escalate_overdue(ops, routing.config, now, base_url=base_url)
    rules = found["rules"]
    if rules.source == "default" and routing.source == "default":
        return None
    return act_cycle(ops, ws, rules.config, routing.config, base_url, now=now)
