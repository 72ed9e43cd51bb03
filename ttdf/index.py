"""The video index: one SQLite row per video file with its metadata, probe results and health.

``ttdf index`` fills it (incrementally: a file whose size and mtime did not change is not
probed again); ``ttdf ls``/``stats``/``verify`` and ``tofnet`` read it instead of re-probing
thousands of videos. Commits happen in batches so an interrupted run keeps its work.
"""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ttdf.errors import IndexDatabaseError, TTDFError, VideoError
from ttdf.fsutil import atomic_write_text, broken_link_reason, check_relative_path, is_temp_file, printable_path, sha256_file
from ttdf.lock import root_lock
from ttdf.manifest import read_manifest
from ttdf.parallel import WorkerCrash, run_parallel
from ttdf.records import VideoFilter, VideoRecord, parse_relative_path
from ttdf.shard import NO_SHARD, SHARDS_DIR, Shard, is_sharded, merge_manifest_fragments, select_shard, shard_name
from ttdf.taxonomy import Taxonomy, load_taxonomy
from ttdf.video import probe_video

INDEX_FILE = ".ttdf/index.sqlite"
SCHEMA_VERSION = 1
UNINFERABLE = "cannot infer label/method/split from its path; add it to manifest.csv or use `ttdf import`"

_BATCH_SIZE = 100  # rows per commit ...
_BATCH_SECONDS = 5.0  # ... or seconds, whichever comes first
# A probe (hash + demux) takes ~10-30 ms, a spawned worker ~0.5-1 s to start (numpy, PyAV): below this many
# files per worker the job is faster in this process (a cold index of 42 tiny files ran 6x slower with 2 workers).
_MIN_FILES_PER_WORKER = 32
_RECORD_COLUMNS = ("label", "method", "config", "identity_id", "pose_id", "split", "compression",
                   "frames", "fps", "width", "height", "sha256")
_COLUMNS = ("path", *_RECORD_COLUMNS, "size", "mtime_ns", "duration", "codec", "status", "error", "source_key")
_SCHEMA = f"""
BEGIN;
CREATE TABLE videos (
    path TEXT PRIMARY KEY,
    label TEXT NOT NULL, method TEXT, config TEXT, identity_id TEXT NOT NULL, pose_id TEXT NOT NULL,
    split TEXT NOT NULL, compression TEXT NOT NULL,
    frames INTEGER, fps REAL, width INTEGER, height INTEGER, sha256 TEXT,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, duration REAL, codec TEXT,
    status TEXT NOT NULL CHECK (status IN ('ok', 'bad')), error TEXT,
    source_key TEXT
);
CREATE INDEX videos_status ON videos (status);
PRAGMA user_version = {SCHEMA_VERSION};
COMMIT;
"""


