"""The report's loyalty and promotion sections, and the charts the web pages draw the same way.

Every chart is drawn from the frame of a :mod:`cxlens.analyse.loyalty`,
:mod:`~cxlens.analyse.loyalty_effects`, :mod:`~cxlens.analyse.campaigns` or
:mod:`~cxlens.analyse.promotions` function (its data twin). Chart functions take their titles and
labels as arguments, so the web app passes them translated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from cxlens.analyse import campaigns as cm
from cxlens.analyse import loyalty as ly
from cxlens.analyse import loyalty_effects as le
from cxlens.analyse import promotions as pm
from cxlens.analyse.common import TableGetter
from cxlens.report.charts import BLUE, GREEN, GREY, LAYOUT, RED, interval_bars
from cxlens.report.render import Kpi, Section, TableBlock

ORANGE = "#f59e0b"
Label = Callable[[str], str]


def _same(text: str) -> str:
    return text


def _fig(title: str, height: int = 340) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(**LAYOUT, title=title, height=height)
    return fig


def fmt(value: Any, digits: int = 1, *, pct: bool = False) -> str:
    """A number for people (an en dash for none); ``pct`` shows a 0-1 share as a percentage."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if pct:
        return f"{100 * value:,.{digits}f}%"
    return f"{value:,.{digits}f}"


def ci(low: Any, high: Any, digits: int = 1, *, pct: bool = False) -> str:
    """An interval as "low to high"."""
    return f"{fmt(low, digits, pct=pct)} to {fmt(high, digits, pct=pct)}"


# -- charts -----------------------------------------------------------------------------------------


def members_chart(series: pd.DataFrame, title: str, names: Mapping[str, str] | None = None) -> go.Figure:
    """Members at the end of each period (line) and active members (bars)."""
    names = names or {}
    fig = _fig(title)
    x = series["period"].dt.strftime("%Y-%m").tolist()
    fig.add_bar(
        x=x, y=series["active_members"], name=names.get("active members", "active members"), marker_color=BLUE
    )
    fig.add_scatter(
        x=x,
        y=series["members"],
        name=names.get("members", "members"),
        mode="lines+markers",
        line={"color": GREY},
    )
    fig.update_layout(legend={"orientation": "h", "y": -0.15})
    fig.update_xaxes(title=names.get("Month", "Month"), type="category")
    fig.update_yaxes(title=names.get("Members", "Members"))
    return fig


