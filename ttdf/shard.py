"""Split a batch job across machines that share one dataset root: ``--shard i/n`` on every batch command.

Shard ``i`` of ``n`` takes every n-th item of the job list sorted by a stable key, starting at item
``i``, so the shards are disjoint, cover everything and stay balanced. All shards must see the same
item list: they do when they select from the same index (compress, flow) or the same unchanged files
(index), which is why a sharded run never writes the shared index or manifest itself; it leaves a
fragment under ``<root>/.ttdf/shards/`` that the next unsharded ``ttdf index`` merges, once.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from ttdf.manifest import merge_into_manifest, read_manifest, write_manifest
from ttdf.records import VideoRecord
from ttdf.taxonomy import Taxonomy

_T = TypeVar("_T")

Shard = tuple[int, int]
NO_SHARD: Shard = (0, 1)
SHARDS_DIR = ".ttdf/shards"  # below a dataset root: per-shard fragments waiting for `ttdf index`


def parse_shard(text: str) -> Shard:
    """``"i/n"`` -> ``(i, n)`` with ``0 <= i < n``; a ValueError says what a valid shard looks like."""
    try:
        index, count = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise ValueError(f"expected i/n (e.g. 0/2), got {text!r}") from None
    return check_shard((index, count))


def check_shard(shard: Shard) -> Shard:
    """``shard`` as two ints, refusing ``n < 1`` and ``i`` outside ``0..n-1``."""
    index, count = (int(v) for v in shard)
    if count < 1:
        raise ValueError(f"shard {index}/{count}: n must be at least 1")
    if not 0 <= index < count:
        examples = ", ".join(f"{i}/{count}" for i in range(min(count, 4))) + (", ..." if count > 4 else "")
        raise ValueError(f"shard {index}/{count} is out of range: i must be 0..n-1 (for n={count}: {examples})")
    return index, count


def select_shard(items: Iterable[_T], shard: Shard = NO_SHARD, *, key: Callable[[_T], object] = str) -> list[_T]:
    """The items of shard ``(i, n)``: sorted by ``key``, every n-th starting at the i-th.

    ``(0, 1)`` returns every item (sorted). Items with equal keys stay in their given order.
    """
    index, count = check_shard(shard)
    ordered = sorted(items, key=key)
    return ordered[index::count]


def is_sharded(shard: Shard) -> bool:
    return check_shard(shard)[1] > 1


def shard_name(shard: Shard) -> str:
    """``"1-of-4"``: the part of a fragment's file name that says which shard wrote it."""
    index, count = check_shard(shard)
    return f"{index}-of-{count}"


def manifest_fragment(root: str | Path, command: str, shard: Shard) -> Path:
    """Where shard ``shard`` of ``command`` leaves the manifest rows of what it wrote, for ``ttdf index``."""
    return Path(root) / SHARDS_DIR / "manifest" / f"{command}-{shard_name(shard)}.csv"


def write_manifest_fragment(root: str | Path, command: str, shard: Shard, records: Iterable[VideoRecord],
                            taxonomy: Taxonomy | None = None) -> Path:
    """Add ``records`` to this shard's fragment (a rerun of the shard keeps what the last run wrote), atomically."""
    path = manifest_fragment(root, command, shard)
    rows = {r.path: r for r in (read_manifest(path, taxonomy) if path.is_file() else [])}
    rows.update((r.path, r) for r in records)
    return write_manifest(path, sorted(rows.values(), key=lambda r: r.path))


def fragment_paths(root: str | Path, taxonomy: Taxonomy | None = None) -> set[str]:
    """Every path some shard's manifest fragment registers (not yet merged)."""
    return {r.path for f in _manifest_fragments(root) for r in read_manifest(f, taxonomy)}


def merge_manifest_fragments(root: str | Path, taxonomy: Taxonomy | None = None) -> int:
    """Merge every shard's manifest fragment into ``<root>/manifest.csv``, then delete them; returns rows merged.

    Runs in the one unsharded ``ttdf index`` after the shards have finished: only it writes the manifest.
    A fragment is deleted only after the manifest holding its rows has been written.
    """
    fragments = _manifest_fragments(root)
    records = [r for f in fragments for r in read_manifest(f, taxonomy)]  # validated: a bad row names its file
    if records:
        merge_into_manifest(root, records, taxonomy=taxonomy)
    for fragment in fragments:
        fragment.unlink()
    return len(records)


def _manifest_fragments(root: str | Path) -> list[Path]:
    folder = Path(root) / SHARDS_DIR / "manifest"
    return sorted(folder.glob("*.csv")) if folder.is_dir() else []


__all__ = ["NO_SHARD", "SHARDS_DIR", "Shard", "check_shard", "fragment_paths", "is_sharded", "manifest_fragment",
           "merge_manifest_fragments", "parse_shard", "select_shard", "shard_name", "write_manifest_fragment"]
