"""The CX report: executive summary, trends, breakdowns, stores and movers, as one offline HTML file.

Every chart is drawn from a frame returned by :mod:`cxlens.analyse.metrics` (its data twin), so
what the report shows is what the library, the CLI and the API return.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from cxlens.analyse import metrics as m
from cxlens.analyse.common import getter
from cxlens.display import DisplayNames, build_names, workspace_names
from cxlens.report.charts import interval_bars, trend_lines
from cxlens.report.journey_section import journey_section
from cxlens.report.render import Kpi, Section, TableBlock, render_html
from cxlens.storage.workspace import Workspace

#: Metrics the report can show, in order; it shows those the data has (see :func:`shown_metrics`).
REPORT_METRICS: tuple[m.MetricName, ...] = m.HEADLINE_METRICS
LABELS = {
    "nps": "NPS",
    "csat": "CSAT (% 4–5)",
    "csat_mean": "CSAT mean",
    "ces": "CES (1–7, lower is better)",
    "rating": "Star rating (1–5)",
}
#: Breakdown dimensions per metric (those with data are drawn).
BREAKDOWNS: dict[str, tuple[str, ...]] = {
    "nps": ("channel", "stage"),
    "csat": ("stage", "touchpoint"),
    "rating": ("channel", "source", "stage"),
    "ces": ("touchpoint",),
}
#: What to load when the feedback has no score at all.
NO_SCORES = (
    "The feedback holds no NPS, CSAT, CES or star rating yet. Load scored feedback, e.g. "
    "`cxlens ingest feedback reviews.csv --map rating=Stars --map text=Review --set source=review` "
    "(see docs/own-data.md)."
)
#: The other score sections, when there is no score: the summary says what to load.
NO_SCORES_SEE_SUMMARY = "No scores yet: see the executive summary for what to load."


def _fmt(value: Any, digits: int = 1) -> str:
    return (
        "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"
    )


def _rows(frame: pd.DataFrame) -> list[Any]:
    """Rows as attribute-access tuples (untyped: columns vary by frame)."""
    return list(frame.itertuples(index=False))


def _period(value: object, grain: str) -> str:
    ts = pd.Timestamp(value)  # type: ignore[arg-type]
    if grain == "month":
        return ts.strftime("%Y-%m")
    if grain == "quarter":
        return f"{ts.year}-Q{ts.quarter}"
    return ts.strftime("%Y-%m-%d")


def shown_metrics(tables: m.Tables, **opts: Any) -> list[m.MetricName]:
    """The report's metrics that have answers (NPS, CSAT, CES, star rating, in that order)."""
    return m.available_metrics(tables, REPORT_METRICS, journey_map=opts.get("journey_map"))


