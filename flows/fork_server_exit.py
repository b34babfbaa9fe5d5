"""Imported by khabar's fork server alone (flows.workers.PRELOAD): the fork server ends without tearing down
what it imported and built.

It ends when khabar does. Its interpreter's finalization then freed every object of pandas, pyarrow and the
entity extractor, one at a time: 80 ms after khabar itself had exited, and a caller reading khabar's output
(a pipe, a CI log) waited for it, as the fork server holds the same stderr. It has nothing to flush or
close: the workers write and commit nothing through it, and it never runs khabar's code after the preload.
The workers it forks are not affected: multiprocessing ends each with os._exit, which runs no exit handler.
"""

from __future__ import annotations

import atexit
import os

atexit.register(os._exit, 0)
