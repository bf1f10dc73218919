"""Rules every ``cxlens`` command follows, checked on the commands derived from the Typer app (so
a command added later is checked too): it has help; it takes ``-o table|json|csv`` and with
``-o json`` prints one valid JSON document straight to stdout (not through Rich) on a small demo
store; the help lists the steps in order; importing the CLI loads no heavy library (start-up)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from cxlens.cli.common import OUTPUTS, PANELS, out
from cxlens.cli.main import app

runner = CliRunner()
PASSWORD = "correct horse battery"

#: Commands that take no ``-o``, and why.
NO_OUTPUT = {
    ("serve",): "runs the web server until stopped",
    ("collect", "serve"): "runs the web server until stopped",
}
#: Commands the JSON check does not run, and why (their ``-o`` is still checked above).
NOT_RUN = {
    ("text", "train"): "fits the shipped sentiment model on the public datasets (minutes)",
    ("text", "distill"): "labels feedback with the e5 model (minutes)",
    ("store", "migrate"): "needs a store of an earlier cxlens (tests/test_store.py runs it)",
    ("restore",): "needs a backup and replaces the store (tests/test_backup.py runs it with -o json)",
}
#: Libraries that make start-up slow: none may be imported by `import cxlens.cli.main` or `--help`.
HEAVY = (
    "ibis", "duckdb", "pyiceberg", "pandas", "numpy", "pyarrow", "scipy", "sklearn", "plotly",
    "fastapi", "starlette", "uvicorn", "sqlalchemy", "jinja2", "pyspark", "polars", "yaml",
)  # fmt: skip


def commands(group: Any = None, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command of the app as (path, click command), in the order the app defines them."""
    group = group or typer.main.get_command(app)
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name), command


COMMANDS = dict(commands())


def _options(command: Any) -> dict[str, Any]:
    return {opt: p for p in command.params for opt in getattr(p, "opts", [])}


def test_the_commands_are_found() -> None:
    assert len(COMMANDS) > 90
    assert {("ingest",), ("analyse", "metrics"), ("act", "cases", "open")} <= set(COMMANDS)


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert (COMMANDS[path].help or "").strip(), f"cxlens {' '.join(path)} has no help text"


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_every_command_takes_one_output_flag(path: tuple[str, ...]) -> None:
    options = _options(COMMANDS[path])
    if path in NO_OUTPUT:
        assert "-o" not in options, f"cxlens {' '.join(path)} is listed as taking no -o"
        return
    why = (
        f"cxlens {' '.join(path)}: every command takes -o/--output table|json|csv "
        "(FormatOpt in cli/common.py), or is listed in NO_OUTPUT with the reason"
    )
    assert "-o" in options, why
    assert options["-o"] is options.get("--output"), why
    if "--json" in options:  # the older spelling, kept for scripts but not shown
        assert options["--json"].hidden


def test_output_flag_rejects_an_unknown_format() -> None:
    result = runner.invoke(app, ["status", "-o", "xml"])
    assert result.exit_code == 2
    assert "'xml' is not one of table, json, csv" in result.output
    assert OUTPUTS == ("table", "json", "csv")


def test_help_lists_the_steps_in_order() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    positions = [result.output.index(panel) for panel in PANELS]
    assert positions == sorted(positions), result.output


def test_metric_names_are_case_insensitive(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "d")
    fb = tmp_path / "fb.csv"
    rows = ["feedback_id,submitted_at,source,nps,csat"]
    rows += [f"f{i},2025-01-{1 + i % 28:02d},survey,{i % 11},{1 + i % 5}" for i in range(40)]
    fb.write_text("\n".join(rows) + "\n")
    assert runner.invoke(app, ["--data-dir", data_dir, "ingest", "feedback", str(fb)]).exit_code == 0
    upper = runner.invoke(
        app, ["--data-dir", data_dir, "analyse", "metrics", "-m", "NPS", "-m", "Csat", "-o", "json"]
    )
    assert upper.exit_code == 0, upper.output
    assert [r["metric"] for r in json.loads(upper.stdout)] == ["nps", "csat"]


