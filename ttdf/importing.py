"""Bring videos obtained elsewhere (a drive, a mirror, an extracted archive, any folder of clips) into a root.

Metadata comes from a :class:`FolderSpec` (one description for every video of a plain folder),
else from a manifest, else from the folder layout convention, so a plain copy of the published
tree imports without any extra file. Nothing is half-written: copies land under a temporary name
and are renamed, links are created the same way.
"""
from __future__ import annotations

import errno
import hashlib
import os
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ttdf.errors import TTDFError
from ttdf.fsutil import (atomic_path, broken_link_reason, is_temp_file, printable_path, resolve_inside,
                         sha256_file)
from ttdf.index import IndexReport, index_dataset
from ttdf.manifest import merge_into_manifest, read_manifest
from ttdf.records import FAKE_NAME_SEPARATOR, VideoRecord, parse_relative_path, relative_path
from ttdf.taxonomy import Taxonomy, check_method_name, load_taxonomy, register_methods

MODES = ("copy", "hardlink", "symlink")
_CHUNK = 1 << 20
# Linking is impossible across filesystems (EXDEV) or on filesystems without hard links.
_NO_HARDLINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}
AUTO_SPLIT = "auto"
# NOTE: --split auto puts ~70% of the identities in train, 15% in val, 15% in test, by a stable hash of the
# identity id: the same on every machine and run, and one identity (all its videos) is never in two splits.
AUTO_SPLIT_FRACTIONS = (0.70, 0.15, 0.15)
_NOT_ID = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class FolderSpec:
    """What every video of a plain folder is (``ttdf import SRC --label ...``): no manifest or layout needed.

    Ids come from file names: ``<identity>__<pose>`` for fakes, else the whole stem (see :func:`ids_from_name`).
    A ``method`` the taxonomy does not know is registered in the root's ``.ttdf/taxonomy.json``.
    """

    label: str
    method: str | None = None
    config: str | None = None
    compression: str = "raw"
    split: str = AUTO_SPLIT

    def validate(self, taxonomy: Taxonomy) -> "FolderSpec":
        """Raise a one-line :class:`TTDFError` naming the bad option; return it with the canonical config."""
        if self.label not in taxonomy.labels:
            raise TTDFError(f"--label {self.label!r}: choose one of {list(taxonomy.labels)}")
        config = taxonomy.canonical_config(self.config)
        if self.label == "real" and (self.method or self.config):
            raise TTDFError("--label real: a real video has no --method or --config; drop them")
        if self.label != "real":
            if not self.method or not config:
                raise TTDFError(f"--label {self.label}: pass --method NAME and --config "
                                f"{'|'.join(taxonomy.configs)} to describe the forgeries")
            check_method_name(self.method)
            if config not in taxonomy.configs:
                raise TTDFError(f"--config {self.config!r}: choose one of {list(taxonomy.configs)}")
        if not taxonomy.is_compression(self.compression):
            raise TTDFError(f"--compression {self.compression!r}: choose one of {list(taxonomy.compressions)} or crfN")
        if self.split != AUTO_SPLIT and self.split not in taxonomy.splits:
            raise TTDFError(f"--split {self.split!r}: choose one of {[*taxonomy.splits, AUTO_SPLIT]}")
        return FolderSpec(self.label, self.method, config, self.compression, self.split)


def sanitise_id(text: str) -> str:
    """``text`` in the id alphabet: runs of other characters become one ``_``, no ``__`` (the fake name's
    separator), starting and ending with a letter or digit; empty when nothing usable is left."""
    return re.sub(r"_{2,}", "_", _NOT_ID.sub("_", text)).strip("._-")


def ids_from_name(stem: str, label: str) -> tuple[str, str]:
    """(identity_id, pose_id) from a file name: ``<identity>__<pose>`` for a fake, else the stem for both."""
    if label != "real" and FAKE_NAME_SEPARATOR in stem:
        identity, pose = stem.split(FAKE_NAME_SEPARATOR, 1)
        return sanitise_id(identity), sanitise_id(pose)
    return sanitise_id(stem), sanitise_id(stem)


def auto_split(identity_id: str, splits: tuple[str, ...] = ("train", "val", "test"),
               fractions: tuple[float, ...] = AUTO_SPLIT_FRACTIONS) -> str:
    """The split of an identity: a stable hash of the id cut by ``fractions`` (deterministic everywhere)."""
    u = int.from_bytes(hashlib.sha256(identity_id.encode()).digest()[:8], "big") / 2**64
    total, edge = sum(fractions), 0.0
    for split, fraction in zip(splits, fractions):
        edge += fraction / total
        if u < edge:
            return split
    return splits[-1]


@dataclass
class ImportReport:
    """What an import did; paths are relative to the dataset root (``unrecognised``: to the source)."""

    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    unrecognised: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)      # non-video files of a described folder
    registered: list[str] = field(default_factory=list)   # methods added to the root's taxonomy extension
    index: IndexReport | None = None