def executive_summary(
    tables: m.Tables, grain: m.Grain, metrics: list[m.MetricName] | None = None, **opts: Any
) -> Section:
    """Headline metrics for the latest period, with the change against the previous one."""
    section = Section("summary", "Executive summary")
    metrics = shown_metrics(tables, **opts) if metrics is None else metrics
    if not metrics:
        section.intro = "No scores yet."
        section.notes.append(NO_SCORES)
        fb = getter(tables)("feedback")
        texts = int(fb.filter(fb.brand.isnull()).text.count().to_pandas())
        if texts:
            section.findings.append(f"{texts:,} feedback texts: see the voice of the customer below.")
        return section
    head = m.headline(tables, metrics, grain, **opts)
    period = _period(head["period"].iloc[0], grain)
    previous = _period(head["previous_period"].iloc[0], grain)
    section.intro = f"Latest {grain}: {period}, compared with {previous}."
    if head.attrs.get("comparison"):
        section.intro += f" Note: {head.attrs['comparison']}."
    for row in _rows(head):
        tone = {"better": "good", "worse": "bad"}.get(str(row.verdict), "flat")
        digits = 1 if row.metric not in ("ces", "rating") else 2
        change = ""
        if not math.isnan(row.change):
            sign = "+" if row.change >= 0 else "−"
            change = (
                f"{sign}{abs(row.change):.1f} vs {previous} "
                f"({'significant' if row.significant else 'not significant'}, p={row.p_value:.3f})"
            )
        elif row.n:
            change = f"no answers in {previous} to compare with"
        section.kpis.append(
            Kpi(
                label=LABELS.get(row.metric, row.metric),
                value=_fmt(row.value, digits),
                ci=f"{_fmt(row.ci_low, digits)} to {_fmt(row.ci_high, digits)}",
                n=f"{row.n:,}" + (" (small n)" if row.small_n else ""),
                change=change,
                tone=tone,
            )
        )
        if row.verdict in ("better", "worse"):
            section.findings.append(
                f"{LABELS.get(row.metric, row.metric)} got {row.verdict}: {_fmt(row.previous_value)} → "
                f"{_fmt(row.value)} ({row.change:+.1f}, 95% CI {_fmt(row.change_ci_low)} to "
                f"{_fmt(row.change_ci_high)}, p={row.p_value:.3f})."
            )
        elif row.verdict == "no significant change":
            section.findings.append(
                f"{LABELS.get(row.metric, row.metric)}: no significant change ({row.change:+.1f}, "
                f"p={row.p_value:.2f})."
            )
    missing = [LABELS[x].split(" (")[0] for x in REPORT_METRICS if x not in metrics]
    if missing:
        section.notes.append(
            f"Not in the data: {', '.join(missing)} (map a column to it on `cxlens ingest feedback` "
            "to add it)."
        )
    return section


def trends(
    tables: m.Tables, grain: m.Grain, metrics: list[m.MetricName] | None = None, **opts: Any
) -> Section:
    """One trend chart per metric with its interval band."""
    section = Section("trends", "Trends", intro=f"Each {grain}, with 95% intervals.")
    metrics = shown_metrics(tables, **opts) if metrics is None else metrics
    if not metrics:
        section.notes.append(NO_SCORES_SEE_SUMMARY)
        return section
    data = m.trend(tables, metrics, grain, **opts)
    for metric in metrics:
        part = data[data["metric"] == metric]
        if not part.empty:
            section.add_chart(
                trend_lines(
                    part,
                    "period",
                    LABELS[metric],
                    value_range=m.METRICS[metric].range,
                    y_title=LABELS[metric],
                    x_title=grain.capitalize(),
                )
            )
    if data["period"].nunique() < 2:
        section.notes.append(
            f"All scored feedback falls in one {grain}: load more periods to see a trend "
            "(or check the submitted_at column and --date-format)."
        )
    return section


#: The kind of id each breakdown or mover dimension holds (for its display names).
DIMENSION_KINDS = {"channel": "channel", "stage": "stage", "touchpoint": "touchpoint", "store_id": "store"}
DIMENSION_TITLES = {"store_id": "store", "product_id": "product"}
MOVER_COLUMNS = ("direction", "before", "now", "change", "95% CI", "p", "n now")


def breakdowns(
    tables: m.Tables,
    metrics: list[m.MetricName] | None = None,
    names: DisplayNames | None = None,
    **opts: Any,
) -> Section:
    """Each metric the data has by channel, journey stage, touchpoint or source (where known)."""
    names = names or build_names(journey_map=opts.get("journey_map"))
    section = Section(
        "breakdowns",
        "Breakdowns",
        intro="Over the whole period. Bars show the value, whiskers the 95% interval.",
    )
    metrics = shown_metrics(tables, **opts) if metrics is None else metrics
    plans = [(x, BREAKDOWNS[x]) for x in metrics if x in BREAKDOWNS]
    if "nps" in metrics and "csat" in metrics:  # surveys: the two classic breakdowns are enough
        plans = [p for p in plans if p[0] in ("nps", "csat")]
    for metric, dims in plans:
        data = m.breakdown(tables, metric, dims, **opts)
        for dim in dims:
            part = data[(data["dimension"] == dim) & data["level"].notna()]
            if len(part) > 1:  # one level (every review "web") compares nothing
                shown = part.assign(level=names.many(part["level"], DIMENSION_KINDS.get(dim)))
                title = f"{LABELS[metric]} by {dim}"
                section.add_chart(
                    interval_bars(shown, "level", title, x_title=LABELS[metric], y_title=dim.capitalize())
                )
    if not metrics:
        section.notes.append(NO_SCORES_SEE_SUMMARY)
    elif not section.charts:
        section.notes.append(
            "The scored feedback has no channel, stage or source with two or more values to compare: "
            "map a column to channel or touchpoint on `cxlens ingest feedback`, or load feedback from "
            "several channels or sources."
        )
    return section