@dataclass(frozen=True)
class IndexedVideo:
    """A video as the index knows it: its record (probed frames/fps/size/sha256) and file state."""

    record: VideoRecord
    size: int
    mtime_ns: int
    duration: float | None = None
    codec: str | None = None
    status: str = "ok"
    error: str | None = None

    @property
    def path(self) -> str:
        return self.record.path

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class VideoIndex:
    """The SQLite index of one dataset root (``<root>/.ttdf/index.sqlite``)."""

    def __init__(self, root: Path, connection: sqlite3.Connection):
        self.root = root
        self.path = root / INDEX_FILE
        self._conn = connection

    @classmethod
    def open(cls, root: str | Path, *, create: bool = False) -> "VideoIndex":
        """Open the index, creating an empty one when ``create``; refuse corrupt or newer files."""
        root = Path(root)
        db = root / INDEX_FILE
        if not create and not db.exists():
            raise IndexDatabaseError(f"no index at {db}; run `ttdf index --root {root}`")
        if create:
            try:
                db.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise IndexDatabaseError(f"cannot create {db.parent} ({exc.strerror or exc}); check the "
                                         "permissions of the dataset root") from exc
        try:
            conn = sqlite3.connect(str(db), timeout=30)
        except sqlite3.Error as exc:
            raise IndexDatabaseError(f"cannot open {db} ({exc}); check its permissions") from exc
        index = cls(root, conn)
        try:
            index._prepare(create)
        except BaseException:
            conn.close()
            raise
        return index

    def query(self, filt: VideoFilter | None = None, *, status: str | None = "ok") -> list[IndexedVideo]:
        """Videos matching ``filt`` sorted by path; ``status=None`` returns good and bad ones."""
        sql = f"SELECT {', '.join(_COLUMNS)} FROM videos"
        args: tuple = ()
        if status is not None:
            sql, args = sql + " WHERE status = ?", (status,)
        with self._guard():
            rows = self._conn.execute(sql + " ORDER BY path", args).fetchall()
        videos = (_from_row(row) for row in rows)
        return [v for v in videos if filt is None or filt.matches(v.record)]

    def get(self, path: str) -> IndexedVideo | None:
        with self._guard():
            row = self._conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM videos WHERE path = ?", (path,)).fetchone()
        return None if row is None else _from_row(row)

    def upsert(self, videos: Iterable[IndexedVideo]) -> None:
        """Insert or replace videos in one transaction."""
        self._write((video, None) for video in videos)

    def remove(self, paths: Iterable[str]) -> None:
        with self._guard(), self._conn:
            self._conn.executemany("DELETE FROM videos WHERE path = ?", ((p,) for p in paths))

    def listed_paths(self) -> set[str]:
        """Paths indexed from a manifest row with a checksum: rows the manifest must still have."""
        with self._guard():
            rows = self._conn.execute("SELECT path, source_key FROM videos").fetchall()
        return {path for path, key in rows if key and _expected_from_key(key)}

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "VideoIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals used by index_dataset ---------------------------------------------------

    def _write(self, rows: Iterable[tuple[IndexedVideo, str | None]]) -> None:
        values = [_to_row(video, key) for video, key in rows]
        placeholders = ", ".join("?" * len(_COLUMNS))
        with self._guard(), self._conn:
            self._conn.executemany(f"INSERT OR REPLACE INTO videos ({', '.join(_COLUMNS)}) VALUES ({placeholders})",
                                   values)

    def _states(self) -> dict[str, tuple]:
        """``path -> (size, mtime_ns, source_key, has_sha256, status, error)`` for change detection."""
        with self._guard():
            rows = self._conn.execute("SELECT path, size, mtime_ns, source_key, sha256 IS NOT NULL, status, error "
                                      "FROM videos").fetchall()
        return {row[0]: tuple(row[1:]) for row in rows}

    def _clear(self) -> None:
        with self._guard(), self._conn:
            self._conn.execute("DELETE FROM videos")

    def _prepare(self, create: bool) -> None:
        with self._guard():
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if version > SCHEMA_VERSION:
                raise IndexDatabaseError(
                    f"{self.path} was written by a newer ttdf (index schema v{version}, this one reads up to "
                    f"v{SCHEMA_VERSION}); upgrade ttdf, or run `ttdf index --rebuild --root {self.root}` to set it "
                    "aside and rebuild")
            if version == 0:
                if tables:
                    raise self._corrupt("not a ttdf index: unknown tables " + ", ".join(sorted(tables)))
                if not create:
                    raise IndexDatabaseError(f"the index at {self.path} is empty; run `ttdf index --root {self.root}`")
                self._conn.executescript(_SCHEMA)
                return
            columns = {r[1] for r in self._conn.execute("PRAGMA table_info(videos)")}
            missing = [c for c in _COLUMNS if c not in columns]
            if missing:
                raise self._corrupt(f"table videos lacks column(s) {', '.join(missing)}")

    def _corrupt(self, why: object) -> IndexDatabaseError:
        return IndexDatabaseError(f"{self.path} is corrupt ({why}); run `ttdf index --rebuild --root {self.root}`")

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn SQLite failures into one-line errors that say what to do."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                raise IndexDatabaseError(f"{self.path} is locked by another ttdf process; wait for it and "
                                         "retry") from exc
            if "readonly" in text or "unable to open" in text:
                raise IndexDatabaseError(f"cannot write {self.path} ({text}); check its permissions") from exc
            raise self._corrupt(text) from exc
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from exc


