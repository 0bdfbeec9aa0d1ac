"""``python -m tuneforge`` runs the command-line interface."""

from tuneforge.cli import main

main()