class _ChecksumMismatch(Exception):
    pass


def import_dataset(src: str | Path, root: str | Path, *, mode: str = "copy", manifest: str | Path | None = None,
                   folder: FolderSpec | None = None, workers: int = 2, progress: bool = True) -> ImportReport:
    """Copy, hard-link or symlink the videos of ``src`` into ``root``, register and index them.

    Metadata: ``folder`` (every video below ``src``, recursively, is described by it), else ``manifest``
    (paths relative to ``src``), else ``<src>/manifest.csv``, else each file's path below ``src`` read with
    the layout convention. Files that cannot be classified are listed in the report, not imported; files
    already in ``root`` are skipped, so an interrupted import resumes.
    """
    taxonomy = load_taxonomy(root=root)
    if folder is not None and manifest is not None:
        raise TTDFError("--manifest describes every file itself; drop --label/--method/--config or --manifest")
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
    if folder is not None:
        folder = folder.validate(taxonomy)
        items, report = _plan_folder(src, root, taxonomy, folder)
        if folder.method and folder.method not in taxonomy.methods and items:
            taxonomy = register_methods(root, {folder.method: folder.method})
            report.registered.append(folder.method)
    else:
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
    files = _set_aside_unusable(src, visible_files(src, skip=(root, manifest_path)), report)
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
                                             "pass --label real|fake (and --method/--config) to describe "
                                             "a plain folder, or --manifest"))
    return items, report


def _plan_folder(src: Path, root: Path, taxonomy: Taxonomy, spec: FolderSpec
                 ) -> tuple[list[tuple[Path, VideoRecord]], ImportReport]:
    """Every video below ``src`` described by ``spec``; ids from names, colliding ids reported, not merged."""
    report = ImportReport()
    extensions = {e.lower() for e in taxonomy.layout.video_extensions}
    if spec.method:
        taxonomy = taxonomy.with_methods({spec.method: spec.method})  # registered once something is imported
    items: list[tuple[Path, VideoRecord]] = []
    owner: dict[tuple[str, str], str] = {}
    for rel in sorted(_set_aside_unusable(src, visible_files(src, skip=(root,)), report)):  # the first path in sorted order keeps a contested id
        ext = Path(rel).suffix.lower()
        if ext not in extensions:
            report.ignored.append(rel)
            continue
        identity, pose = ids_from_name(Path(rel).stem, spec.label)
        if not identity or not pose:
            report.unrecognised.append((rel, "no letter or digit in the file name to make an id from; rename it"))
            continue
        if (identity, pose) in owner:
            report.unrecognised.append((rel, f"id {FAKE_NAME_SEPARATOR.join(dict.fromkeys((identity, pose)))!r} "
                                             f"is also {owner[identity, pose]}'s (names are reduced to letters, "
                                             "digits, '.', '_', '-'); rename one of them"))
            continue
        owner[identity, pose] = rel
        split = spec.split if spec.split != AUTO_SPLIT else auto_split(identity, taxonomy.splits)
        where = dict(label=spec.label, method=spec.method, config=spec.config, split=split,
                     compression=spec.compression, identity_id=identity, pose_id=pose)
        record = VideoRecord(path=relative_path(taxonomy, ext=ext, **where), **where).validate(taxonomy, where=rel)
        target = root / record.path
        if target.is_file() and target.stat().st_size != (src / rel).stat().st_size:
            report.unrecognised.append((rel, f"{record.path} in the root is another video with the same id; "
                                             "rename the file"))
            continue
        items.append((src / rel, record))
    return items, report


def visible_files(src: Path, *, skip: Iterable[Path] = ()) -> list[str]:
    """Every visible regular file below ``src`` (POSIX paths relative to it), hidden folders excluded."""
    skip_resolved = {p.resolve() for p in skip}
    found = []
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and _resolve(here / d) not in skip_resolved)
        for name in sorted(filenames):
            path = here / name
            if name.startswith(".") or is_temp_file(path) or _resolve(path) in skip_resolved:
                continue
            found.append(path.relative_to(src).as_posix())
    return found


def _set_aside_unusable(src: Path, files: list[str], report: ImportReport) -> list[str]:
    """``files`` less links that lead nowhere and names that are not UTF-8, which go to ``unrecognised``."""
    kept = []
    for rel in files:
        reason = broken_link_reason(src / rel)
        if printable_path(rel) != rel:
            reason = "the file name is not valid UTF-8; rename it"
        if reason:
            report.unrecognised.append((printable_path(rel), reason))
        else:
            kept.append(rel)
    return kept


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symbolic link loop: reported by the caller, never the root itself
        return path


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


__all__ = ["AUTO_SPLIT", "AUTO_SPLIT_FRACTIONS", "FolderSpec", "ImportReport", "MODES",
           "auto_split", "ids_from_name", "import_dataset", "sanitise_id"]