@dataclass
class IndexReport:
    """What one ``index_dataset`` run did; ``bad`` lists every bad file in scope, old or new."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    bad: list[tuple[str, str]] = field(default_factory=list)
    removed: int = 0
    unusable: list[tuple[str, str]] = field(default_factory=list)  # files the index cannot hold (printable path)
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.added + self.updated + self.unchanged


def index_dataset(root: str | Path, *, paths: Iterable[str] | None = None, workers: int = 2, rebuild: bool = False,
                  checksums: bool = True, progress: bool = True, shard: Shard = NO_SHARD) -> IndexReport:
    """Probe new or changed video files below ``root`` and record them; ``paths`` limits the scan.

    A full unsharded run (``paths=None``) first merges what sharded runs left under ``<root>/.ttdf/shards/``:
    manifest rows (``ttdf compress --shard``) and probe results (``ttdf index --shard``, used instead of
    probing a file again when its size and mtime still match). ``shard=(i, n)`` probes only that shard's files and writes
    only its own probe fragment, never the index, so shards can run at once on a shared root.
    """
    root = Path(root)
    if not root.is_dir():
        raise TTDFError(f"dataset root {root} is not a directory; pass --root or run `ttdf synth`/`ttdf download`")
    taxonomy = load_taxonomy(root=root)
    if is_sharded(shard):
        return _index_shard(root, taxonomy, paths, shard, workers=workers, checksums=checksums, progress=progress)
    with root_lock(root, what="indexing"):  # one writer at a time: a second run waits, then finds little to do
        fragments = []
        if paths is None:
            merge_manifest_fragments(root, taxonomy)
            fragments = _probe_fragments(root)
        manifest = _read_root_manifest(root, taxonomy)
        if rebuild:
            _reset_index(root)
        report = IndexReport(notes=_ignored_manifests(root, taxonomy))
        with VideoIndex.open(root, create=True) as index:
            known = index._states()
            rels, gone, report.unusable = _scope(root, taxonomy, paths, known)
            if gone:
                index.remove(gone)
                report.removed = len(gone)
            jobs: list[_Job] = []
            for rel in rels:
                meta, expected = _metadata(rel, manifest, taxonomy)
                key = json.dumps([meta.to_dict() if meta else None, expected], sort_keys=True)
                previous = known.get(rel)
                if previous is not None and _unchanged(root / rel, previous, key, checksums):
                    report.unchanged += 1
                    if previous[4] == "bad":
                        report.bad.append((rel, previous[5] or "bad"))
                    continue
                jobs.append(_Job(rel, meta, expected, key, is_new=previous is None))
            _probe_all(index, root, jobs, report, workers=workers, checksums=checksums, progress=progress,
                       probed=_still_valid(root, fragments, checksums))
        for fragment in fragments:  # only once the index holds their results
            fragment.unlink()
    report.bad.sort()
    return report


def find_video_files(root: str | Path, taxonomy: Taxonomy | None = None) -> list[str]:
    """Relative POSIX paths of the video files below ``root``, skipping hidden folders and temp files."""
    return walk_video_files(root, taxonomy)[0]


def walk_video_files(root: str | Path, taxonomy: Taxonomy | None = None) -> tuple[list[str], list[tuple[str, str]]]:
    """``find_video_files``, plus the video files no index can hold: ``(printable path, reason)``."""
    taxonomy = taxonomy or load_taxonomy()
    root = Path(root)
    extensions = {e.lower() for e in taxonomy.layout.video_extensions}
    found, unusable = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))  # .ttdf/, download caches
        here = Path(dirpath)
        for name in filenames:
            path = here / name
            if Path(name).suffix.lower() not in extensions or is_temp_file(path):
                continue
            rel = path.relative_to(root).as_posix()
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:  # undecodable bytes in the name (os.walk maps them to surrogates)
                unusable.append((printable_path(rel), "the file name is not valid UTF-8; rename it"))
                continue
            found.append(rel)
    return sorted(found), sorted(unusable)


# -- helpers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    rel: str
    meta: VideoRecord | None
    expected_sha256: str | None
    key: str
    is_new: bool


@dataclass(frozen=True)
class _Probe:
    size: int = 0
    mtime_ns: int = 0
    sha256: str | None = None
    frames: int | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    codec: str | None = None
    error: str | None = None
    vanished: bool = False


def _probe_file(job: tuple[str, str, bool]) -> _Probe:
    """Stat, hash and demux one file (runs in a worker process); never raises for a bad file."""
    root, rel, checksums = job
    path = Path(root) / rel
    try:
        stat = _stat(path)
    except FileNotFoundError:
        return _Probe(vanished=True)
    base = dict(size=stat.st_size, mtime_ns=stat.st_mtime_ns)
    link_problem = broken_link_reason(path)
    if link_problem:
        return _Probe(**base, error=link_problem)
    try:
        base["sha256"] = sha256_file(path) if checksums else None
    except OSError as exc:
        return _Probe(**base, error=f"cannot read it ({exc.strerror or exc}); check its permissions")
    try:
        info = probe_video(path)
    except VideoError as exc:
        return _Probe(**base, error=exc.reason)
    except Exception as exc:  # one odd file must not stop a 20k-video run
        return _Probe(**base, error=f"unexpected error while probing ({type(exc).__name__}: {exc})")
    return _Probe(**base, frames=info.frames, fps=info.fps, width=info.width, height=info.height,
                  duration=info.duration, codec=info.codec)


def _crashed_probe(path: Path, checksums: bool, reason: str) -> _Probe:
    """The probe of a file whose worker crashed: stat and hash it here (no decoding), so a rerun skips it."""
    try:
        stat = _stat(path)
    except FileNotFoundError:
        return _Probe(vanished=True)
    try:
        sha256 = sha256_file(path) if checksums else None
    except OSError:
        sha256 = None
    return _Probe(size=stat.st_size, mtime_ns=stat.st_mtime_ns, sha256=sha256, error=reason)


def _probe_all(index: VideoIndex, root: Path, jobs: list[_Job], report: IndexReport, *, workers: int,
               checksums: bool, progress: bool, probed: dict[str, _Probe] | None = None) -> None:
    """Probe ``jobs`` (except those ``probed`` already holds) and write them to the index in batches."""
    pending: list[tuple[IndexedVideo, str | None]] = []
    vanished: list[str] = []
    last_commit = time.monotonic()
    by_rel = {job.rel: job for job in jobs}
    probed = probed or {}
    items = [(str(root), job.rel, checksums) for job in jobs if job.rel not in probed]
    known = (((str(root), rel, checksums), probed[rel]) for rel in by_rel if rel in probed)
    try:
        with contextlib.closing(run_parallel(_probe_file, items, workers=workers, progress=progress, desc="index",
                                             min_items_per_worker=_MIN_FILES_PER_WORKER)) as results:
            for (_, rel, _), probe in itertools.chain(known, results):
                job = by_rel[rel]
                if isinstance(probe, WorkerCrash):
                    probe = _crashed_probe(root / rel, checksums, probe.reason)
                if probe.vanished:
                    vanished.append(rel)
                    continue
                video = _indexed_video(job, probe)
                pending.append((video, job.key))
                if job.is_new:
                    report.added += 1
                else:
                    report.updated += 1
                if not video.ok:
                    report.bad.append((rel, video.error or "bad"))
                if len(pending) >= _BATCH_SIZE or time.monotonic() - last_commit >= _BATCH_SECONDS:
                    index._write(pending)
                    pending.clear()
                    last_commit = time.monotonic()
    finally:  # also on Ctrl-C: keep every finished probe so a rerun only does the rest
        if pending:
            index._write(pending)
        if vanished:
            index.remove(vanished)


def _index_shard(root: Path, taxonomy: Taxonomy, paths: Iterable[str] | None, shard: Shard, *, workers: int,
                 checksums: bool, progress: bool) -> IndexReport:
    """Probe this shard's new or changed files into its fragment (resuming it); the index is only read."""
    try:
        with VideoIndex.open(root) as index:
            known = index._states()
    except IndexDatabaseError:  # no index yet (or a broken one, which the merging run will report)
        known = {}
    rels = select_shard(_scope(root, taxonomy, paths, known)[0], shard)
    path = _probe_fragment(root, shard)
    done = _read_probe_fragment(path) if path.is_file() else {}
    report = IndexReport()
    todo = []
    for rel in rels:
        previous = known.get(rel)
        state = (previous[0], previous[1], previous[3]) if previous else None
        if (state and _same_file(root / rel, *state, checksums)) or (
                rel in done and _same_file(root / rel, done[rel].size, done[rel].mtime_ns, bool(done[rel].sha256),
                                           checksums)):
            report.unchanged += 1
            continue
        todo.append((str(root), rel, checksums))
    last_write = time.monotonic()
    try:
        with contextlib.closing(run_parallel(_probe_file, todo, workers=workers, progress=progress,
                                             desc=f"index {shard_name(shard)}",
                                             min_items_per_worker=_MIN_FILES_PER_WORKER)) as results:
            for (_, rel, _), probe in results:
                if isinstance(probe, WorkerCrash):
                    probe = _crashed_probe(root / rel, checksums, probe.reason)
                if probe.vanished:
                    continue
                done[rel] = probe
                report.added += 1
                if probe.error:
                    report.bad.append((rel, probe.error))
                if time.monotonic() - last_write >= _BATCH_SECONDS:
                    _write_probe_fragment(path, done)
                    last_write = time.monotonic()
    finally:  # also on Ctrl-C: a rerun of this shard resumes
        _write_probe_fragment(path, done)
    report.bad.sort()
    return report


