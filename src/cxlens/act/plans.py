"""Action plans: an improvement on a driver or touchpoint in some stores from a start date, and its
measured effect (difference-in-differences against control stores, with an interval) from
:mod:`cxlens.analyse.effects`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cxlens.analyse.common import getter
from cxlens.ops import OpsStore, utcnow
from cxlens.ops.act_models import PLAN_STATUSES, ActionPlan

if TYPE_CHECKING:
    import pandas as pd

    from cxlens.analyse.common import Tables

PLAN_METRICS = ("nps", "csat", "csat_mean", "ces", "rating")


class PlanError(ValueError):
    """An action-plan request that cannot be done."""


def _date(value: date | str | None, name: str) -> date | None:
    if value is None or isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise PlanError(f"{name} must be a date like 2025-07-01, got {value!r}") from None


def _stores(values: Sequence[str] | None) -> list[str]:
    return sorted({s.strip() for s in values or () if s and s.strip()})


class PlanNotFoundError(PlanError):
    """No plan with that number."""


class StalePlanError(PlanError):
    """The plan was changed by someone else since it was read."""


def _fields(
    name: str,
    *,
    stores: Sequence[str],
    start: date | str | None,
    metric: str,
    touchpoint: str | None,
    driver: str | None,
    control_stores: Sequence[str] | None,
    end: date | str | None,
    owner: str | None,
    notes: str | None,
) -> dict[str, Any]:
    """A plan's validated column values (PlanError names what is wrong)."""
    name = name.strip()
    if not name:
        raise PlanError("a plan needs a name")
    if metric not in PLAN_METRICS:
        raise PlanError(f"unknown metric {metric!r}; choose one of {', '.join(PLAN_METRICS)}")
    treated = _stores(stores)
    if not treated:
        raise PlanError("a plan needs at least one store")
    control = _stores(control_stores) if control_stores else None
    if control and set(control) & set(treated):
        raise PlanError(
            "control stores must not be plan stores: " + ", ".join(sorted(set(control) & set(treated)))
        )
    start_d, end_d = _date(start, "start"), _date(end, "end")
    if start_d is None:
        raise PlanError("a plan needs a start date")
    if end_d is not None and end_d <= start_d:
        raise PlanError("the end date must be after the start date")
    return {
        "name": name[:256],
        "driver": driver[:128] if driver else None,
        "touchpoint": touchpoint[:256] if touchpoint else None,
        "metric": metric,
        "stores": treated,
        "control_stores": control or None,
        "start_date": start_d,
        "end_date": end_d,
        "owner": owner[:128] if owner else None,
        "notes": notes or None,
    }


def update_plan(
    ops: OpsStore,
    plan_id: int,
    name: str,
    *,
    stores: Sequence[str],
    start: date | str | None,
    metric: str = "csat",
    touchpoint: str | None = None,
    driver: str | None = None,
    control_stores: Sequence[str] | None = None,
    end: date | str | None = None,
    owner: str | None = None,
    notes: str | None = None,
    status: str | None = None,
    expected_updated_at: datetime | None = None,
    actor: str = "system",
) -> ActionPlan:
    """Change a plan's definition (and status), validated like :func:`create_plan`; audited with
    the changed fields before and after. With ``expected_updated_at`` (when the editor read it),
    a plan changed since raises :class:`StalePlanError`."""
    values = _fields(
        name,
        stores=stores,
        start=start,
        metric=metric,
        touchpoint=touchpoint,
        driver=driver,
        control_stores=control_stores,
        end=end,
        owner=owner,
        notes=notes,
    )
    if status is not None:
        if status not in PLAN_STATUSES:
            raise PlanError(f"unknown status {status!r}; choose one of {', '.join(PLAN_STATUSES)}")
        values["status"] = status
    with ops.session() as s:
        plan = s.get(ActionPlan, plan_id, with_for_update=True)
        if plan is None:
            raise PlanNotFoundError(f"no action plan {plan_id}")
        if expected_updated_at is not None and plan.updated_at != expected_updated_at:
            raise StalePlanError(
                f"plan {plan_id} was changed by someone else since you opened it; reload and redo the change"
            )
        old = plan_dict(plan)
        for key, value in values.items():
            setattr(plan, key, value)
        plan.updated_at = max(utcnow(), plan.updated_at + timedelta(microseconds=1))
        new = plan_dict(plan)
        changed = [k for k in values if old[k] != new[k]]
        ops.audit(
            s,
            "update",
            "action_plan",
            str(plan_id),
            actor=actor,
            before={k: old[k] for k in changed},
            after={k: new[k] for k in changed},
        )
    return plan


