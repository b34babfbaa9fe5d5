"""The khabar command line: each command parses options, builds settings, calls one function, prints.

The commands live by subject: run (processing), tables (reading the tables), jobs (reprocess,
schedules, the Prefect server), ner (entity models); what they share is in common.
"""

from __future__ import annotations

import atexit
import gc
import importlib
from typing import Annotated

import typer

from flows.cli.common import app, fail, flag
from flows.output import Chatter, stdout


def _exit_without_collecting() -> None:
    """Freeze every object before the interpreter ends: its last collections walked each object Prefect and
    pydantic made, 0.4 s after a command's last line. Registered first, so it runs after every other exit
    handler (Prefect's, multiprocessing's); nothing khabar writes waits on a collection to be closed."""
    gc.freeze()


atexit.register(_exit_without_collecting)


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        stdout.print(f"khabar {version('khabar')}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        flag("--version", text="Show khabar's version and exit", callback=_print_version, is_eager=True),
    ] = False,
    verbose: Annotated[bool, flag("--verbose", "-v", text="Stream the run's Prefect logs to the console")] = False,
    quiet: Annotated[
        bool, flag("--quiet", "-q", text="Print only errors (and the rows a command was asked for)")
    ] = False,
) -> None:
    from flows.prefect_api import quiet_prefect_environment, stream_prefect_logs

    if verbose and quiet:
        raise fail("choose --verbose or --quiet, not both")
    if verbose:
        stream_prefect_logs()
    Chatter.quiet = quiet
    quiet_prefect_environment()


# Register the commands, in the order --help lists them.
for _module in ("run", "tables", "jobs", "maintenance", "ner"):
    importlib.import_module(f"flows.cli.{_module}")
