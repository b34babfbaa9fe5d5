"""The raw folder's files: what is there, what changed since the last run, and the files table."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from stat import S_ISLNK, S_ISREG
from typing import TypeVar

from tasks.documents import content_hash, doc_id_for
from tasks.quarantine import CHANGED_DURING_RUN, NOT_A_FILE, OUTSIDE_RAW, TOO_LARGE, UNREADABLE, VANISHED

T = TypeVar("T")
OnRead = Callable[[str, str, bytes], None]  # (path, content hash, bytes) of a file read whole

INPUT_SUFFIX = ".txt"


def stored_path(fs_rel: str) -> str:
    r"""A path as khabar stores it: UTF-8 text, a byte that is not UTF-8 written `\xHH`, a backslash `\\`.

    Linux file names are bytes; Python gives undecodable ones as surrogates, which Arrow and JSON
    refuse. This mapping is one-to-one, so every name is stored and read back exactly
    (`fs_path`); names that are valid UTF-8 without a backslash (nearly all) are stored unchanged.
    """
    if "\\" not in fs_rel and _is_utf8(fs_rel):  # the common case (nearly every name), checked fast
        return fs_rel
    return os.fsencode(fs_rel).replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace")


def _is_utf8(name: str) -> bool:
    """No surrogates: a name whose bytes all decoded as UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_ESCAPE = re.compile(rb"\\(\\|x[0-9a-f]{2})")


def fs_path(stored: str) -> str:
    """The file-system path of a stored path (undecodable bytes as surrogates, as os functions take them)."""
    if "\\" not in stored:
        return stored
    raw = _ESCAPE.sub(lambda m: b"\\" if m[1] == b"\\" else bytes([int(m[1][1:], 16)]), stored.encode("utf-8"))
    return os.fsdecode(raw)


