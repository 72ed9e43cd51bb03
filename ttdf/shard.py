"""Split a batch job across machines that share one dataset root: ``--shard i/n`` on every batch command.

Shard ``i`` of ``n`` takes every n-th item of the job list sorted by a stable key, starting at item
``i``, so the shards are disjoint, cover everything and stay balanced. All shards must see the same
item list: they do when they select from the same index (compress, flow) or the same unchanged files
(index), which is why a sharded run never writes the shared index or manifest itself; it leaves a
fragment under ``<root>/.ttdf/shards/`` that the next unsharded ``ttdf index`` merges, once.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

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


__all__ = ["NO_SHARD", "SHARDS_DIR", "Shard", "check_shard", "is_sharded", "parse_shard", "select_shard",
           "shard_name"]
