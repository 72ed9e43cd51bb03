"""Check a dataset copy against its manifest and index: files present, checksums equal, frames decodable,
no identity in two splits (:mod:`ttdf.leaks`).

Expected videos are the manifest entries plus the indexed ones. A checksum comes from the manifest,
else from the index when the file's size and mtime are those it had when indexed (catches bit rot).
One bad video never stops the run: every problem is collected and reported.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from ttdf.errors import ManifestError, TTDFError, VideoError
from ttdf.fsutil import broken_link_reason, is_temp_file, printable_path, sha256_file
from ttdf.leaks import find_split_leaks
from ttdf.index import INDEX_FILE, IndexedVideo, VideoIndex, walk_video_files
from ttdf.manifest import read_manifest
from ttdf.parallel import WorkerCrash, run_parallel
from ttdf.records import VideoFilter, VideoRecord, parse_relative_path
from ttdf.taxonomy import Taxonomy, load_taxonomy
from ttdf.video import probe_video

PROBLEM_KINDS = ("missing", "checksum", "undecodable", "unindexed", "bad", "unlisted", "unusable", "leftover", "leak")


@dataclass(frozen=True)
class Problem:
    path: str
    kind: str  # one of PROBLEM_KINDS
    detail: str


@dataclass
class VerifyReport:
    ok: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def verify_dataset(root: str | Path, filt: VideoFilter | None = None, *, checksums: bool = True,
                   decode: bool = True, workers: int = 2, progress: bool = True) -> VerifyReport:
    """Check every expected video below ``root`` (optionally a selection) and list what is wrong."""
    root = Path(root)
    if not root.is_dir():
        raise TTDFError(f"dataset root {root} is not a directory; pass --root or run `ttdf synth`/`ttdf download`")
    taxonomy = load_taxonomy(root=root)
    manifest_path = root / taxonomy.layout.manifest
    manifest = {r.path: r for r in read_manifest(manifest_path, taxonomy)} if manifest_path.is_file() else {}
    indexed, listed = _read_index(root)
    if not manifest and indexed is None:
        raise ManifestError(f"nothing to verify at {root}: no {taxonomy.layout.manifest} and no {INDEX_FILE}; "
                            f"run `ttdf index --root {root}` (or `ttdf download`/`ttdf synth` first)")
    indexed = indexed or {}

    problems: dict[str, list[Problem]] = {}
    jobs = []
    for rel in sorted(set(manifest) | set(indexed)):
        record = manifest[rel] if rel in manifest else indexed[rel].record
        if filt is not None and not filt.matches(record):
            continue
        path = root / rel
        link_problem = broken_link_reason(path)
        if link_problem:
            problems[rel] = [Problem(rel, "bad", link_problem)]
            continue
        if not path.is_file():
            source = "manifest.csv" if rel in manifest else "the index"
            hint = "run `ttdf download` or remove it from the manifest" if rel in manifest else "rerun `ttdf index`"
            problems[rel] = [Problem(rel, "missing", f"listed in {source} but not on disk; {hint}")]
            continue
        expected = _expected_sha256(path, manifest.get(rel), indexed.get(rel)) if checksums else None
        jobs.append((str(root), rel, expected, decode))

    with contextlib.closing(run_parallel(_check_file, jobs, workers=workers, progress=progress,
                                         desc="verify")) as results:
        for (_, rel, _, _), found in results:
            if isinstance(found, WorkerCrash):
                found = [("undecodable", found.reason)]
            if found:
                problems[rel] = [Problem(rel, kind, detail) for kind, detail in found]

    for rel, video in indexed.items():
        if not video.ok and rel not in problems and (filt is None or filt.matches(video.record)):
            problems[rel] = [Problem(rel, "bad", f"marked bad by `ttdf index`: {video.error}")]
    on_disk, unusable = walk_video_files(root, taxonomy)
    for rel in on_disk:
        if rel not in manifest and rel not in indexed and _selected(taxonomy, rel, filt):
            problems[rel] = [Problem(rel, "unindexed", "not in manifest.csv or the index; run `ttdf index` "
                                                       "(or `ttdf import` for videos off the layout)")]
    for rel, problem in _disagreements(manifest, indexed, listed, filt).items():
        problems.setdefault(rel, []).append(problem)
    if filt is None or filt == VideoFilter():
        for shown, reason in unusable:
            problems[shown] = [Problem(shown, "unusable", reason)]
        for rel in _leftovers(root):
            problems[rel] = [Problem(rel, "leftover", "half-written file of an interrupted job; rerun the job "
                                                      "(`ttdf compress`/`ttdf import`), which removes it, or delete it")]

    # NOTE: leaks are looked for across every split, whatever the selection: a leak joins two splits.
    everything = {**{rel: video.record for rel, video in indexed.items()}, **manifest}
    for leak in find_split_leaks(everything.values()):
        if filt is None or filt.matches(everything[leak.path]):
            detail = (f"uses the {leak.role} of {leak.person}, a {leak.home} source, from the {leak.split} split; "
                      f"move it to {leak.home} or drop it")
            problems.setdefault(leak.path, []).append(Problem(leak.path, "leak", detail))

    checked = {rel for _, rel, _, _ in jobs}
    ok = len(checked - set(problems))
    ordered = [p for rel in sorted(problems) for p in problems[rel]]
    return VerifyReport(ok=ok, problems=ordered)


def _check_file(job: tuple[str, str, str | None, bool]) -> list[tuple[str, str]]:
    """Hash and/or fully decode one file (runs in a worker process); returns ``(kind, detail)`` problems."""
    root, rel, expected, decode = job
    path = Path(root) / rel
    found = []
    if expected:
        try:
            actual = sha256_file(path)
        except OSError as exc:
            return [("missing", f"cannot read it ({exc.strerror or exc}); check its permissions")]
        if actual != expected.lower():
            found.append(("checksum", f"sha256 is {actual[:16]}... but expected {expected[:16]}...; re-download it"))
    if decode:
        try:
            probe_video(path, decode=True)
        except VideoError as exc:
            found.append(("undecodable", f"{exc.reason}; re-download, re-import or delete it"))
        except Exception as exc:  # one odd file must not stop the run
            found.append(("undecodable", f"unexpected error while decoding ({type(exc).__name__}: {exc})"))
    return found


def _disagreements(manifest: dict[str, VideoRecord], indexed: dict[str, IndexedVideo], listed: set[str],
                   filt: VideoFilter | None) -> dict[str, Problem]:
    """Indexed videos that manifest.csv lost or describes differently (e.g. a writer overwrote another's rows)."""
    found = {}
    for rel, video in indexed.items():
        if filt is not None and not filt.matches(video.record):
            continue
        entry = manifest.get(rel)
        if entry is None:
            if rel in listed:
                found[rel] = Problem(rel, "unlisted", "indexed from a manifest.csv row that is gone; rerun the "
                                                      "`ttdf compress`/`ttdf import` that wrote it to register it")
            continue
        fields = [name for name in ("label", "method", "config", "split", "compression")
                  if getattr(entry, name) != getattr(video.record, name)]
        if fields and video.ok:
            found[rel] = Problem(rel, "unlisted", f"manifest.csv and the index disagree on {', '.join(fields)}; "
                                                  "run `ttdf index` to re-read the manifest")
    return found


def _leftovers(root: Path) -> list[str]:
    """Temporary files of interrupted atomic writes, outside ``.ttdf/`` (relative POSIX paths)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found += [printable_path((Path(dirpath) / n).relative_to(root).as_posix())
                  for n in filenames if is_temp_file(Path(n))]
    return sorted(found)


def _read_index(root: Path) -> tuple[dict[str, IndexedVideo] | None, set[str]]:
    """The indexed videos (None without an index) and those indexed from a manifest row."""
    if not (root / INDEX_FILE).exists():
        return None, set()
    with VideoIndex.open(root) as index:
        return {v.path: v for v in index.query(status=None)}, index.listed_paths()


def _expected_sha256(path: Path, entry: VideoRecord | None, video: IndexedVideo | None) -> str | None:
    if entry is not None and entry.sha256:
        return entry.sha256
    if video is None or not video.record.sha256:
        return None
    stat = path.stat()
    if stat.st_size == video.size and stat.st_mtime_ns == video.mtime_ns:
        return video.record.sha256
    return None


def _selected(taxonomy: Taxonomy, rel: str, filt: VideoFilter | None) -> bool:
    if filt is None:
        return True
    record = parse_relative_path(taxonomy, rel)
    if record is None:  # cannot tell what it is: report it only when nothing was selected
        return filt == VideoFilter()
    return filt.matches(record)