def _probe_fragment(root: Path, shard: Shard) -> Path:
    return root / SHARDS_DIR / "index" / f"{shard_name(shard)}.jsonl"


def _probe_fragments(root: Path) -> list[Path]:
    folder = root / SHARDS_DIR / "index"
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def _write_probe_fragment(path: Path, probes: dict[str, _Probe]) -> None:
    lines = (json.dumps({"path": rel, **dataclasses.asdict(p)}, sort_keys=True) for rel, p in sorted(probes.items()))
    atomic_write_text(path, "".join(line + "\n" for line in lines))


def _read_probe_fragment(path: Path) -> dict[str, _Probe]:
    probes = {}
    try:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                values = json.loads(line)
                rel = check_relative_path(values.pop("path"), where=f"{path}:{number}")
                probes[rel] = _Probe(**values)
    except (ValueError, TypeError, KeyError) as exc:
        raise TTDFError(f"{path} is not a probe fragment of `ttdf index --shard` ({exc}); delete it and rerun that "
                        "shard") from exc
    return probes


def _still_valid(root: Path, fragments: list[Path], checksums: bool) -> dict[str, _Probe]:
    """Probes from the shards' fragments whose file has not changed since (else it is probed again)."""
    probes = {rel: p for f in fragments for rel, p in _read_probe_fragment(f).items()}
    return {rel: p for rel, p in probes.items()
            if _same_file(root / rel, p.size, p.mtime_ns, bool(p.sha256), checksums)}


