"""``python -m cxlens`` runs the command line."""

from cxlens.cli.main import app

app(prog_name="cxlens")
