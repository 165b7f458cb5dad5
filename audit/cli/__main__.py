"""`python -m audit.cli`: the same entry point as the `audit` console script."""

from __future__ import annotations

from audit.cli import main

main()
