"""Validate the output folder: every committed file there, unchanged, readable and of its table's schema; the
Delta logs and the last snapshot sound; and the tables consistent."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import DOCUMENT_TABLES, TABLES
from tasks.storage import OutputFolderError, empty_table, table_dir
from tasks.tables import audit, committed_digests, latest_snapshot


@dataclass(frozen=True)
class Problem:
    table: str
    path: str  # the part, or the table when the problem spans parts
    message: str


@dataclass
class CheckResult:
    problems: list[Problem] = field(default_factory=list)  # empty: the folder is sound
    rows: dict[str, int] = field(default_factory=dict)  # rows read per table
    leftovers: int = 0  # khabar's own temporary files, which the next writer deletes


def check_tables(out_dir: str | Path) -> CheckResult:
    """Check every committed file of the last snapshot (there, unchanged since commit, readable, of its
    table's schema), the files around them (nothing foreign, no lost log) and the tables' consistency."""
    out = Path(out_dir)
    found = audit(out)
    result = CheckResult(leftovers=len(found.temporary))
    result.problems += [Problem("-", str(out), sentence) for sentence in found.problems(out)]
    try:
        snapshot = latest_snapshot(out)
    except (OutputFolderError, OSError) as exc:
        return CheckResult([*result.problems, Problem("-", str(out), str(exc))])
    if not snapshot.versions:
        result.problems.append(Problem("-", str(out), f"{out} holds no khabar tables; run `khabar run` first"))
        return result
    tables: dict[str, pa.Table] = {}
    for name, schema in TABLES.items():
        parts = []
        try:
            actions, digests = snapshot.actions(name), committed_digests(out, name)
        except (OutputFolderError, OSError) as exc:
            result.problems.append(Problem(name, str(table_dir(out, name)), str(exc)))
            actions, digests = (), {}
        for file_name, size in actions:
            path = table_dir(out, name) / file_name
            table = _read_part(name, path, size, digests.get(file_name, ""), schema, result.problems)
            if table is not None:
                parts.append(table)
        tables[name] = pa.concat_tables(parts) if parts else empty_table(schema)
    result.problems += _consistency(tables)
    result.rows = {name: t.num_rows for name, t in tables.items()}
    return result


def _read_part(
    name: str, path: Path, size: int, sha256: str, schema: pa.Schema, problems: list[Problem]
) -> pa.Table | None:
    """One committed file, checked against its committed size and hash and its table's schema; None if unusable."""
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        problems.append(Problem(name, str(path), "committed in the table's Delta log but missing"))
        return None
    except OSError as exc:
        problems.append(Problem(name, str(path), f"unreadable: {exc.strerror}"))
        return None
    if len(body) != size or (sha256 and hashlib.sha256(body).hexdigest() != sha256):
        problems.append(
            Problem(name, str(path), "changed since khabar committed it (its size or sha256 differs from the commit's)")
        )
        return None
    try:
        # Read here, on this thread, and closed before returning: pq.read_table hands an in-memory buffer to
        # pyarrow's thread pool, whose last reference could be dropped on a pool thread during interpreter
        # exit, aborting it (SIGABRT) in about one check in ten (apache/arrow#33975, #34314).
        with pq.ParquetFile(pa.BufferReader(body)) as reader:
            table = reader.read(use_threads=False)
    except (pa.ArrowException, OSError) as exc:
        problems.append(Problem(name, str(path), f"unreadable Parquet: {exc}"))
        return None
    later = [f for f in schema if f.nullable and f.name not in table.schema.names]
    if later and table.schema.equals(pa.schema([f for f in schema if f not in later]), check_metadata=False):
        table = _with_nulls(table, schema)  # written before the table gained these columns: they read as nulls
    if not table.schema.equals(schema, check_metadata=False):
        problems.append(Problem(name, str(path), f"schema differs from {name}'s: {_schema_diff(table, schema)}"))
        return None
    try:
        table.validate(full=True)
    except pa.ArrowInvalid as exc:
        problems.append(Problem(name, str(path), f"invalid data: {exc}"))
        return None
    nulls = [f.name for f in schema if not f.nullable and table.column(f.name).null_count]
    if nulls:
        problems.append(Problem(name, str(path), f"nulls in required columns: {', '.join(nulls)}"))
    return table


def _with_nulls(table: pa.Table, schema: pa.Schema) -> pa.Table:
    columns = [table.column(f.name) if f.name in table.schema.names else pa.nulls(len(table), f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def _consistency(t: dict[str, pa.Table]) -> list[Problem]:
    problems = []
    docs = t["documents"]
    doc_ids = docs.column("doc_id").to_pylist()
    repeated = [d for d, n in Counter(doc_ids).items() if n > 1]
    if repeated:
        problems.append(Problem("documents", "documents", f"{len(repeated)} doc_ids appear twice, e.g. {repeated[0]}"))
    known = set(doc_ids)
    for name in (*DOCUMENT_TABLES[:-1], "files"):
        ids = {d for d in t[name].column("doc_id").to_pylist() if d is not None}
        orphans = ids - known
        if orphans:
            problems.append(
                Problem(name, name, f"{len(orphans)} doc_ids without a document, e.g. {sorted(orphans)[0]}")
            )
    lengths = dict(zip(doc_ids, docs.column("n_chars").to_pylist(), strict=True))
    for name, child in (("sentences", "n_sentences"), ("tokens", "n_tokens"), ("entities", "n_entities")):
        counts = Counter(t[name].column("doc_id").to_pylist())
        wrong = [d for d, n in zip(doc_ids, docs.column(child).to_pylist(), strict=True) if counts.get(d, 0) != n]
        if wrong:
            problems.append(Problem(name, name, f"{len(wrong)} documents whose {child} differs from their rows"))
        ends = zip(t[name].column("doc_id").to_pylist(), t[name].column("char_end").to_pylist(), strict=True)
        beyond = sum(end > lengths.get(d, end) for d, end in ends)
        if beyond:
            problems.append(Problem(name, name, f"{beyond} rows end beyond their document's text"))
    if disagreeing := _boilerplate_disagreements(t["sentences"]):
        problems.append(
            Problem(
                "sentences", "sentences", f"{disagreeing} rows whose boilerplate marks disagree with their sentence"
            )
        )
    for name, key in (("runs", "run_id"), ("files", "path")):
        repeated = [k for k, n in Counter(t[name].column(key).to_pylist()).items() if n > 1]
        if repeated:
            problems.append(Problem(name, name, f"{len(repeated)} {key}s appear twice, e.g. {repeated[0]}"))
    return problems


def _boilerplate_disagreements(sentences: pa.Table) -> int:
    """Rows whose boilerplate_chars is negative or past the sentence, or whose is_boilerplate does not say
    whether it covers all of it (rows written before boilerplate was marked have both null)."""
    import pyarrow.compute as pc

    length = pc.subtract(sentences.column("char_end"), sentences.column("char_start"))
    chars, whole = sentences.column("boilerplate_chars"), sentences.column("is_boilerplate")
    wrong = pc.or_kleene(
        pc.or_kleene(pc.less(chars, 0), pc.greater(chars, length)),
        pc.not_equal(whole, pc.equal(chars, length)),
    )
    wrong = pc.or_kleene(wrong, pc.not_equal(pc.is_null(chars), pc.is_null(whole)))
    return pc.sum(pc.fill_null(wrong, False).cast(pa.int64())).as_py() or 0


def _schema_diff(table: pa.Table, schema: pa.Schema) -> str:
    have = {f.name: f.type for f in table.schema}
    want = {f.name: f.type for f in schema}
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    retyped = sorted(n for n in set(have) & set(want) if have[n] != want[n])
    return (
        "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unexpected {', '.join(extra)}" if extra else "",
                f"other type for {', '.join(retyped)}" if retyped else "",
            )
            if part
        )
        or "field order or nullability"
    )
