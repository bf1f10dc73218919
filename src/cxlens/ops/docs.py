"""The operational store's tables as Markdown, from the SQLAlchemy models themselves.

Part of ``docs/data-model.md`` (see :mod:`cxlens.model.docs`), so the document cannot drift from
the tables that SQLite and PostgreSQL actually get.
"""

from __future__ import annotations

import inspect
from typing import Any, cast

from sqlalchemy import JSON, Column, Table

import cxlens.ops.act_models
import cxlens.ops.auth_models  # noqa: F401  (registers the tables on Base)
from cxlens.ops.models import Base

INTRO = """## The operational store

Surveys, invitations, responses, the events inbox, users and API keys, the audit log, alerts,
cases and action plans live in the operational store (SQLAlchemy: SQLite in the data directory by
default, PostgreSQL with `CXLENS_OPS_URL`), not in the analytics store: many web requests write
them at once. Completed responses and accepted events are copied into `feedback` and `events`
above by the exporter ([collect.md](collect.md)). The schema is migrated with Alembic whenever a
store is opened (`src/cxlens/ops/migrations/`; a store made before migrations existed is upgraded
in place). Times are naive UTC.
"""


def _type(col: Column[Any]) -> str:
    if isinstance(col.type, JSON):
        return "json"
    try:
        return str(col.type.python_type.__name__)
    except NotImplementedError:
        return str(col.type).lower()


def _notes(col: Column[Any]) -> str:
    parts = []
    if col.primary_key:
        parts.append("primary key")
    parts += [f"refers to `{fk.target_fullname}`" for fk in col.foreign_keys]
    if col.unique:
        parts.append("unique")
    return "; ".join(parts)


def operational_markdown() -> str:
    """Every operational table: its purpose (the model's docstring) and its columns."""
    lines = [INTRO]
    mappers = sorted(Base.registry.mappers, key=lambda m: cast(Table, m.local_table).name)
    for mapper in mappers:
        table = cast(Table, mapper.local_table)
        doc = inspect.getdoc(mapper.class_) or ""
        lines.append(f"### `{table.name}`\n")
        lines.append(" ".join(doc.split()) + "\n")
        lines.append("| column | type | required | notes |")
        lines.append("|---|---|---|---|")
        for col in table.columns:
            required = "yes" if not col.nullable and not col.primary_key else ""
            lines.append(f"| `{col.name}` | {_type(col)} | {required} | {_notes(col)} |")
        lines.append("")
    return "\n".join(lines)
