"""``python -m impactlink``."""

from impactlink.cli import main

main()
