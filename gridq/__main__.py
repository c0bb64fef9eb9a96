"""``python -m gridq`` runs the CLI."""

from gridq.cli import app

app(prog_name="gridq")
