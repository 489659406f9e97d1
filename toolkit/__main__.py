"""``python -m raceproof``: the ``raceproof`` command."""

from raceproof.cli import main

main()