def test_importing_the_cli_and_its_help_load_no_heavy_library() -> None:
    """What `cxlens --help` costs is what it imports: Typer and Rich, not the storage engines or
    the analytics (docs/ARCHITECTURE.md, "Command line"). A fresh interpreter, so nothing the
    tests imported counts."""
    groups = sorted({p[:1] for p in COMMANDS if len(p) > 1} | {p[:2] for p in COMMANDS if len(p) > 2})
    script = textwrap.dedent(
        f"""
        import json, sys
        import cxlens.cli.main
        after_import = sorted(m for m in {HEAVY!r} if m in sys.modules)
        for args in [[], *{[list(g) for g in groups]!r}]:
            try:
                cxlens.cli.main.app([*args, "--help"], prog_name="cxlens")
            except SystemExit:
                pass
        after_help = sorted(m for m in {HEAVY!r} if m in sys.modules)
        sys.stderr.write(json.dumps([after_import, after_help]))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    after_import, after_help = json.loads(done.stderr)
    assert after_import == [], f"import cxlens.cli.main loads {after_import}"
    assert after_help == [], f"cxlens --help (and each group's) loads {after_help}"


# -- every command, -o json, on a small demo store ---------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, demo_store: Any) -> dict[str, Any]:
    """A small demo store with analysed texts, alerts, cases, a plan, users, keys, a survey and an
    event source, and the files some commands read; values the example arguments refer to."""
    root = tmp_path_factory.mktemp("cli-json")
    data_dir = root / "store"
    demo_store(data_dir, customers=1500, seed=11).close()

    def cli(*args: str) -> Any:
        result = runner.invoke(app, ["--data-dir", str(data_dir), *args, "-o", "json"])
        assert result.exit_code == 0, f"{args}: {result.output}"
        return json.loads(result.stdout)

    cli("text", "analyse")
    cli("act", "alerts", "run", "--no-send", "--since", "2025-12-01")
    cli("act", "cases", "open", "Broken door", "--store", "S001")  # case 1 for assign, status, note
    cli("act", "cases", "open", "Long queue", "--store", "S002")  # case 2 for resolve
    cli("act", "plans", "add", "Staff training", "--store", "S001", "--start", "2025-07-01")
    cli("users", "create-admin", "root", "--password", PASSWORD)
    for user in ("mia", "gone", "off"):
        cli("users", "create", user, "--password", PASSWORD)
    key = cli("users", "api-key", "mia")["api_key"]
    cli("collect", "survey", "add", "--template", "in_store", "--id", "shop")
    cli("collect", "sources", "add", "pos")
    cli("collect", "sources", "add", "old")
    stores_csv = root / "stores.csv"
    stores_csv.write_text("store_id,name\nS001,Store 1\n", encoding="utf-8")
    labelled = root / "labelled.csv"
    pd.DataFrame(
        {
            "text": ["great staff, loved it", "awful, broken and late"] * 5,
            "label": ["positive", "negative"] * 5,
        }
    ).to_csv(labelled, index=False)
    triggers = root / "triggers.yaml"
    triggers.write_text(
        "triggers:\n  - {id: after, survey_id: shop, event_types: [purchase], send_via: email}\n",
        encoding="utf-8",
    )
    rules_yaml = root / "rules.yaml"
    rules_yaml.write_text("rules:\n  - {id: low-nps, kind: detractor, threshold: 3}\n", encoding="utf-8")
    routing_yaml = root / "routing.yaml"
    routing_yaml.write_text("routes:\n  - {match: {store_id: S001}, owner: alice}\n", encoding="utf-8")
    return {
        "data_dir": data_dir,
        "root": root,
        "rules_yaml": rules_yaml,
        "routing_yaml": routing_yaml,
        "stores_csv": stores_csv,
        "labelled": labelled,
        "triggers": triggers,
        "key_prefix": key[:10],
    }


def example_args(path: tuple[str, ...], s: dict[str, Any]) -> list[str]:
    """Arguments a command needs (beyond -o json) on the store above; none for the rest."""
    root = s["root"]
    examples: dict[tuple[str, ...], list[str]] = {
        ("ingest",): ["stores", str(s["stores_csv"])],
        ("demo",): ["--customers", "100"],
        ("run",): ["--customers", "300"],
        ("report",): ["--out", str(root / "report.html")],
        ("journey", "between"): ["product_page", "checkout"],
        ("collect", "invite"): ["shop", "--customer", "C00000001"],
        ("collect", "survey", "add"): ["--template", "post_purchase", "--id", "pp"],
        ("collect", "survey", "show"): ["shop"],
        ("collect", "survey", "link"): ["shop", "--store", "S001"],
        ("collect", "survey", "qr"): ["shop", "--out", str(root / "qr.svg")],
        ("collect", "triggers", "run"): [str(s["triggers"])],
        ("collect", "sources", "add"): ["web"],
        ("collect", "sources", "rotate"): ["pos"],
        ("collect", "sources", "revoke"): ["old"],
        ("analyse", "drivers"): ["--boot", "10"],
        ("analyse", "effect"): ["--stores", "S001,S002", "--start", "2025-07-01"],
        ("text", "langid"): ["the staff were lovely"],
        ("text", "sentiment"): ["the staff were lovely"],
        ("text", "aspects"): ["the staff were lovely but the queue was long"],
        ("text", "redact"): ["mail me at ana@example.com"],
        ("text", "eval"): [str(s["labelled"])],
        ("customers", "clv"): ["--calibration-end", "2025-09-30"],
        ("customers", "recommend"): ["-c", "C00000001"],
        ("customers", "profile"): ["-c", "C00000001"],
        ("promo", "experiment"): ["CMP02"],
        ("act", "alerts", "run"): ["--no-send"],
        ("act", "cases", "show"): ["1"],
        ("act", "cases", "open"): ["Dirty floor", "--store", "S003"],
        ("act", "cases", "assign"): ["1", "carol"],
        ("act", "cases", "status"): ["1", "in_progress"],
        ("act", "cases", "note"): ["1", "called the customer"],
        ("act", "cases", "resolve"): ["2", "opened a second till"],
        ("act", "plans", "add"): ["Queue busting", "--store", "S002", "--start", "2025-08-01"],
        ("act", "plans", "measure"): ["1"],
        ("act", "rules", "import"): [str(s["rules_yaml"]), "--comment", "fewer alerts"],
        ("act", "rules", "export"): ["--out", str(root / "rules-out.yaml")],
        ("act", "routing", "import"): [str(s["routing_yaml"])],
        ("users", "create-admin"): ["root2", "--password", PASSWORD],
        ("users", "create"): ["kim", "--password", PASSWORD, "--role", "store_manager", "--store", "S001"],
        ("users", "api-key"): ["mia"],
        ("users", "revoke-key"): [s["key_prefix"]],
        ("users", "disable"): ["off"],
        ("users", "enable"): ["off"],
        ("users", "delete"): ["gone", "--yes"],
        ("users", "password"): ["mia", "--password", "another pass 12"],
        ("users", "access"): ["mia", "--role", "store_manager", "--store", "S002"],
        ("privacy", "set"): ["--regions", "PT,GB"],
        ("store", "files"): ["feedback"],
        ("backup",): [str(root / "backup")],
        ("privacy", "export"): ["C00000001", "--out", str(root / "access.json")],
        ("privacy", "erase"): ["C00000002", "--yes"],
    }
    return examples.get(path, [])


RUN = [p for p in COMMANDS if p not in NO_OUTPUT and p not in NOT_RUN]


@pytest.mark.slow
@pytest.mark.parametrize("path", RUN, ids=" ".join)
def test_every_command_prints_json(path: tuple[str, ...], store: dict[str, Any], tmp_path: Path) -> None:
    # the demo and the main job build a retailer of their own: not into the shared store
    data_dir = tmp_path / "own" if path in {("demo",), ("run",)} else store["data_dir"]
    args = ["--data-dir", str(data_dir), *path, *example_args(path, store), "-o", "json"]
    through_rich = io.StringIO()
    out._file = through_rich  # what goes through Rich's stdout console lands here, not on stdout
    try:
        result = runner.invoke(app, args)
    finally:
        out._file = None
    assert result.exit_code == 0, (
        f"cxlens {' '.join(path)} -o json failed (a command that needs arguments gets them in "
        f"example_args):\n{result.output}"
    )
    assert through_rich.getvalue() == "", f"cxlens {' '.join(path)} -o json printed through Rich"
    try:
        json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(
            f"cxlens {' '.join(path)} -o json printed no valid JSON: {result.stdout[:2000]}"
        ) from exc