def _ranking_table(frame: pd.DataFrame, caption: str) -> TableBlock:
    rows = [
        [
            str(r.rank),
            str(r.store_id),
            str(r.store_name),
            _fmt(r.value),
            f"{_fmt(r.ci_low)} to {_fmt(r.ci_high)}",
            f"{r.n:,}",
        ]
        for r in _rows(frame)
    ]
    return TableBlock(caption, ["rank", "store", "name", "value", "95% CI", "n"], rows, numeric={0, 3, 5})


def _chain_vs_stores(
    section: Section, tables: m.Tables, metric: m.MetricName, names: DisplayNames, **opts: Any
) -> None:
    """A note and a channel split when answers about no store (online) make the chain's figure
    differ from the stores' own."""
    chain = m.metric_table(tables, metric, [], None, **opts)
    per_store = m.metric_table(tables, metric, ["store_id"], None, **opts)
    per_store = per_store[per_store["store_id"].notna()]
    if chain.empty or per_store.empty:
        return
    n_all, n_stores = int(chain["n"].iloc[0]), int(per_store["n"].sum())
    if n_stores >= n_all:
        return
    pooled = float((per_store["value"] * per_store["n"]).sum() / n_stores)
    label = LABELS[metric]
    section.notes.append(
        f"Chain vs stores: the chain's {label} counts every answer ({_fmt(chain['value'].iloc[0])}, "
        f"n={n_all:,}); answers about a store give {_fmt(pooled)} (n={n_stores:,}). Online answers "
        "name no store and count only in the chain figure, so the two differ when channels score "
        "differently (split by channel below)."
    )
    channels = m.metric_table(tables, metric, ["channel"], None, **opts).sort_values("n", ascending=False)
    section.tables.append(
        TableBlock(
            f"{label} by channel",
            ["channel", "value", "95% CI", "n"],
            [
                [
                    names(r.channel, "channel") + (" (small n)" if r.small_n else ""),
                    _fmt(r.value),
                    f"{_fmt(r.ci_low)} to {_fmt(r.ci_high)}",
                    f"{r.n:,}",
                ]
                for r in _rows(channels)
            ],
            numeric={1, 3},
        )
    )


def stores(
    tables: m.Tables,
    metrics: list[m.MetricName] | None = None,
    names: DisplayNames | None = None,
    **opts: Any,
) -> Section:
    """Best and worst stores by the first metric the data has, and every store's value with its interval."""
    metrics = shown_metrics(tables, **opts) if metrics is None else metrics
    section = Section("stores", "Stores")
    if not metrics:
        section.notes.append(NO_SCORES_SEE_SUMMARY)
        return section
    lead = metrics[0]
    label = LABELS[lead]
    section.intro = f"Stores ranked by {label} over the whole period."
    ranking = m.best_worst(tables, lead, ("store_id", "store_name"), k=5, **opts)
    if ranking.ranked.empty and ranking.excluded.empty:
        section.notes.append(
            "The scored feedback names no store: map a column to store_id on `cxlens ingest feedback` "
            "and load the stores (`cxlens ingest stores stores.csv`) for their names and regions."
        )
        return section
    if ranking.ranked.empty:
        section.notes.append(ranking.note)
        return section
    section.tables.append(_ranking_table(ranking.best, f"Best stores by {label}"))
    section.tables.append(_ranking_table(ranking.worst, f"Worst stores by {label}"))
    section.notes.append(ranking.note)
    second = next((x for x in metrics[1:] if x in ("csat", "rating")), None)
    if second is not None:
        other = m.best_worst(tables, second, ("store_id", "store_name"), k=5, **opts)
        if not other.ranked.empty:
            section.tables.append(_ranking_table(other.worst, f"Worst stores by {LABELS[second]}"))
    _chain_vs_stores(section, tables, lead, names or build_names(journey_map=opts.get("journey_map")), **opts)
    ranked = ranking.ranked
    labelled = ranked.assign(label=ranked["store_name"].fillna(ranked["store_id"]))
    section.add_chart(interval_bars(labelled, "label", f"{label} by store", x_title=label, y_title="Store"))
    return section