def _same_file(path: Path, size: int, mtime_ns: int, has_sha: bool, checksums: bool) -> bool:
    try:
        stat = _stat(path)
    except FileNotFoundError:
        return False
    return stat.st_size == size and stat.st_mtime_ns == mtime_ns and (has_sha or not checksums)


def _indexed_video(job: _Job, probe: _Probe) -> IndexedVideo:
    errors = []
    record = job.meta
    if record is None:
        errors.append(UNINFERABLE)
        record = VideoRecord(path=job.rel, label="", method=None, config=None, identity_id="", pose_id="",
                             split="", compression="")
    if probe.error:
        errors.append(probe.error)
    if job.expected_sha256 and probe.sha256 and probe.sha256 != job.expected_sha256.lower():
        errors.append(f"checksum mismatch: sha256 is {probe.sha256[:16]}... but manifest.csv says "
                      f"{job.expected_sha256[:16]}...; re-download it")
    record = record.with_(frames=probe.frames, fps=probe.fps, width=probe.width, height=probe.height,
                          sha256=probe.sha256)
    return IndexedVideo(record=record, size=probe.size, mtime_ns=probe.mtime_ns, duration=probe.duration,
                        codec=probe.codec, status="bad" if errors else "ok", error="; ".join(errors) or None)


def _read_root_manifest(root: Path, taxonomy: Taxonomy) -> dict[str, VideoRecord]:
    path = root / taxonomy.layout.manifest
    return {r.path: r for r in read_manifest(path, taxonomy)} if path.is_file() else {}


