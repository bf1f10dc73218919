"""The report's customer section: RFM segments, cohort retention heatmap, CLV distribution and the
churn lift chart. Each chart is drawn from the analytic's frame (its data twin)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from cxlens.analyse.customers import churn, clv, cohorts, prepare, rfm
from cxlens.display import currency_symbol, money, with_customer_names
from cxlens.report.charts import BLUE, LAYOUT
from cxlens.report.render import Kpi, Section, TableBlock


def _fig(title: str, height: int = 360) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(**LAYOUT, title=title, height=height)
    return fig


def segment_chart(segments: pd.DataFrame) -> go.Figure:
    """Customers per RFM segment (bars)."""
    df = segments.sort_values("customers")
    fig = _fig("Customers per RFM segment")
    fig.add_bar(x=df["customers"], y=df["segment"], orientation="h", marker_color=BLUE)
    fig.update_xaxes(title="Customers")
    fig.update_yaxes(title="RFM segment")
    return fig


def retention_heatmap(table: pd.DataFrame) -> go.Figure:
    """Cohort x period retention heatmap (percent)."""
    periods = [c for c in table.columns if c != "cohort_size"]
    z = (table[periods].to_numpy(dtype=float) * 100).round(1)
    fig = _fig("Retention by first-purchase month (% of cohort buying)", 420)
    fig.add_heatmap(
        z=z,
        x=[str(p) for p in periods],
        y=[
            f"{pd.Timestamp(c):%Y-%m} (n={int(n):,})"
            for c, n in zip(table.index, table["cohort_size"], strict=True)
        ],
        colorscale="Blues",
        hovertemplate="%{y}, +%{x}: %{z}%<extra></extra>",
    )
    fig.update_yaxes(autorange="reversed", title="First-purchase month (cohort size)")
    fig.update_xaxes(title="Months since first purchase", type="category")
    return fig


def clv_histogram(values: pd.Series) -> go.Figure:
    """Distribution of predicted customer value (clipped at the 99th percentile)."""
    cap = float(np.nanpercentile(values, 99)) if len(values) else 0.0
    fig = _fig("Predicted value per customer, next period")
    fig.add_histogram(x=values.clip(upper=cap), nbinsx=40, marker_color=BLUE)
    fig.update_xaxes(title=f"Predicted value ({currency_symbol()}; top 1% shown at the 99th percentile)")
    fig.update_yaxes(title="Customers")
    return fig


def lift_chart(lift: pd.DataFrame) -> go.Figure:
    """Churn rate lift by risk decile (1 = highest predicted risk)."""
    fig = _fig("Churn lift by predicted-risk decile")
    fig.add_bar(x=lift["decile"], y=lift["lift"], marker_color=BLUE)
    fig.add_hline(y=1.0, line_dash="dot")
    fig.update_xaxes(title="Predicted-risk decile (1 = highest risk)", type="category")
    fig.update_yaxes(title="Churn rate / average churn rate")
    return fig


def customers_section(tables: prepare.Tables, *, horizon_days: int = 90, with_churn: bool = True) -> Section:
    """RFM segments, cohort retention, CLV (fitted on all but the last ``horizon_days``) and churn lift."""
    section = Section(
        "customers", "Customers", intro="Who buys, who returns, what they are worth, who may leave."
    )
    b = prepare.baskets_from_tables(tables)
    last = b.ordered_at.max().to_pandas()
    if last is None or pd.isna(last):
        section.notes.append(
            "No orders of known customers yet: load orders with a customer_id and their lines "
            "(`cxlens ingest orders orders.csv`, `cxlens ingest order_items lines.csv`) to see RFM "
            "segments, cohorts, CLV and churn."
        )
        return section
    end = rfm.as_date(last)
    scores = rfm.rfm_scores(b, end)
    segments = rfm.segment_summary(scores).to_pandas().sort_values("customers", ascending=False)
    total = int(segments["customers"].sum())
    section.kpis.append(Kpi("Customers who bought", f"{total:,}", "", ""))
    section.add_chart(segment_chart(segments))
    section.tables.append(
        TableBlock(
            "RFM segments (recency score x frequency score)",
            ["segment", "customers", "share", "mean days since last", "mean orders", "mean spend"],
            [
                [
                    str(r.segment).capitalize(),
                    f"{r.customers:,}",
                    f"{100 * r.customers / total:.1f}%",
                    f"{r.recency_days:.0f}",
                    f"{r.frequency:.1f}",
                    money(r.monetary),
                ]
                for r in segments.itertuples()
            ],
            numeric={1, 2, 3, 4, 5},
        )
    )
    counts = cohorts.cohort_counts(b).to_pandas()
    section.add_chart(retention_heatmap(cohorts.retention_table(counts, max_period=12)))
    cal_end = end - timedelta(days=horizon_days)
    result: Any = None
    values: pd.DataFrame | None = None
    try:
        result = clv.fit_clv(b, cal_end, end)
    except (ValueError, RuntimeError) as exc:
        section.notes.append(f"CLV not fitted: {exc}")
    if result is not None:
        h = result.holdout
        section.kpis.append(
            Kpi(
                f"Repeat purchases, last {horizon_days} days",
                f"{h.predicted_purchases:,.0f} predicted",
                "",
                f"{h.customers:,} customers; actual {h.actual_purchases:,.0f}",
            )
        )
        summary = rfm.summary(b, end).to_pandas()
        values = clv.predict_clv(result.bgnbd, result.gamma_gamma, summary, float(horizon_days))
        section.add_chart(clv_histogram(values["clv"]))
        section.findings.append(f"BG/NBD + Gamma-Gamma fitted to {cal_end}: {h.summary()}.")
        table = h.table()
        section.tables.append(
            TableBlock(
                f"Holdout accuracy, last {horizon_days} days: the model beside naive baselines",
                ["predictor", "purchases MAE", "purchases RMSE", "spend MAE"],
                [
                    [str(r.predictor).replace("_", "-"), f"{r.purchases_mae:.3f}", f"{r.purchases_rmse:.3f}",
                     f"{r.spend_mae:,.2f}" if r.spend_mae == r.spend_mae else "–"]
                    for r in table.itertuples()
                ],
                numeric={1, 2, 3},
            )
        )  # fmt: skip
    # trained at the last order minus two horizons, tested one horizon later
    short = churn.short_history(b.ordered_at.min().to_pandas(), end, 2 * horizon_days + 30, horizon_days)
    if with_churn and short:
        section.notes.append(short)
    elif with_churn:
        try:
            train = churn.churn_features(
                tables, end - timedelta(days=2 * horizon_days), horizon_days
            ).to_pandas()
            test = churn.churn_features(tables, cal_end, horizon_days).to_pandas()
            v = churn.time_split_validation(train, test)
        except ValueError as exc:
            section.notes.append(f"Churn model not fitted: {exc}")
        else:
            section.add_chart(lift_chart(v.lift))
            section.findings.append(
                f"Churn (no purchase within {horizon_days} days): AUC {v.auc:.2f} on a later period "
                f"(recency alone {v.recency_auc:.2f}); the riskiest tenth churns "
                f"{v.lift['lift'].iloc[0]:.1f}x as often as average (base rate {100 * v.base_rate:.0f}%)."
            )
            # the validated model scores everyone as of the last day (its features, no label yet)
            now = churn.churn_features(tables, end, horizon_days).to_pandas().drop(columns=churn.LABEL)
            risk = now.assign(churn_probability=v.model.predict_proba(now))
            top = with_customer_names(tables, churn.rank_at_risk(risk, values, v.model))
            section.tables.append(at_risk_table(top, horizon_days))
    return section


def at_risk_table(top: pd.DataFrame, horizon_days: int) -> TableBlock:
    """Customers still worth saving (:func:`cxlens.analyse.customers.churn.rank_at_risk`)."""
    rows = []
    for r in top.to_dict("records"):
        why = ", ".join(
            str(r[f"reason_{i}"]).replace("_", " ") for i in (1, 2, 3) if isinstance(r[f"reason_{i}"], str)
        )
        rows.append(
            [
                str(r["rank"]),
                f"{r['name']} ({r['customer_id']})"
                if isinstance(r.get("name"), str)
                else str(r["customer_id"]),
                money(r["value_at_risk"]),
                f"{100 * r['p_alive']:.0f}%",
                money(r["value_if_retained"]),
                f"{100 * r['churn_probability']:.0f}%",
                f"{r['recency_days']:.0f}",
                why,
            ]
        )
    return TableBlock(
        f"Customers worth saving: value at risk = P(still active) x value over {horizon_days} days "
        "if kept x churn risk",
        ["#", "customer", "value at risk", "P(active)", "value if kept", "churn risk", "days since last",
         "why at risk"],
        rows,
        numeric={0, 2, 3, 4, 5, 6},
    )  # fmt: skip