def create_plan(
    ops: OpsStore,
    name: str,
    *,
    stores: Sequence[str],
    start: date | str,
    metric: str = "csat",
    touchpoint: str | None = None,
    driver: str | None = None,
    control_stores: Sequence[str] | None = None,
    end: date | str | None = None,
    owner: str | None = None,
    notes: str | None = None,
    actor: str = "system",
) -> ActionPlan:
    """Record an action plan (audited)."""
    values = _fields(
        name,
        stores=stores,
        start=start,
        metric=metric,
        touchpoint=touchpoint,
        driver=driver,
        control_stores=control_stores,
        end=end,
        owner=owner,
        notes=notes,
    )
    now = utcnow()
    plan = ActionPlan(**values, status="active", created_by=actor[:128], created_at=now, updated_at=now)
    with ops.session() as s:
        s.add(plan)
        s.flush()
        ops.audit(
            s, "create", "action_plan", str(plan.plan_id), actor=actor, before={}, after=plan_dict(plan)
        )
    return plan


def list_plans(ops: OpsStore, *, stores: Sequence[str] | None = None) -> list[ActionPlan]:
    """Plans, newest first; with ``stores``, only plans touching one of them."""
    with ops.sessions() as s:
        plans = list(s.scalars(select(ActionPlan).order_by(ActionPlan.plan_id.desc())))
    if stores is not None:
        plans = [p for p in plans if set(p.stores or ()) & set(stores)]
    return plans


def get_plan(ops: OpsStore, plan_id: int) -> ActionPlan:
    """One plan (PlanError if unknown)."""
    with ops.sessions() as s:
        plan = s.get(ActionPlan, plan_id)
    if plan is None:
        raise PlanNotFoundError(f"no action plan {plan_id}")
    return plan


def set_plan_status(ops: OpsStore, plan_id: int, status: str, *, actor: str = "system") -> ActionPlan:
    """Change a plan's status (planned, active, done, cancelled); audited."""
    if status not in PLAN_STATUSES:
        raise PlanError(f"unknown status {status!r}; choose one of {', '.join(PLAN_STATUSES)}")
    with ops.session() as s:
        plan = s.get(ActionPlan, plan_id)
        if plan is None:
            raise PlanError(f"no action plan {plan_id}")
        before = plan.status
        plan.status, plan.updated_at = status, utcnow()
        ops.audit(
            s,
            "status",
            "action_plan",
            str(plan_id),
            actor=actor,
            before={"status": before},
            after={"status": status},
        )
    return plan


def default_control(plan: ActionPlan, tables: Tables, ops: OpsStore | None) -> list[str] | None:
    """The plan's control stores: its own list, else every store outside the plan and outside
    other live plans on the same metric (their changes would leak into the control group and
    bias the estimate); None when no other plan overlaps (then every other store)."""
    if plan.control_stores:
        return list(plan.control_stores)
    if ops is None:
        return None
    busy = {
        store
        for other in list_plans(ops)
        if other.plan_id != plan.plan_id and other.status != "cancelled" and other.metric == plan.metric
        for store in other.stores or ()
    }
    busy -= set(plan.stores)
    if not busy:
        return None
    everyone = getter(tables)("stores").store_id.execute()
    return sorted(set(everyone.dropna().astype(str)) - set(plan.stores) - busy)


def _effect_kwargs(plan: ActionPlan, tables: Tables, ops: OpsStore | None) -> dict[str, Any]:
    return {
        "treated_stores": list(plan.stores),
        "start": plan.start_date,
        "metric": plan.metric,
        "touchpoint": plan.touchpoint,
        "control_stores": default_control(plan, tables, ops),
        "end": plan.end_date,
    }


def measure(
    plan: ActionPlan, tables: Tables, *, ops: OpsStore | None = None, confidence: float = 0.95
) -> Any:
    """The plan's difference-in-differences effect (:class:`cxlens.analyse.effects.Effect`);
    with ``ops``, stores of other plans on the same metric are left out of the control group."""
    from cxlens.analyse.effects import did_effect

    return did_effect(tables, **_effect_kwargs(plan, tables, ops), confidence=confidence)


def measure_series(plan: ActionPlan, tables: Tables, *, ops: OpsStore | None = None) -> pd.DataFrame:
    """Treated and control means per period around the start (group, period, mean, n)."""
    from cxlens.analyse.effects import did_series

    return did_series(tables, **_effect_kwargs(plan, tables, ops))


def plan_dict(plan: ActionPlan) -> dict[str, Any]:
    """A plan as JSON-ready values."""
    out: dict[str, Any] = {}
    for col in ActionPlan.__table__.columns:
        value = getattr(plan, col.name)
        out[col.name] = value.isoformat() if isinstance(value, date) else value
    return out
