import hashlib
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas import COMMITS, TABLES, TOKENS
from tasks.storage import TMP_PREFIX, run_of, to_arrow, write_part

ALL_SCHEMAS = {**TABLES, "_commits": COMMITS}
RUN = "20261129T010203040506Z-abcdef"  # a run id as tasks.runlog.new_run_id makes them


def empty_part(out, table, name):
    return write_part(out, table, name, to_arrow({n: [] for n in TOKENS.names}, TOKENS))


def test_to_arrow_uses_the_schema_and_rejects_wrong_types():
    cols = {name: [] for name in TOKENS.names}
    assert to_arrow(cols, TOKENS).schema == TOKENS
    bad = {**cols, "doc_id": ["a"], "token_idx": ["not a number"]}
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        to_arrow(bad, TOKENS)


def _values(kind: pa.DataType):
    """Hypothesis values for one column type, nulls included."""
    from hypothesis import strategies as st

    if pa.types.is_string(kind):
        value = st.text(st.characters(codec="utf-8"), max_size=8) | st.sampled_from(["قال الوزير", "الرياض"])
    elif pa.types.is_integer(kind):
        bits = kind.bit_width - 1
        value = st.integers(-(2**bits), 2**bits - 1)
    elif pa.types.is_floating(kind):
        value = st.floats(allow_nan=False)
    elif pa.types.is_boolean(kind):
        value = st.booleans()
    elif pa.types.is_timestamp(kind):
        moments = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1))
        value = moments | moments.map(lambda m: m.replace(tzinfo=UTC)) | st.integers(-(2**50), 2**50)
    elif pa.types.is_date(kind):
        value = st.dates()
    else:
        assert pa.types.is_list(kind), f"no values for {kind}: add them here"
        value = st.lists(st.text(max_size=3), max_size=3)
    return st.lists(value | st.none(), max_size=6)


@pytest.mark.parametrize("name", sorted(ALL_SCHEMAS))
def test_to_arrow_builds_what_pyarrow_builds_from_the_same_lists(name):
    """to_arrow converts strings, numbers and timestamps with arro3 (pyarrow imports pandas for a list): the
    same values, nulls and types as pyarrow's own conversion, for every column of every table."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    schema = ALL_SCHEMAS[name]

    @settings(max_examples=25, deadline=None)
    @given(st.data())
    def check(data):
        n = data.draw(st.integers(0, 5))
        cols = {f.name: data.draw(_values(f.type).map(lambda v: (v * 6)[:n] if v else [None] * n)) for f in schema}
        assert to_arrow(cols, schema).equals(pa.Table.from_pydict(cols, schema=schema))

    check()


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
