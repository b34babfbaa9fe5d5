"""khabar's worker processes (flows.workers): forked from a fork server that imported their code once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_worker_finds_the_entry_point_imported_when_it_runs_the_main_script_again(tmp_path: Path) -> None:
    """multiprocessing runs the command's main script again in each worker it starts; khabar's (its console
    script) imports its entry point. Preloaded in the fork server, each worker it forks has it already; the
    command line itself (typer, rich, every command: 0.27 s) is neither imported there nor preloaded."""
    log = tmp_path / "ran.log"
    script = tmp_path / "console_script.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os
            import sys

            with open({str(log)!r}, "a") as ran:
                ran.write(f"{{os.getpid()}} {{'flows.entry' in sys.modules}} {{'typer' in sys.modules}}\\n")

            from flows.entry import main  # as khabar's console script

            if __name__ == "__main__":
                from flows.workers import ShardWorkers
                from tasks.shards import ShardSpec

                out = {str(tmp_path / "out")!r}
                specs = [ShardSpec(f"r-{{i}}", {str(tmp_path)!r}, out, (), (), "r", "f") for i in range(2)]
                with ShardWorkers(2, queued=specs) as workers:
                    results = [workers.run(spec) for spec in specs]
                print(os.getpid(), len(results))
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], cwd=REPO, capture_output=True, text=True, check=True, timeout=120
    )
    caller, n_results = done.stdout.split()
    ran = {pid: tuple(found) for pid, *found in (line.split() for line in log.read_text().splitlines())}
    assert n_results == "2"
    assert ran.pop(caller) == ("False", "False")
    assert len(ran) == 2, "the script runs again in each of the two workers"
    assert set(ran.values()) == {("True", "False")}, "a worker imported the entry point itself, or the command line"


FINDS_EXTRACTOR = """
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor

from tasks.entities import NerConfig, load_extractor, resolve


def found_built(config):
    before = load_extractor.cache_info().hits
    load_extractor(resolve(config))
    return load_extractor.cache_info().hits - before


if __name__ == "__main__":
    from flows.workers import start_fork_server

    config = NerConfig(backend=sys.argv[1], model=sys.argv[2] or None)
    start_fork_server(config)
    from tasks.entities.preload import PRELOAD_ENV

    print(PRELOAD_ENV in os.environ)  # the fork server's environment only, not khabar's
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver")) as pool:
        print(pool.submit(found_built, NerConfig()).result())
"""


def test_a_worker_finds_the_runs_entity_extractor_built_by_the_fork_server(tmp_path: Path) -> None:
    """Built once in the fork server, before the workers are forked (a CRF model: about 1 s a worker)."""
    script = tmp_path / "finds_extractor.py"
    script.write_text(FINDS_EXTRACTOR)
    done = subprocess.run(
        [sys.executable, str(script), "gazetteer", ""], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "1"]


def test_a_fork_server_that_cannot_build_the_extractor_still_forks_workers(tmp_path: Path) -> None:
    """A model that cannot be read is the workers' to report (each shard fails with the reason), not a fork server
    that dies before forking any; nor is a torch backend built before a fork, which its threads do not survive."""
    script = tmp_path / "finds_extractor.py"
    script.write_text(FINDS_EXTRACTOR)
    for backend, model in (("crf", str(tmp_path / "missing.crf")), ("bilstm", str(tmp_path / "missing.bilstm"))):
        done = subprocess.run(
            [sys.executable, str(script), backend, model], cwd=REPO, capture_output=True, text=True, check=True
        )
        assert done.stdout.split() == ["False", "0"], backend


STOPS = """
import sys
import time
from pathlib import Path

from flows.workers import ShardWorkers
from tasks.shards import ShardSpec

raw, out = Path(sys.argv[1]), sys.argv[2]
paths = tuple(p.name for p in sorted(raw.iterdir()))
specs = [ShardSpec(f"r-{i}", str(raw), out, paths, ("0" * 64,) * len(paths), "r", "f") for i in range(4)]
with ShardWorkers(2, queued=specs) as workers:
    processes = []
    while len(processes) < 2:  # the pool starts its workers as the shards queue
        processes = list((workers._executor._processes or {}).values())
        time.sleep(0.01)
    workers.stop()
    print(sum(p.is_alive() for p in processes))
"""


def test_stopped_workers_have_exited_when_stop_returns(tmp_path: Path) -> None:
    """Ctrl-C kills the workers, and the run then deletes what they wrote and no commit took: a worker still
    alive then could write a part (or leave one half written) after the deletion."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(200):
        (raw / f"{i}.txt").write_text("خبر " * 50)
    done = subprocess.run(
        [sys.executable, "-c", STOPS, str(raw), str(tmp_path / "out")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.stdout.split()[-1:] == ["0"], done.stderr


def test_the_fork_server_ends_without_tearing_down_what_it_imported(tmp_path: Path) -> None:
    """Its finalization freed pandas', pyarrow's and the extractor's objects one by one, 80 ms after khabar had
    exited, while a caller reading khabar's output waited for the pipe they share. A module it preloads keeps
    an object that writes a file when it is freed: in khabar's process (finalized) and not in the fork server
    (fails without flows.fork_server_exit among the preloads)."""
    (tmp_path / "freed_probe.py").write_text(
        textwrap.dedent(
            f"""
            import os

            LOG = os.open({str(tmp_path / "freed.log")!r}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)


            class Probe:
                def __del__(self, write=os.write, log=LOG, pid=os.getpid):  # bound now: modules go first
                    write(log, b"%d\\n" % pid())


            probe = Probe()
            """
        )
    )
    script = tmp_path / "ends.py"
    script.write_text(
        textwrap.dedent(
            """
            import multiprocessing
            import os
            import sys
            from concurrent.futures import ProcessPoolExecutor

            import freed_probe  # on PYTHONPATH: the fork server has no other way to find it

            if __name__ == "__main__":
                from flows import workers

                workers.PRELOAD.append("freed_probe")
                workers.start_fork_server()
                with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver")) as pool:
                    print(os.getpid(), pool.submit(os.getppid).result())  # the worker's parent: the fork server
            """
        )
    )
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    khabar, fork_server = done.stdout.split()
    freed = (tmp_path / "freed.log").read_text().split()
    assert khabar in freed and fork_server not in freed


def test_released_workers_exit_while_the_block_is_still_open(tmp_path: Path) -> None:
    """Once every shard is done the run releases its workers, so that their memory (800 MB at 50,000 articles)
    is not held while it writes its files table and reads its top entities (fails without release)."""
    import psutil

    from flows.workers import ShardWorkers
    from tasks.shards import ShardSpec

    specs = [ShardSpec(f"r-{i}", str(tmp_path), str(tmp_path / "out"), (), (), "r", "f") for i in range(2)]
    with ShardWorkers(2, queued=specs) as workers:
        assert [workers.run(spec).n_documents for spec in specs] == [0, 0]
        (fork_server,) = [p for p in psutil.Process().children() if "forkserver" in " ".join(p.cmdline())]
        forked = fork_server.children()
        assert len(forked) == 2
        workers.release()
        gone, alive = psutil.wait_procs(forked, timeout=10)
        assert not alive and len(gone) == 2
