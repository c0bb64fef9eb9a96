"""``python -m gridq`` runs the CLI."""

from gridq.cli import main

if __name__ == "__main__":  # not again in a spawned child, which imports this module
    main()
