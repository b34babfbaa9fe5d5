"""`python -m flows.cli`: the same as the khabar command."""

from flows.cli import app

app()
