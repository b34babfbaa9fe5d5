"""Failpoints: named places where a crash test can kill the whole job, as a power cut or kill -9 would.

Off unless KHABAR_FAILPOINT names the place (optionally `name:N` for its N-th pass in a process).
The test harness starts khabar in its own process group; the failpoint kills that group with
SIGKILL, so the CLI, its Prefect server and its workers all die at that instant.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "KHABAR_FAILPOINT"
POINTS = (
    "shard.before_write",  # a shard has processed its documents and writes nothing yet
    "parquet.before_rename",  # a Parquet part is written to its temporary name, not yet renamed
    "commit.before_tables",  # a step's parts are in place, no table has committed them yet
    "commit.between_tables",  # some tables of a step are committed (their Delta logs name the parts), not all
    "commit.before_snapshot",  # every table of the step is committed, _commits does not pin them yet
    "run.before_record",  # every shard is committed, the files snapshot and run record are not
    "run.after_record",  # the run record is written, the run's last step is not committed
)
_passes: Counter[str] = Counter()


def failpoint(name: str) -> None:
    armed = os.environ.get(ENV)
    if not armed:
        return
    point, _, nth = armed.partition(":")
    if point != name:
        return
    _passes[name] += 1
    if _passes[name] >= int(nth or 1):
        os.killpg(os.getpgid(0), signal.SIGKILL)
