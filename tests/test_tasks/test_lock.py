import multiprocessing
import os
import signal
import time

import pytest
from fixtures.locks import hold_lock

from tasks.lock import LockedError, output_lock


def test_a_second_writer_is_told_who_holds_the_folder(tmp_path):
    ready = multiprocessing.Event()
    holder = multiprocessing.Process(target=hold_lock, args=(tmp_path, ready, 30))
    holder.start()
    try:
        assert ready.wait(10)
        expected = rf"is in use by another khabar nightly run \(pid {holder.pid}, since "
        with pytest.raises(LockedError, match=expected), output_lock(tmp_path, "reprocess"):
            pass
    finally:
        holder.terminate()
        holder.join()


def test_a_writer_waits_for_the_holder_when_asked(tmp_path):
    ready = multiprocessing.Event()
    holder = multiprocessing.Process(target=hold_lock, args=(tmp_path, ready, 1))
    holder.start()
    assert ready.wait(10)
    started = time.monotonic()
    with output_lock(tmp_path, "manual run", wait_s=20):
        waited = time.monotonic() - started
    holder.join()
    assert 0.2 < waited < 20


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    ready = multiprocessing.Event()
    holder = multiprocessing.Process(target=hold_lock, args=(tmp_path, ready, 60))
    holder.start()
    assert ready.wait(10)
    os.kill(holder.pid, signal.SIGKILL)
    holder.join()
    assert (tmp_path / ".khabar.lock").exists()  # the file stays; the kernel released the lock
    with output_lock(tmp_path, "manual run"):
        pass
