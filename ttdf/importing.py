"""Bring a dataset copy obtained elsewhere (a drive, a mirror, an extracted archive) into a root.

Metadata comes from a manifest when there is one, else from the folder layout convention, so a
plain copy of the published tree imports without any extra file. Nothing is half-written: copies
land under a temporary name and are renamed, links are created the same way.
"""
from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ttdf.errors import TTDFError
from ttdf.fsutil import atomic_path, is_temp_file, resolve_inside, sha256_file
from ttdf.index import IndexReport, index_dataset
from ttdf.manifest import merge_into_manifest, read_manifest
from ttdf.records import VideoRecord, parse_relative_path
from ttdf.taxonomy import Taxonomy, load_taxonomy

MODES = ("copy", "hardlink", "symlink")
_CHUNK = 1 << 20
# Linking is impossible across filesystems (EXDEV) or on filesystems without hard links.
_NO_HARDLINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


@dataclass
class ImportReport:
    """What an import did; paths are relative to the dataset root (``unrecognised``: to the source)."""

    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    unrecognised: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    index: IndexReport | None = None


class _ChecksumMismatch(Exception):
    pass


def import_dataset(src: str | Path, root: str | Path, *, mode: str = "copy", manifest: str | Path | None = None,
                   workers: int = 2, progress: bool = True) -> ImportReport:
    """Copy, hard-link or symlink the videos of ``src`` into ``root``, register and index them.

    Metadata: ``manifest`` (paths relative to ``src``), else ``<src>/manifest.csv``, else each file's
    path below ``src`` read with the layout convention. Files that cannot be classified are listed in
    the report, not imported; files already in ``root`` are skipped, so an interrupted import resumes.
    """
    taxonomy = load_taxonomy()
    if mode not in MODES:
        raise TTDFError(f"unknown import mode {mode!r}; choose one of {list(MODES)}")
    src, root = Path(src), Path(root)
    if not src.is_dir():
        raise TTDFError(f"{src}: not a directory; pass the folder that holds the dataset copy")
    if src.resolve() == root.resolve():
        raise TTDFError(f"{src}: the source is the dataset root itself; run `ttdf index` to register its files")
    root_manifest = root / taxonomy.layout.manifest
    if root_manifest.exists():
        read_manifest(root_manifest, taxonomy)  # refuse a broken root manifest before writing anything
    items, report = _plan(src, root, taxonomy, manifest)

    pending: list[tuple[Path, VideoRecord]] = []
    for source, record in items:
        if (root / record.path).exists() or (root / record.path).is_symlink():
            report.skipped.append(record.path)
        else:
            pending.append((source, record))

    done: list[VideoRecord] = []
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        with tqdm(total=len(pending), desc="import", unit="video", disable=not progress) as bar:
            futures = {pool.submit(_transfer, source, root / record.path, mode, record.sha256): record
                       for source, record in pending}
            for future in as_completed(futures):
                record = futures[future]
                bar.update(1)
                try:
                    digest, note = future.result()
                except _ChecksumMismatch as exc:
                    report.failed.append((record.path, str(exc)))
                    continue
                except OSError as exc:
                    report.failed.append((record.path, f"cannot {mode} it ({exc.strerror or exc})"))
                    continue
                if note and not report.notes:
                    report.notes.append(f"cannot hard-link from {src} to {root} ({note}; e.g. another "
                                        "filesystem); copied instead")
                report.imported.append(record.path)
                done.append(record.with_(sha256=digest))
    finally:  # also on Ctrl-C: register what is in place so a rerun only does the rest
        pool.shutdown(wait=True, cancel_futures=True)
        skipped = set(report.skipped)
        merge_into_manifest(root, done, taxonomy=taxonomy, complete=[r for _, r in items if r.path in skipped])
    report.imported.sort()
    report.failed.sort()
    touched = report.imported + report.skipped
    if touched:
        report.index = index_dataset(root, paths=touched, workers=workers, progress=progress)
    return report


def _plan(src: Path, root: Path, taxonomy: Taxonomy, manifest: str | Path | None
          ) -> tuple[list[tuple[Path, VideoRecord]], ImportReport]:
    """Pair each source file with its record; everything else goes to ``unrecognised``."""
    report = ImportReport()
    manifest_path = Path(manifest) if manifest else src / taxonomy.layout.manifest
    files = _walk(src, skip=(root, manifest_path))
    if manifest or manifest_path.exists():
        records = read_manifest(manifest_path, taxonomy)  # refuses '..' and absolute paths
        listed = {r.path for r in records}
        items = []
        for record in records:
            source = resolve_inside(src, record.path)
            if source.is_file():
                items.append((source, record))
            else:
                report.unrecognised.append((record.path, f"listed in {manifest_path} but missing from {src}"))
        for rel in files:
            if rel not in listed:
                report.unrecognised.append((rel, f"not listed in {manifest_path}"))
        return items, report
    items = []
    for rel in files:
        record = parse_relative_path(taxonomy, rel)
        if record is not None:
            items.append((src / rel, record))
        elif Path(rel).suffix.lower() not in taxonomy.layout.video_extensions:
            report.unrecognised.append((rel, "not a video file"))
        else:
            report.unrecognised.append((rel, f"path does not follow {taxonomy.layout.real} or "
                                             f"{taxonomy.layout.fake} (name <identity>__<pose>); "
                                             "pass --manifest to describe it"))
    return items, report


def _walk(src: Path, *, skip: Iterable[Path]) -> list[str]:
    """Every visible regular file below ``src`` (POSIX paths relative to it), hidden folders excluded."""
    skip_resolved = {p.resolve() for p in skip}
    found = []
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and (here / d).resolve() not in skip_resolved)
        for name in sorted(filenames):
            path = here / name
            if name.startswith(".") or is_temp_file(path) or path.resolve() in skip_resolved:
                continue
            found.append(path.relative_to(src).as_posix())
    return found


def _transfer(source: Path, dest: Path, mode: str, expected: str | None) -> tuple[str, str | None]:
    """Place ``source`` at ``dest``; returns (sha256, why a hard link fell back to a copy).

    Raises before renaming when the checksum differs from ``expected``.
    """
    if mode == "copy":
        return _copy(source, dest, expected), None
    digest = sha256_file(source)
    _check(source, digest, expected)
    if mode == "symlink":
        with atomic_path(dest) as tmp:
            tmp.unlink()
            os.symlink(source.resolve(), tmp)
        return digest, None
    try:
        with atomic_path(dest) as tmp:
            tmp.unlink()
            os.link(source, tmp)
    except OSError as exc:
        if exc.errno not in _NO_HARDLINK:
            raise
        _copy(source, dest, expected)
        return digest, exc.strerror or str(exc)
    return digest, None


def _copy(source: Path, dest: Path, expected: str | None) -> str:
    digest = hashlib.sha256()
    with atomic_path(dest) as tmp:
        with open(source, "rb") as reader, open(tmp, "wb") as writer:
            for chunk in iter(lambda: reader.read(_CHUNK), b""):
                digest.update(chunk)
                writer.write(chunk)
        _check(source, digest.hexdigest(), expected)
    return digest.hexdigest()


def _check(source: Path, digest: str, expected: str | None) -> None:
    if expected and digest != expected:
        raise _ChecksumMismatch(f"{source}: sha256 {digest[:12]}… does not match the manifest ({expected[:12]}…); "
                                "the copy is damaged, fetch it again")


__all__ = ["ImportReport", "MODES", "import_dataset"]
