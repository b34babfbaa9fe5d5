import hashlib
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas import TOKENS
from tasks.storage import TMP_PREFIX, run_of, to_arrow, write_part

RUN = "20261129T010203040506Z-abcdef"  # a run id as tasks.runlog.new_run_id makes them


def empty_part(out, table, name):
    return write_part(out, table, name, to_arrow({n: [] for n in TOKENS.names}, TOKENS))


def test_to_arrow_uses_the_schema_and_rejects_wrong_types():
    cols = {name: [] for name in TOKENS.names}
    assert to_arrow(cols, TOKENS).schema == TOKENS
    bad = {**cols, "doc_id": ["a"], "token_idx": ["not a number"]}
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        to_arrow(bad, TOKENS)


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path):
    part = empty_part(tmp_path, "tokens", "p1")
    path = tmp_path / part.path
    assert [p.name for p in path.parent.iterdir()] == ["p1.parquet"]
    assert pq.read_schema(path).equals(TOKENS)
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"
    assert (part.size, part.sha256) == (path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())
    assert (part.table, part.name, part.rows) == ("tokens", "p1.parquet", 0)


def test_run_names_are_recognised_and_nothing_else():
    from tasks.runlog import new_run_id

    run_id = new_run_id(datetime.now(UTC))
    for name in (
        run_id,
        f"{run_id}-00003",
        f"{run_id}-kept-00000",
        f"{run_id}-compact-00001",
        f"{TMP_PREFIX}{'0' * 32}-{run_id}-00001",
    ):
        assert run_of(f"{name}.parquet") == run_id
    for name in ("keep.pdf", f"{run_id}.parquet.bak", f"x{run_id}.parquet", "orphan.parquet", f"{run_id}.csv"):
        assert run_of(name) is None


def test_a_write_failure_names_the_operating_systems_reason_whoever_raised_it():
    from tasks.storage import write_failure

    from_python = OSError(28, "No space left on device")
    from_deltalake = OSError(  # how deltalake reports it: no errno, a chain of causes, terminal colours
        "Generic LocalFileSystem error\n          \x1b[31m↳\x1b[0m Unable to copy data to file\n"
        "           \x1b[31m↳\x1b[0m No space left on device (os error 28)\n"
    )
    for exc in (from_python, from_deltalake):
        assert write_failure("out", exc) == (
            "could not write to the output folder out (No space left on device); "
            "what was committed is kept, and the next run goes on from there"
        )