def migration_chart(matrix: pd.DataFrame, title: str, x_title: str, y_title: str) -> go.Figure:
    """Members by tier at the start (rows) and the end (columns), with each row's share."""
    fig = _fig(title, 120 + 40 * len(matrix))
    if matrix.empty:
        return fig
    counts = matrix.to_numpy(dtype=float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig.add_heatmap(
        z=shares * 100,
        x=[str(c) for c in matrix.columns],
        y=[str(r) for r in matrix.index],
        text=[
            [f"{int(c):,}<br>{s:.0%}" for c, s in zip(row, srow, strict=True)]
            for row, srow in zip(counts, shares, strict=True)
        ],
        texttemplate="%{text}",
        colorscale="Blues",
        zmin=0,
        zmax=100,
        showscale=False,
        hovertemplate="%{y} → %{x}: %{text}<extra></extra>",
    )
    fig.update_yaxes(autorange="reversed", title=y_title)
    fig.update_xaxes(title=x_title)
    return fig


def rd_chart(
    points: pd.DataFrame,
    rd: le.Discontinuity,
    title: str,
    x_title: str,
    y_title: str,
    names: Mapping[str, str] | None = None,
) -> go.Figure:
    """Mean outcome per bin of the qualifying value, each side with its fitted line, and the
    threshold."""
    names = names or {}
    fig = _fig(title, 380)
    near = points[(points["qualifying_value"] - rd.threshold).abs() <= rd.bandwidth]
    for side, color in (("not upgraded", GREY), ("upgraded", BLUE)):
        part = near[near["side"] == side]
        if part.empty:
            continue
        fig.add_scatter(
            x=part["qualifying_value"],
            y=part["mean"],
            mode="markers",
            name=names.get(side, side),
            marker={"color": color, "size": np.clip(np.sqrt(part["n"]) * 2, 4, 14)},
            customdata=part["n"],
            hovertemplate="%{x:,.0f}: %{y:.2f} (n=%{customdata})<extra></extra>",
        )
        if len(part) >= 2:
            w = part["n"].to_numpy(float)
            slope, intercept = np.polyfit(part["qualifying_value"], part["mean"], 1, w=np.sqrt(w))
            xs = np.array([part["qualifying_value"].min(), part["qualifying_value"].max()])
            fig.add_scatter(
                x=xs,
                y=intercept + slope * xs,
                mode="lines",
                line={"color": color},
                showlegend=False,
                hoverinfo="skip",
            )
    fig.add_vline(x=rd.threshold, line_dash="dot", line_color=RED)
    fig.update_xaxes(title=x_title)
    fig.update_yaxes(title=y_title)
    fig.update_layout(legend={"orientation": "h", "y": -0.2})
    return fig


def points_chart(series: pd.DataFrame, title: str, names: Mapping[str, str] | None = None) -> go.Figure:
    """Points earned, burned and expired per period and the running balance."""
    names = names or {}
    fig = _fig(title)
    x = series["period"].dt.strftime("%Y-%m").tolist()
    for col, color in (("earned", BLUE), ("burned", GREEN), ("expired", RED)):
        fig.add_bar(x=x, y=series[col], name=names.get(col, col), marker_color=color)
    fig.add_scatter(
        x=x,
        y=series["balance"],
        name=names.get("balance", "balance"),
        mode="lines",
        line={"color": GREY},
        yaxis="y2",
    )
    fig.update_layout(
        barmode="group",
        yaxis2={
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            "title": names.get("Balance", "Balance"),
        },
        legend={"orientation": "h", "y": -0.15},
    )
    fig.update_xaxes(title=names.get("Month", "Month"), type="category")
    fig.update_yaxes(title=names.get("Points", "Points"), selector={"overlaying": None})
    return fig


def campaign_chart(
    effects: pd.DataFrame,
    title: str,
    *,
    x_title: str = "Extra spend per customer",
    y_title: str = "Campaign",
) -> go.Figure:
    """Incremental spend per targeted customer with its interval, one bar per campaign estimated."""
    done = effects[effects["uplift_per_household"].notna()].copy()
    done["label"] = [
        f"{n} ({c})" if isinstance(n, str) and n and n != "None" else str(c)
        for n, c in zip(done["name"], done["campaign_id"], strict=True)
    ]
    done = done.assign(value=done["uplift_per_household"], n=done["households_targeted"])
    done["small_n"] = done["ci_low"].le(0) & done["ci_high"].ge(0)
    return interval_bars(done, "label", title, x_title=x_title, y_title=y_title)


def uplift_chart(
    uplift: pd.DataFrame,
    title: str,
    names: Mapping[str, str] | None = None,
    *,
    x_title: str = "Extra units (%)",
    y_title: str = "Promotion",
) -> go.Figure:
    """Units uplift of each display/mailer class, in percent, with intervals."""
    names = names or {}
    frame = uplift[uplift["units_uplift"].notna()]
    frame = frame.assign(
        label=[names.get(f, f) for f in frame["feature"]],
        value=frame["units_uplift"] * 100,
        ci_low=frame["units_ci_low"] * 100,
        ci_high=frame["units_ci_high"] * 100,
        n=frame["cells"],
    )
    return interval_bars(frame, "label", title, x_title=x_title, y_title=y_title)


def dip_chart(
    daily: pd.DataFrame, summary: Mapping[str, Any], title: str, names: Mapping[str, str] | None = None
) -> go.Figure:
    """Daily units of a promotion's products, coloured by period, with the baseline."""
    names = names or {}
    fig = _fig(title)
    colors = {"before": GREY, "during": BLUE, "after": ORANGE}
    for period, part in daily.groupby("period", sort=False):
        fig.add_bar(
            x=part["day"].dt.strftime("%Y-%m-%d"),
            y=part["units"],
            name=names.get(str(period), str(period)),
            marker_color=colors.get(str(period), GREY),
        )
    fig.add_hline(y=float(summary["baseline_units_per_day"]), line_dash="dot", line_color=GREY)
    fig.update_layout(legend={"orientation": "h", "y": -0.2}, bargap=0.1)
    fig.update_xaxes(title=names.get("Day", "Day"), type="category")
    fig.update_yaxes(title=names.get("Units per day", "Units per day"))
    return fig


def attach_chart(
    rows: pd.DataFrame,
    title: str,
    names: Mapping[str, str] | None = None,
    *,
    x_title: str = "Attach rate (%)",
    y_title: str = "Period",
) -> go.Figure:
    """A bundle product's attach rate before, during and after the bundle (percent, intervals)."""
    names = names or {}
    frame = rows.assign(
        label=[names.get(p, p) for p in rows["period"]],
        value=rows["attach_rate"] * 100,
        ci_low=rows["ci_low"] * 100,
        ci_high=rows["ci_high"] * 100,
        n=rows["baskets_with_bundle"],
    )
    return interval_bars(frame, "label", title, x_title=x_title, y_title=y_title)


# -- the report sections ----------------------------------------------------------------------------


def _count(get: TableGetter, name: str) -> int:
    table = ly.optional(get, name)
    return int(table.count().to_pandas()) if table is not None else 0


def loyalty_section(get: TableGetter) -> Section:
    """Members, tiers, points, experience by tier and the programme's effects."""
    section = Section(
        "loyalty",
        "Loyalty programme",
        intro="Members, tiers and points, and what joining, moving up a tier and expiring points do "
        "(95% intervals).",
    )
    if not _count(get, "loyalty_members"):
        section.notes.append(
            "No loyalty programme data: load loyalty_members, points_ledger and tier_history "
            "(docs/loyalty.md)."
        )
        return section
    series = ly.members_series(get)
    if not series.empty:
        last = series.iloc[-1]
        section.kpis.append(
            Kpi("Members", f"{int(last['members']):,}", "", "", f"at the end of {last['period']:%Y-%m}")
        )
        section.kpis.append(
            Kpi(
                "Active members",
                fmt(last["active_share"], pct=True),
                ci(last["ci_low"], last["ci_high"], pct=True),
                f"{int(last['members']):,}",
                f"{int(last['active_members']):,} bought in {last['period']:%Y-%m}",
            )
        )
        section.add_chart(members_chart(series, "Members and active members per month"))
    if _count(get, "points_ledger"):
        points = ly.points_summary(get)
        if points.liability is not None:
            section.kpis.append(
                Kpi(
                    "Points liability",
                    fmt(points.liability, 0),
                    "",
                    "",
                    f"{points.balance:,.0f} points outstanding",
                )
            )
        section.kpis.append(
            Kpi(
                "Breakage",
                fmt(points.breakage_rate, pct=True),
                "",
                "",
                f"of points leaving the balance expired; {fmt(points.redemption_rate, pct=True)} of issued "
                "points redeemed",
            )
        )
        section.add_chart(points_chart(ly.points_series(get), "Points earned, burned and expired per month"))
    span = ly.data_range(get)
    if span is not None and _count(get, "tier_history"):
        start, end = span[0], span[1] - pd.Timedelta(days=1)
        matrix = ly.migration_matrix(ly.tier_migration(get, start, end))
        section.add_chart(
            migration_chart(
                matrix,
                f"Tier migration, {start:%Y-%m-%d} to {end:%Y-%m-%d}",
                "tier at the end",
                "tier at the start",
            )
        )
        try:
            rd, bins = le.tier_rd(get)
        except ValueError as exc:
            section.notes.append(f"Tier upgrade effect not estimated: {exc}.")
        else:
            section.add_chart(
                rd_chart(
                    bins,
                    rd,
                    f"Visits after the {rd.review_date} tier review",
                    "qualifying points",
                    "visits per member after the review",
                )
            )
            section.findings.append(
                f"Moving up a tier at the {rd.review_date} review (threshold {rd.threshold:,.0f} points) "
                "added "
                f"{rd.estimate:.2f} visits per member in the {rd.horizon_days} days after it (95% CI "
                f"{ci(rd.ci_low, rd.ci_high, 2)}; regression discontinuity, bandwidth {rd.bandwidth:,.0f}; "
                f"{rd.estimate_half_bandwidth:.2f} and {rd.estimate_double_bandwidth:.2f} at half and "
                "double it)."
            )
    enrol = le.enrolment_effect(get)
    if not enrol.empty:
        section.tables.append(
            TableBlock(
                f"Effect of joining: {int(enrol['window_days'].iloc[0])} days after against before, "
                "new members "
                "against matched customers who never joined (difference-in-differences)",
                ["outcome", "effect", "95% CI", "p", "new members"],
                [
                    [
                        str(r.metric),
                        fmt(r.estimate, 2),
                        ci(r.ci_low, r.ci_high, 2),
                        f"{r.p_value:.3f}",
                        f"{r.members:,}",
                    ]
                    for r in enrol.itertuples()
                ],
                numeric={1, 3, 4},
            )
        )
    if _count(get, "points_ledger"):
        try:
            exp = le.expiry_complaints(get)
        except ValueError as exc:
            section.notes.append(f"Points expiry not analysed: {exc}.")
        else:
            section.findings.append(
                f"After points expired on {exp['expiry_day']}, "
                f"{fmt(exp['after_expired_share'], pct=True)} of the "
                f"members concerned complained about points within {exp['window_days']} days, against "
                f"{fmt(exp['after_not_expired_share'], pct=True)} of the others (difference "
                f"{fmt(exp['after_difference'], pct=True)}, 95% CI "
                f"{ci(exp['after_ci_low'], exp['after_ci_high'], pct=True)}; "
                f"in the {exp['window_days']} days before: "
                f"{fmt(exp['before_difference'], pct=True)})."
            )
    tiers = ly.cx_by_tier(get, ["nps"])
    tiers = tiers[tiers["loyalty_tier"].notna()]
    if not tiers.empty:
        section.add_chart(interval_bars(tiers, "loyalty_tier", "NPS by member tier (none: not a member)"))
    return section


def promotions_section(get: TableGetter) -> Section:
    """Campaigns, in-store promotions, prices, the dip after a sale and bundles."""
    section = Section(
        "promotions",
        "Promotions and campaigns",
        intro="What campaigns, displays, prices and offers added, against what would have happened "
        "without them (95% intervals).",
    )
    if _count(get, "campaigns") and _count(get, "campaign_targets"):
        effects = cm.campaign_effects(get)
        section.add_chart(campaign_chart(effects, "Extra spend per targeted customer"))
        section.tables.append(
            TableBlock(
                "Campaigns: holdout when kept (CUPED), else matched customers (difference-in-differences)",
                [
                    "campaign",
                    "targeted",
                    "redeemed",
                    "extra spend",
                    "95% CI",
                    "extra visits",
                    "after it",
                    "method",
                ],
                [
                    [
                        str(r.name or r.campaign_id),
                        f"{r.households_targeted:,}",
                        fmt(r.redemption_rate, pct=True),
                        fmt(r.uplift_per_household),
                        ci(r.ci_low, r.ci_high),
                        fmt(r.uplift_visits, 2),
                        fmt(r.uplift_after),
                        str(r.method),
                    ]
                    for r in effects.itertuples()
                ],
                numeric={1, 2, 3, 5, 6},
            )
        )
    else:
        section.notes.append("No campaigns with targets: load campaigns and campaign_targets.")
    if not _count(get, "product_promotions"):
        section.notes.append(
            "No in-store promotions: load product_promotions (display, mailer, price by store and week)."
        )
        return section
    uplift = pm.feature_uplift(get)
    if uplift["units_uplift"].notna().any():
        section.add_chart(uplift_chart(uplift, "Extra units sold on display and in the mailer (%)"))
    endings = pm.price_endings(get)
    for r in endings.itertuples():
        section.findings.append(
            f"Price endings, {r.comparison}: {fmt(r.units_ratio, 2)}× the units per store-week (95% CI "
            f"{ci(r.ci_low, r.ci_high, 2)}) at a price {fmt(r.price_difference, pct=True)} different, over "
            f"{r.products} products."
        )
    pr = get("promotions")
    pp = get("product_promotions")
    listed = pp.filter(pp.promotion_id.notnull()).select("promotion_id").distinct()
    kinds = (
        pr.filter(pr.promotion_id.isin(listed.promotion_id))
        .select("promotion_id", "type", "name")
        .to_pandas()
    )
    for row in kinds[kinds["type"] == "limited_time"].itertuples():
        summary, daily = pm.promotion_dip(get, row.promotion_id)
        section.add_chart(dip_chart(daily, summary, f"Units per day: {row.name}"))
        section.findings.append(
            f"{row.name}: {fmt(summary['during_ratio'], 2)}× the usual units while it ran (95% CI "
            f"{ci(summary['during_ci_low'], summary['during_ci_high'], 2)}), "
            f"then {fmt(summary['after_ratio'], 2)}× "
            f"for {summary['after_days']} days "
            f"(95% CI {ci(summary['after_ci_low'], summary['after_ci_high'], 2)}); "
            f"net {fmt(summary['net_extra_units'], 0)} units."
        )
    for row in kinds[kinds["type"] == "bundle"].itertuples():
        attach = pm.bundle_attach(get, row.promotion_id)
        best = attach.sort_values("lift_vs_before", ascending=False)["product_id"].iloc[0]
        part = attach[attach["product_id"] == best]
        section.add_chart(attach_chart(part, f"Attach rate (%): {part['name'].iloc[0]}"))
    stacked = pm.stacked_offers(get)
    section.tables.append(
        TableBlock(
            "Basket value by offers used (descriptive: who uses coupons is not random)",
            ["offers", "orders", "mean basket", "95% CI", "mean discount"],
            [
                [
                    str(r.offers),
                    f"{r.orders:,}",
                    fmt(r.mean_value),
                    ci(r.ci_low, r.ci_high),
                    fmt(r.mean_discount),
                ]
                for r in stacked.itertuples()
            ],
            numeric={1, 2, 4},
        )
    )
    return section