def _metadata(rel: str, manifest: dict[str, VideoRecord], taxonomy: Taxonomy) -> tuple[VideoRecord | None, str | None]:
    """The record a file should have (manifest first, else the layout convention) and its expected sha256."""
    entry = manifest.get(rel)
    if entry is not None:
        return entry.with_(frames=None, fps=None, width=None, height=None, sha256=None), entry.sha256
    return parse_relative_path(taxonomy, rel), None


def _scope(root: Path, taxonomy: Taxonomy, paths: Iterable[str] | None, known: dict
           ) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """Files to look at, indexed paths that are gone from disk, and files the index cannot hold."""
    if paths is None:
        rels, unusable = walk_video_files(root, taxonomy)
        on_disk = set(rels)
        return rels, sorted(p for p in known if p not in on_disk), unusable
    rels, gone = [], []
    for rel in dict.fromkeys(check_relative_path(p, where="index paths") for p in paths):
        if (root / rel).is_file() or (root / rel).is_symlink():
            rels.append(rel)
        elif rel in known:
            gone.append(rel)
    return rels, gone, []


def _unchanged(path: Path, previous: tuple, key: str, checksums: bool) -> bool:
    size, mtime_ns, old_key, has_sha, status, _ = previous
    dangling = status == "bad" and not has_sha and bool(broken_link_reason(path))  # a bad link has no checksum
    return old_key == key and _same_file(path, size, mtime_ns, has_sha, checksums and not dangling)


def _stat(path: Path) -> os.stat_result:
    """The file's stat, or the link's own for a link that leads nowhere (so it is recorded as bad, once)."""
    try:
        return path.stat()
    except FileNotFoundError:
        return path.lstat()  # raises FileNotFoundError again when not even the link is there
    except OSError:
        return path.lstat()


def _ignored_manifests(root: Path, taxonomy: Taxonomy) -> list[str]:
    """Say so when a root holds manifests that ``ttdf`` does not read (e.g. ``manifest.jsonl``)."""
    used = root / taxonomy.layout.manifest
    return [f"{other} is not read: a dataset root's manifest is {used.name}; convert it, or bring its videos in "
            f"with `ttdf import --manifest {other}`"
            for other in sorted(root.glob("manifest.*")) if other != used and other.suffix in (".jsonl", ".json")]


def _reset_index(root: Path) -> None:
    """For ``--rebuild``: empty a healthy index, or move a broken one aside (nothing is deleted)."""
    db = root / INDEX_FILE
    if not db.exists():
        return
    try:
        with VideoIndex.open(root) as index:
            index._clear()
        return
    except IndexDatabaseError:
        pass
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = db.with_name(f"{db.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target, n = db.with_name(f"{db.name}.corrupt-{stamp}-{n}"), n + 1
    for suffix in ("", "-journal", "-wal", "-shm"):  # a stale journal must not be replayed into the new file
        side = db.with_name(db.name + suffix)
        if side.exists():
            os.replace(side, target.with_name(target.name + suffix))


def _to_row(video: IndexedVideo, key: str | None) -> tuple:
    if video.status not in ("ok", "bad"):
        raise ValueError(f"status must be 'ok' or 'bad', got {video.status!r}")
    r = video.record
    path = check_relative_path(r.path, where="index")
    return (path, *(getattr(r, c) for c in _RECORD_COLUMNS), video.size, video.mtime_ns, video.duration,
            video.codec, video.status, video.error, key)


def _expected_from_key(key: str) -> str | None:
    try:
        return json.loads(key)[1]
    except (ValueError, TypeError, IndexError):
        return None


def _from_row(row: tuple) -> IndexedVideo:
    values = dict(zip(_COLUMNS, row))
    values["config"] = load_taxonomy().canonical_config(values["config"])  # indexed before the rename
    record = VideoRecord(path=values["path"], **{c: values[c] for c in _RECORD_COLUMNS})
    return IndexedVideo(record=record, size=values["size"], mtime_ns=values["mtime_ns"], duration=values["duration"],
                        codec=values["codec"], status=values["status"], error=values["error"])


__all__ = ["INDEX_FILE", "IndexReport", "IndexedVideo", "UNINFERABLE", "VideoIndex", "find_video_files",
           "index_dataset", "walk_video_files"]
