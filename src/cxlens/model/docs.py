"""Render the data model as Markdown (``docs/data-model.md`` is this output; a test keeps it so).

Regenerate with ``python -m cxlens.model.docs > docs/data-model.md``.
"""

from __future__ import annotations

from cxlens.journey.map import load_journey_map
from cxlens.model.schema import MAX_ID_CHARS, TABLE_ORDER, TABLES, Column

INTRO = f"""# The cxlens data model

Generated from `src/cxlens/model/schema.py` by `python -m cxlens.model.docs`; do not edit by hand.

Every row loaded with `cxlens ingest` (or `Workspace.ingest`) is checked against these rules.
A row that breaks one is reported as `file:row:column: reason`; by default the whole file is
then rejected and nothing is stored, or with `--quarantine` the good rows load and the bad ones
go to the `_rejects` table. Loads are idempotent: a row whose primary key is already stored is
skipped. Loads are atomic: one transaction per file.

Conventions:
- **Timestamps** are stored in UTC (`TIMESTAMP`). Input may carry an offset
  (`2024-03-01T10:00:00+01:00`, `...Z`); values without one are taken as UTC. Dates alone mean
  midnight UTC.
- **Identifiers** are text of at most {MAX_ID_CHARS} characters. Empty text counts as missing.
- **Integers** must be whole numbers (`3.0` is accepted, `3.5` is not); floats must be finite.
- **Row numbers** count records from 1: for CSV the first data row after the header is row 1,
  for NDJSON the row is the line number, for Parquet, JSON arrays and data frames the position.
- Channels and touchpoints must be ids of the journey map in force (`cxlens journey show`);
  an event without a touchpoint gets the one its `event_type` maps to.
- Unknown columns are an error (or dropped with `--allow-extra-columns`); a missing required
  column is an error for the whole file.
- Bookkeeping tables: `_loads` (one row per committed load) and `_rejects` (quarantined rows
  with row, column, reason and the raw record as JSON).
"""


def _rules(col: Column) -> str:
    parts = []
    if col.min is not None and col.max is not None:
        parts.append(f"{col.min:g} to {col.max:g}")
    elif col.min is not None:
        parts.append(f"≥ {col.min:g}")
    elif col.max is not None:
        parts.append(f"≤ {col.max:g}")
    if col.allowed:
        parts.append("one of " + ", ".join(f"`{a}`" for a in col.allowed))
    if col.allowed_from_journey:
        parts.append(f"a journey-map {col.allowed_from_journey[:-1]} id")
    limit = col.string_limit
    if limit and limit != MAX_ID_CHARS:
        parts.append(f"at most {limit:,} characters")
    if col.type.value == "json":
        parts.append("a JSON object")
    if col.references:
        parts.append(f"refers to `{col.references}`")
    if col.pii:
        parts.append("personal data")
    return "; ".join(parts)


def render_markdown() -> str:
    """The data model as a Markdown document."""
    lines = [INTRO]
    for name in TABLE_ORDER:
        table = TABLES[name]
        lines.append(f"## `{name}`\n")
        lines.append(table.description + "\n")
        lines.append(f"Primary key: {', '.join(f'`{k}`' for k in table.primary_key)}.\n")
        lines.append("| column | type | required | rules | description |")
        lines.append("|---|---|---|---|---|")
        for col in table.columns:
            lines.append(
                f"| `{col.name}` | {col.type.value} | {'yes' if col.required else ''} | "
                f"{_rules(col)} | {col.description} |"
            )
        for rule in table.row_rules:
            lines.append(f"\nRow rule: {rule.description} ({', '.join(f'`{c}`' for c in rule.any_of)}).")
        lines.append("")
    jm = load_journey_map()
    lines.append("## Channels and touchpoints of the retail default journey map\n")
    lines.append("Channels: " + ", ".join(f"`{c}`" for c in jm.channel_ids) + ".\n")
    lines.append("| stage | touchpoint | event types |")
    lines.append("|---|---|---|")
    for row in jm.rows():
        types = ", ".join(f"`{t}`" for t in str(row["event_types"]).split(", ") if t)
        lines.append(f"| {row['stage']} | `{row['touchpoint']}` | {types} |")
    # The operational tables are documented here too (one data-model document); imported late
    # because the model layer does not otherwise depend on the storage layer.
    from cxlens.ops.docs import operational_markdown

    lines.append("")
    lines.append(operational_markdown())
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
