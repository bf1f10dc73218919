"""Render report sections into one self-contained HTML file (Plotly's JS inlined once, no CDN)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jinja2
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

import cxlens
from cxlens.report.charts import finish, safe_spec


@dataclass
class Kpi:
    """A headline number with its interval, n and change against the previous period."""

    label: str
    value: str
    ci: str
    n: str
    change: str = ""
    tone: str = "flat"


@dataclass
class Chart:
    """A Plotly figure placed in a section."""

    id: str
    title: str
    json: str


@dataclass
class TableBlock:
    """A small formatted table (strings), with the indexes of numeric columns for alignment."""

    caption: str
    header: list[str]
    rows: list[list[str]]
    numeric: set[int] = field(default_factory=set)


@dataclass
class Section:
    """One section of the report."""

    id: str
    title: str
    intro: str = ""
    kpis: list[Kpi] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    tables: list[TableBlock] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add_chart(self, fig: go.Figure) -> None:
        """Add a figure; its JSON is escaped so that customer text cannot close the script tag."""
        spec = safe_spec(finish(fig))
        title = fig.layout.title.text or self.title
        self.charts.append(Chart(f"{self.id}-chart-{len(self.charts)}", title, spec))


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("cxlens.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def render_html(title: str, subtitle: str, sections: list[Section], **extra: Any) -> str:
    """The full HTML document for the given sections."""
    template = _environment().get_template("report.html.j2")
    return template.render(
        title=title,
        subtitle=subtitle,
        sections=sections,
        plotly_js=get_plotlyjs(),
        version=cxlens.__version__,
        generated_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        **extra,
    )
