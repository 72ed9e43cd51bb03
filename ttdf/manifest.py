"""Read and write per-video manifests (CSV or JSONL), refusing anything unsafe or unknown.

A manifest is the contract between a dataset copy and the code: one row per video with the
fields of :class:`ttdf.records.VideoRecord`. ``path`` is relative to the dataset root.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path

from ttdf.errors import ManifestError
from ttdf.fsutil import atomic_write_text, sha256_file
from ttdf.lock import root_lock
from ttdf.records import RECORD_FIELDS, VideoRecord, parse_relative_path
from ttdf.taxonomy import Taxonomy, load_taxonomy

REQUIRED_FIELDS = ("path", "label", "split", "compression")
_INT_FIELDS = {"frames", "width", "height"}
_FLOAT_FIELDS = {"fps"}


def read_manifest(path: str | Path, taxonomy: Taxonomy | None = None) -> list[VideoRecord]:
    """Parse and validate a manifest; the error names the file and line of the first problem."""
    taxonomy = taxonomy or load_taxonomy()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # spreadsheets save CSV with a byte-order mark
    except FileNotFoundError as exc:
        raise ManifestError(f"{path}: manifest not found; pass the right path or run `ttdf synth`/`ttdf download`") from exc
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not a UTF-8 text manifest; expected CSV or JSONL") from exc
    rows = _parse_jsonl(path, text) if path.suffix in (".jsonl", ".json") else _parse_csv(path, text)
    records: list[VideoRecord] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        where = f"{path}:{line}"
        record = _row_to_record(row, where).validate(taxonomy, where=where)
        _check_label_matches_path(record, taxonomy, where)
        if record.path in seen:
            raise ManifestError(f"{where}: duplicate path {record.path!r} (first at line {seen[record.path]})")
        seen[record.path] = line
        records.append(record)
    return records


def write_manifest(path: str | Path, records: Iterable[VideoRecord]) -> Path:
    """Write records atomically; the format follows the extension (``.csv`` or ``.jsonl``)."""
    path = Path(path)
    records = sorted(records, key=lambda r: r.path)
    if path.suffix == ".jsonl":
        text = "".join(json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in records)
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=RECORD_FIELDS, lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow({k: ("" if v is None else v) for k, v in record.to_dict().items()})
        text = buffer.getvalue()
    atomic_write_text(path, text)
    return path


def _parse_csv(path: Path, text: str) -> list[tuple[int, dict]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [f for f in REQUIRED_FIELDS if f not in (reader.fieldnames or [])]
    if missing:
        raise ManifestError(f"{path}: missing column(s) {missing}; expected a header with {list(RECORD_FIELDS)}")
    return [(i + 2, row) for i, row in enumerate(reader)]


def _parse_jsonl(path: Path, text: str) -> list[tuple[int, dict]]:
    rows = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{path}:{i}: not valid JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise ManifestError(f"{path}:{i}: each line must be a JSON object")
        rows.append((i, row))
    return rows


def _row_to_record(row: dict, where: str) -> VideoRecord:
    unknown = set(row) - set(RECORD_FIELDS)
    if unknown - {None}:
        raise ManifestError(f"{where}: unknown field(s) {sorted(k for k in unknown if k)}")
    values = {}
    for name in RECORD_FIELDS:
        raw = row.get(name)
        if raw in (None, ""):
            values[name] = None
            continue
        try:
            values[name] = int(raw) if name in _INT_FIELDS else float(raw) if name in _FLOAT_FIELDS else str(raw)
        except (TypeError, ValueError) as exc:
            raise ManifestError(f"{where}: field {name} has bad value {raw!r}") from exc
    for name in REQUIRED_FIELDS:
        if values[name] is None:
            raise ManifestError(f"{where}: field {name} is empty")
    values["identity_id"] = values["identity_id"] or ""
    values["pose_id"] = values["pose_id"] or values["identity_id"]
    return VideoRecord(**values)


def _check_label_matches_path(record: VideoRecord, taxonomy: Taxonomy, where: str) -> None:
    """A row whose path sits in the other label's folder would train the detector on a wrong label."""
    placed = parse_relative_path(taxonomy, record.path)
    if placed is not None and placed.label != record.label:
        raise ManifestError(f"{where}: {record.path!r} lies in the {placed.label} folders but is labelled "
                            f"{record.label!r}; fix its label, or its path")


def merge_into_manifest(root: str | Path, records: Iterable[VideoRecord], *, taxonomy: Taxonomy | None = None,
                        complete: Iterable[VideoRecord] = ()) -> Path:
    """Add ``records`` to ``<root>/manifest.csv`` (replacing rows with the same path), atomically.

    ``complete`` are records whose files are already in place but may be missing from the manifest
    (an interrupted run); they are added, with their checksum, only when absent.
    """
    taxonomy = taxonomy or load_taxonomy(root=root)
    root = Path(root)
    path = root / taxonomy.layout.manifest
    with root_lock(root, what=f"updating {path.name}"):  # two writers must merge, not overwrite each other
        return _merge(root, path, records, taxonomy, complete)


def _merge(root: Path, path: Path, records: Iterable[VideoRecord], taxonomy: Taxonomy,
           complete: Iterable[VideoRecord]) -> Path:
    rows = {r.path: r for r in (read_manifest(path, taxonomy) if path.exists() else [])}
    changed = False
    for record in complete:
        if record.path not in rows:
            digest = record.sha256 or sha256_file(root / record.path)
            rows[record.path] = record.with_(sha256=digest)
            changed = True
    for record in records:
        record = record.validate(taxonomy, where=str(path))
        if rows.get(record.path) != record:
            rows[record.path] = record
            changed = True
    if changed:
        write_manifest(path, rows.values())
    return path
