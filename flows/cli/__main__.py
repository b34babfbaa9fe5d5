"""`python -m flows.cli`: the same as the khabar command."""

from flows.entry import main

main()
