"""`python -m parley` runs the `parley` command."""

from parley.cli import run

run()
