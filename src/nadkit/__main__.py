"""``python -m nadkit`` runs the command line."""

from nadkit.cli import main

main()