def movers(
    tables: m.Tables,
    grain: m.Grain,
    metrics: list[m.MetricName] | None = None,
    names: DisplayNames | None = None,
    **opts: Any,
) -> Section:
    """The biggest significant changes against the previous period, by store and by touchpoint."""
    names = names or build_names(journey_map=opts.get("journey_map"))
    section = Section(
        "movers",
        "Biggest movers",
        intro=f"Significant changes (p < 0.05) in the latest {grain} against the one before; "
        "small n left out.",
    )
    metrics = shown_metrics(tables, **opts) if metrics is None else metrics
    plan = [
        (metric, dim)
        for metric, dim in (
            ("nps", "store_id"),
            ("csat", "store_id"),
            ("csat", "touchpoint"),
            ("nps", "touchpoint"),
            ("rating", "store_id"),
            ("rating", "product_id"),
        )
        if metric in metrics
    ]
    if not plan:
        section.notes.append(
            NO_SCORES_SEE_SUMMARY if not metrics else "No metric with stores, touchpoints or products."
        )
    for metric, dim in plan:
        moved = m.biggest_movers(tables, metric, dim, grain, k=8, **opts)
        note = moved.attrs.get("comparison")
        if note and f"Note: {note}." not in section.intro:
            section.intro += f" Note: {note}."
        if moved.empty:
            levels = m.metric_table(tables, metric, [dim], None, **opts)[dim].notna().sum()
            what = "no significant change" if levels else f"the scored feedback names no {dim}"
            section.notes.append(f"{LABELS[metric]} by {dim}: {what}.")
            continue
        rows = [
            [
                names(getattr(r, dim), DIMENSION_KINDS.get(dim)),
                str(r.direction),
                _fmt(r.value_b),
                _fmt(r.value_a),
                f"{r.diff:+.1f}",
                f"{_fmt(r.diff_ci_low)} to {_fmt(r.diff_ci_high)}",
                f"{r.p_value:.4f}",
                f"{r.n_a:,}",
            ]
            for r in _rows(moved)
        ]
        section.tables.append(
            TableBlock(
                f"{LABELS[metric]} by {DIMENSION_TITLES.get(dim, dim)}",
                [DIMENSION_TITLES.get(dim, dim), *MOVER_COLUMNS],
                rows,
                numeric={2, 3, 4, 6, 7},
            )
        )
    return section


def voice_of_customer(ws: Workspace, engine: str | None, grain: str) -> Section:
    """Aspect x sentiment and negative-share trend, when the text extra is installed."""
    try:
        from cxlens.report.text_section import text_section
        from cxlens.text.store import text_tables
    except ImportError:
        return _missing_extra("text", "Voice of the customer", "text")
    analysed = ws.has_table("feedback_aspects")
    texts = ws.query("SELECT count(text) FROM feedback")[0][0]
    if not texts or not analysed:
        section = Section("text", "Voice of the customer")
        section.notes.append(
            "The feedback has no text: map the column with the customers' words on "
            "`cxlens ingest feedback` (e.g. `--map text=Review`) to see aspects and sentiment."
            if not texts
            else "Feedback texts are not analysed yet: run `cxlens text analyse`."
        )
        return section
    return text_section(text_tables(ws, engine), grain)


def customers(tables: m.TableGetter) -> Section:
    """RFM, cohorts, CLV and churn lift, when the customers extra is installed."""
    try:
        from cxlens.report.customers_section import customers_section
    except ImportError:
        return _missing_extra("customers", "Customers", "customers")
    return customers_section(tables)


