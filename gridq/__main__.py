"""``python -m gridq`` runs the CLI."""

from gridq.cli import main

main()