@dataclass(frozen=True, slots=True)
class FileStat:
    path: str  # relative to the raw folder, POSIX separators, as stored_path gives it
    size_bytes: int
    mtime_us: int


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One row of the files table."""

    path: str
    size_bytes: int
    mtime_us: int
    content_hash: str
    doc_id: str | None
    status: str
    reason: str | None
    detail: str | None
    first_seen_run_id: str
    last_seen_run_id: str

    def seen_by(self, run_id: str) -> FileRecord:
        """This row as a later run that saw the file unchanged records it: 3.3 µs, where dataclasses.replace
        took 6.8 µs (0.14 s of a run with nothing new over 20,000 files)."""
        fields = (self.path, self.size_bytes, self.mtime_us, self.content_hash, self.doc_id, self.status)
        return FileRecord(*fields, self.reason, self.detail, self.first_seen_run_id, run_id)


@dataclass(frozen=True, slots=True)
class FileFacts:
    """A file read this run: its hash, or why it could not be read."""

    stat: FileStat
    content_hash: str | None
    reason: str | None = None
    detail: str | None = None


def scan_raw(raw_dir: str | Path) -> list[FileStat]:
    """Every *.txt under the raw folder (links not followed into folders), sorted by path."""
    found: list[FileStat] = []
    _scan(os.fspath(raw_dir), "", found)
    return sorted(found, key=lambda s: s.path)


def _scan(folder: str, prefix: str, found: list[FileStat]) -> None:
    """os.scandir, recursively: one stat per file and no Path objects (20,000 files in a fraction of a second)."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                _scan(entry.path, f"{prefix}{entry.name}/", found)
            elif entry.name.lower().endswith(INPUT_SUFFIX) and not entry.is_dir():  # links to folders: not followed
                try:
                    st = entry.stat()
                except OSError:
                    st = entry.stat(follow_symlinks=False)  # a dangling link is still a file we saw
                found.append(FileStat(stored_path(prefix + entry.name), st.st_size, st.st_mtime_ns // 1000))


@dataclass(frozen=True)
class RawChanges:
    """The raw folder against the files table of the last run: what the next run reads, and the rest."""

    new: list[FileStat]
    changed: list[FileStat]  # size or mtime differ from the last run's
    retried: list[FileStat]  # unchanged, but their shard failed last time, or back after going missing
    unchanged: list[FileStat]
    missing: list[str]  # seen by the last run, gone from the raw folder now
    basis: tuple[object, ...] = ()  # the committed files table compared against (Snapshot.actions("files"))

    @property
    def to_read(self) -> list[FileStat]:
        return sorted([*self.new, *self.changed, *self.retried], key=lambda s: s.path)

    @property
    def scanned(self) -> list[FileStat]:
        """Every file the look saw, by path, as scan_raw gives them."""
        return sorted([*self.new, *self.changed, *self.retried, *self.unchanged], key=lambda s: s.path)


def raw_changes(
    scanned: Iterable[FileStat], previous: Mapping[str, FileRecord], basis: tuple[object, ...] = ()
) -> RawChanges:
    changes = RawChanges([], [], [], [], [], basis)
    seen = set()
    for stat in scanned:
        seen.add(stat.path)
        prev = previous.get(stat.path)
        if prev is None:
            changes.new.append(stat)
        elif (prev.size_bytes, prev.mtime_us) != (stat.size_bytes, stat.mtime_us):
            changes.changed.append(stat)
        elif prev.status in ("failed", "missing"):
            changes.retried.append(stat)
        else:
            changes.unchanged.append(stat)
    last_run = max((r.last_seen_run_id for r in previous.values()), default=None)
    changes.missing.extend(sorted(p for p, r in previous.items() if p not in seen and r.last_seen_run_id == last_run))
    return changes


def files_to_read(scanned: Iterable[FileStat], previous: Mapping[str, FileRecord]) -> list[FileStat]:
    """New files, files whose size or mtime changed, and files whose shard failed last time."""
    return raw_changes(scanned, previous).to_read


def read_facts(
    raw_dir: str | Path, stats: Iterable[FileStat], max_bytes: int, on_read: OnRead | None = None
) -> list[FileFacts]:
    """Hash each file's bytes; what cannot be read whole and unchanged gets a reason instead.

    Links may point inside the raw folder only; anything but a regular file (a FIFO would block
    the read), a file above max_bytes, one that vanishes, cannot be opened, or changes while it is
    read is not hashed. on_read(path, content hash, bytes) sees each file read whole and unchanged
    (the run's boilerplate counter).
    """
    root = Path(raw_dir).resolve()
    prefix = f"{root}{os.sep}"
    facts = []
    for stat in stats:
        full = prefix + fs_path(stat.path)  # not root / ...: pathlib costs more than the read (20,000 files)
        try:
            facts.append(_fact(root, full, stat, max_bytes, on_read))
        except FileNotFoundError:
            facts.append(FileFacts(stat, None, VANISHED, "the file disappeared before it was read"))
        except OSError as exc:
            facts.append(FileFacts(stat, None, UNREADABLE, exc.strerror or type(exc).__name__))
    return facts


def _fact(root: Path, full: str, stat: FileStat, max_bytes: int, on_read: OnRead | None) -> FileFacts:
    before = os.lstat(full)
    if S_ISLNK(before.st_mode):
        link = Path(full)
        if not link.exists():
            return FileFacts(stat, None, UNREADABLE, "dangling symbolic link")
        if not link.resolve().is_relative_to(root):
            return FileFacts(stat, None, OUTSIDE_RAW, "symbolic link to a file outside the raw folder")
        before = os.stat(full)
    if not S_ISREG(before.st_mode):
        return FileFacts(stat, None, NOT_A_FILE, "not a regular file (a FIFO, socket or device)")
    if before.st_size > max_bytes:
        return FileFacts(stat, None, TOO_LARGE, f"{before.st_size} bytes, limit {max_bytes}")
    data, after = _read_whole(full, before.st_size)
    changed = (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns)
    if changed or len(data) != after.st_size or not S_ISREG(after.st_mode):
        return FileFacts(stat, None, CHANGED_DURING_RUN, "the file changed while it was read; the next run reads it")
    digest = content_hash(data)
    if on_read is not None:
        on_read(stat.path, digest, data)
    return FileFacts(FileStat(stat.path, after.st_size, after.st_mtime_ns // 1000), digest)


def _read_whole(full: str, size: int) -> tuple[bytes, os.stat_result]:
    """A file's bytes, and its stat once they are read, through one descriptor: one lstat before and this
    fstat after, where a look by path at each step took four system calls per file. Non-blocking, so that
    a file swapped for a FIFO since its lstat does not hold the run up. `size`, the lstat's: one read takes
    the file, where Python's file object cost as much again as the read (0.3 against 0.19 s, 20,000 files);
    the loop takes what a file grew by since."""
    fd = os.open(full, os.O_RDONLY | os.O_NONBLOCK)
    try:
        data = os.read(fd, size + 1)
        while more := os.read(fd, 1 << 16):
            data += more
        return data, os.fstat(fd)
    finally:
        os.close(fd)


@dataclass
class Plan:
    """What a run does with the files it read."""

    to_process: list[tuple[str, str]] = field(default_factory=list)  # (path, doc_id), one per new content
    duplicates: dict[str, str] = field(default_factory=dict)  # path -> doc_id of another file's document
    rejected: list[FileFacts] = field(default_factory=list)  # unreadable, too large, outside the tree
    facts: dict[str, FileFacts] = field(default_factory=dict)


def plan_documents(
    facts: Iterable[FileFacts],
    known_docs: dict[str, str],
    quarantined_hashes: dict[str, FileRecord],
) -> Plan:
    """Decide per file read: a new document, a duplicate of a known or new one, or rejected.

    known_docs maps doc_id -> path of the file that made it; quarantined_hashes maps the content
    hash of a quarantined file to its record, so the same bad content is not processed again.
    """
    planner = DocumentPlanner(known_docs, quarantined_hashes)
    planner.add(sorted(facts, key=lambda f: f.stat.path))
    return planner.plan


class DocumentPlanner:
    """plan_documents, a few files at a time: files given in path order, over several calls, are planned as
    they would be all at once (the first file with a content makes its document, later ones are its
    duplicates), so the files read so far can be processed while the planner reads the rest."""

    def __init__(self, known_docs: dict[str, str], quarantined_hashes: dict[str, FileRecord]) -> None:
        self.known_docs = known_docs
        self.quarantined_hashes = quarantined_hashes
        self.plan = Plan()
        self._planned: dict[str, str] = {}  # doc_id -> path, this run's new documents

    def add(self, facts: Iterable[FileFacts]) -> list[tuple[str, str]]:
        """Plan these files (after every file planned before, by path); the (path, doc_id) of each new document."""
        plan, new = self.plan, []
        for fact in facts:
            if fact.content_hash is None:
                plan.rejected.append(fact)
                plan.facts[fact.stat.path] = fact
                continue
            doc_id = doc_id_for(fact.content_hash)
            owner = self.known_docs.get(doc_id) or self._planned.get(doc_id)
            if owner is not None and owner != fact.stat.path:
                plan.duplicates[fact.stat.path] = doc_id
            elif owner is None and fact.content_hash in self.quarantined_hashes:
                prev = self.quarantined_hashes[fact.content_hash]  # the same bad content again: the same outcome
                fact = replace(fact, reason=prev.reason, detail=prev.detail)
                plan.rejected.append(fact)
            elif owner is None:
                self._planned[doc_id] = fact.stat.path
                new.append((fact.stat.path, doc_id))
            plan.facts[fact.stat.path] = fact
        plan.to_process.extend(new)
        return new


# Documents per shard, unless the user says otherwise. Each shard is a Prefect task: about 0.1 s of CPU
# in the Prefect server, khabar and the workers together, on the cores that do the shards' work. 20,000
# SaudiNewsNet articles on 2 cores, alternated: 31.9 s with shards of 1,000 against 34.8 s with 500.
SHARD_SIZE = 1000


def split_into_shards(paths: Sequence[T], shard_size: int, workers: int) -> list[list[T]]:
    """Consecutive groups of at most shard_size paths (or files), in whole rounds, the last rounds smaller.

    One group when everything fits in one shard. Otherwise the groups come in rounds of one per
    worker, their paths spread evenly, so no worker idles in a last round of fewer shards. Past two
    whole rounds, the last three are a half, a quarter and an eighth of a shard: a worker that ends its
    last shard early then waits for the others' eighth shards, not for a whole one (one worker waits for
    nobody; a round that would be under one path is left out, and a shard of under 4 paths does not
    shrink). An eighth of 1,000 CRF documents is about 1 s of work; each shard task costs about 0.1 s.
    """
    if not paths:
        return []
    tail: list[int] = []
    if workers > 1 and shard_size >= 4 and len(paths) > 2 * workers * shard_size:
        tail = [size for part in (2, 4, 8) if (size := shard_size // part) for _ in range(workers)]
    body = len(paths) - sum(tail)
    n_shards = -(-body // shard_size)
    if n_shards > 1:
        n_shards = min(-(-n_shards // workers) * workers, body)
    even, longer = divmod(body, n_shards)
    groups: list[list[T]] = []
    start = 0
    for size in [even + 1] * longer + [even] * (n_shards - longer) + tail:
        groups.append(list(paths[start : start + size]))
        start += size
    return groups


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a file a shard read."""

    path: str
    content_hash: str | None
    doc_id: str | None
    status: str  # processed | quarantined | failed
    reason: str | None = None
    detail: str | None = None


def next_files_table(
    previous: dict[str, FileRecord],
    scanned: Iterable[FileStat],
    plan: Plan,
    outcomes: dict[str, Outcome],
    run_id: str,
) -> list[FileRecord]:
    """The files table after this run: every path ever seen, sorted by path; a path gone from the raw
    folder is `missing` and keeps its doc_id (its document stays, until `khabar prune --missing`)."""
    return FilesTable(previous, scanned, plan, run_id).records(outcomes)


class FilesTable:
    """next_files_table, its rows for the documents' files made as their shards finish (add), so that little of
    it is left after the last shard: 0.1 s at 20,000 new files."""

    def __init__(self, previous: dict[str, FileRecord], scanned: Iterable[FileStat], plan: Plan, run_id: str) -> None:
        self.previous, self.plan, self.run_id = previous, plan, run_id
        self.scanned = list(scanned)
        self._made: dict[str, tuple[Outcome, FileRecord]] = {}  # path -> the outcome its row was made from

    def add(self, outcomes: Iterable[Outcome]) -> None:
        """Make the rows of these files now (a shard's, as it finishes)."""
        for o in outcomes:
            if (fact := self.plan.facts.get(o.path)) is not None:
                self._made[o.path] = (o, self._row(fact, o.doc_id, o.status, o.reason, o.detail))

    def _row(
        self, fact: FileFacts, doc_id: str | None, status: str, reason: str | None, detail: str | None
    ) -> FileRecord:
        stat = fact.stat  # as read, which may be newer than the scan
        prev = self.previous.get(stat.path)
        first_seen = prev.first_seen_run_id if prev else self.run_id
        fields = (stat.path, stat.size_bytes, stat.mtime_us, fact.content_hash or "", doc_id, status, reason, detail)
        return FileRecord(*fields, first_seen, self.run_id)

    def records(self, outcomes: Mapping[str, Outcome]) -> list[FileRecord]:
        """Every row, sorted by path, given every outcome of the run."""
        plan, run_id = self.plan, self.run_id
        seen = {stat.path for stat in self.scanned}
        rows = {
            path: r if path in seen or r.status == "missing" else replace(r, status="missing", reason=None, detail=None)
            for path, r in self.previous.items()
        }
        planned_path = {doc_id: path for path, doc_id in plan.to_process}
        for stat in self.scanned:
            fact = plan.facts.get(stat.path)
            if fact is None:
                if (prev := self.previous.get(stat.path)) is not None:  # unchanged: not re-read
                    rows[stat.path] = prev.seen_by(run_id)
                continue
            if (o := outcomes.get(stat.path)) is not None:
                made = self._made.get(stat.path)
                rows[stat.path] = (
                    made[1] if made and made[0] is o else self._row(fact, o.doc_id, o.status, o.reason, o.detail)
                )
            elif stat.path in plan.duplicates:
                doc_id = plan.duplicates[stat.path]
                owner = outcomes.get(planned_path.get(doc_id, ""))
                if owner is not None and owner.status != "processed":  # the content's document was not made
                    rows[stat.path] = self._row(fact, None, owner.status, owner.reason, owner.detail)
                else:
                    rows[stat.path] = self._row(fact, doc_id, "duplicate", None, None)
            elif fact.content_hash is None or fact.reason is not None:
                rows[stat.path] = self._row(fact, None, "quarantined", fact.reason, fact.detail)
            else:  # same content as its own earlier document (e.g. only the mtime changed)
                rows[stat.path] = self._row(fact, doc_id_for(fact.content_hash), "processed", None, None)
        return [rows[p] for p in sorted(rows)]