def drivers(ws: Workspace, engine: str | None) -> Section:
    """Key drivers (with text aspects once analysed), the priority matrix and the benchmark."""
    from cxlens.analyse.drivers import text_getter
    from cxlens.report.drivers_section import drivers_section

    return drivers_section(text_getter(ws, engine), journey_map=ws.journey_map)


def loyalty(tables: m.TableGetter) -> Section:
    """The loyalty programme: members, tiers, points, experience by tier and its effects."""
    from cxlens.report.loyalty_section import loyalty_section

    return loyalty_section(tables)


def promotions(tables: m.TableGetter) -> Section:
    """Campaigns, in-store promotions, prices, the dip after a sale and bundles."""
    from cxlens.report.loyalty_section import promotions_section

    return promotions_section(tables)


def text_tables_of(ws: Workspace, engine: str | None) -> m.TableGetter:
    """The workspace's tables plus the text tables once analysed (for sentiment and aspects)."""
    from cxlens.analyse.drivers import text_getter

    return text_getter(ws, engine)


def _missing_extra(section_id: str, title: str, extra: str) -> Section:
    section = Section(section_id, title)
    section.notes.append(f"Install cxlens[{extra}] to see this section.")
    return section


def data_section(ws: Workspace | None) -> Section:
    """What the report is based on: rows per table."""
    section = Section("data", "Data")
    if ws is None:
        return section
    counts = ws.counts()
    section.tables.append(
        TableBlock("Rows in the store", ["table", "rows"], [[k, f"{v:,}"] for k, v in counts.items()], {1})
    )
    return section


def build_report(
    ws: Workspace,
    path: str | Path,
    *,
    engine: str | None = None,
    grain: m.Grain = "month",
    title: str = "Customer experience report",
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write the HTML report for the workspace's data to ``path`` and return the path."""
    tables: m.TableGetter = lambda name: ws.table(name, engine)  # noqa: E731
    # The workspace's journey map (not the default) decides stages and their order.
    opts = {"journey_map": ws.journey_map}
    names = workspace_names(ws)
    if progress:
        progress("metrics")
    shown = shown_metrics(tables, **opts)
    steps: list[tuple[str, Callable[[], Section]]] = [
        ("summary", lambda: executive_summary(tables, grain, shown, **opts)),
        ("trends", lambda: trends(tables, grain, shown, **opts)),
        ("breakdowns", lambda: breakdowns(tables, shown, names, **opts)),
        ("stores", lambda: stores(tables, shown, names, **opts)),
        ("movers", lambda: movers(tables, grain, shown, names, **opts)),
        ("journeys", lambda: journey_section(tables, ws.journey_map, workspace=ws, engine=engine)),
        ("text", lambda: voice_of_customer(ws, engine, grain)),
        ("customers", lambda: customers(tables)),
        ("drivers", lambda: drivers(ws, engine)),
        ("loyalty", lambda: loyalty(text_tables_of(ws, engine))),
        ("promotions", lambda: promotions(tables)),
        ("data", lambda: data_section(ws)),
    ]
    sections = []
    for name, step in steps:
        if progress:
            progress(name)
        sections.append(step())
    subtitle = f"{ws.journey_map.name} journey map · data in {ws.data_dir}"
    html = render_html(title, subtitle, sections)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return out


def export_pdf(html_path: Path, pdf_path: Path, chromium: str = "/usr/bin/chromium") -> Path:
    """Print the HTML report to PDF with Playwright driving a local Chromium (no download)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise RuntimeError(
            "PDF export needs Playwright: pip install 'cxlens[dev]' and Debian's chromium"
        ) from exc
    if not Path(chromium).exists():
        raise RuntimeError(f"PDF export needs Chromium at {chromium} (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(html_path.resolve().as_uri(), wait_until="load")
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length > 0 || true")
        page.pdf(path=str(pdf_path), format="A4", print_background=True)
        browser.close()
    return pdf_path


#: Flags for headless Chromium on machines with no network (no background connections).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
