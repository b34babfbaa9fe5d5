"""The khabar command's entry point: for a command that runs a flow, the temporary Prefect server starts first.

The server's start (importing Prefect's server: about 4 s of CPU) is the longest wait of a run with little
to read. Started here, it overlaps the command line's own imports and checks (0.4 s, on the core that
otherwise sits idle then) as well as the rest of the run's start; `khabar run` and `khabar reprocess`
take it over (flows.prefect_api), and it is stopped at exit if the command ends before it does
(bad options, a folder in use, nothing new to read). Arguments this cannot read are left to the command
line, which then starts the server itself, as before.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

FLOW_COMMANDS = frozenset({"run", "reprocess"})
_VERBOSE = frozenset({"-v", "--verbose"})
_GLOBAL_FLAGS = _VERBOSE | {"-q", "--quiet"}  # the callback's options before the command
_NO_FLOW = frozenset({"--help", "--dry-run"})


def runs_a_flow(args: Sequence[str]) -> bool:
    """Whether the command line's arguments (the program's name left out) name a command that runs a flow."""
    rest = args[len(_global_flags(args)) :]
    return bool(rest) and rest[0] in FLOW_COMMANDS and not _NO_FLOW.intersection(rest)


def start_for(args: Sequence[str]) -> None:
    """Start the temporary server if these arguments run a flow, with --verbose's logging if they ask for it."""
    if not runs_a_flow(args):
        return
    from flows.prefect_api import start_temporary_server_early, stream_prefect_logs

    if _VERBOSE.intersection(_global_flags(args)):
        stream_prefect_logs()
    start_temporary_server_early()


def _global_flags(args: Sequence[str]) -> list[str]:
    """The callback's options before the command."""
    flags = []
    for arg in args:
        if arg not in _GLOBAL_FLAGS:
            break
        flags.append(arg)
    return flags


def main() -> None:
    start_for(sys.argv[1:])
    from flows.cli import app

    app()
