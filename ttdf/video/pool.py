"""Decoders kept open between reads of the same file, so a clip after a clip decodes on from where the
last one stopped instead of re-opening the file and seeking again (what a bare loop over one file does).

A handle is taken out of the pool while in use (threads never share one), dropped after any error,
and never crosses a fork: a DataLoader worker starts with an empty pool of its own.
"""
from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol, TypeVar

POOL_SIZE = 4  # open files per process; training draws clips from many videos, evaluation from one at a time


class Handle(Protocol):
    def close(self) -> None: ...


H = TypeVar("H", bound=Handle)
_pool: OrderedDict[tuple, Handle] = OrderedDict()
_lock = threading.Lock()
_owner = os.getpid()


@contextlib.contextmanager
def pooled(backend: str, path: Path, open_handle: Callable[[Path], H]) -> Iterator[H]:
    """A handle for ``path`` from the pool (or newly opened); it returns to the pool unless the block raised."""
    stat = path.stat()
    key = (backend, str(path), stat.st_size, stat.st_mtime_ns)  # a rewritten file is another key
    handle = _take(key)
    if handle is None:
        handle = open_handle(path)
    try:
        yield handle
    except BaseException:
        handle.close()
        raise
    _give_back(key, handle)


def clear() -> None:
    """Close every pooled handle (tests; long-lived processes that are done reading)."""
    with _lock:
        handles = list(_pool.values())
        _pool.clear()
    for handle in handles:
        handle.close()


def _take(key: tuple) -> Handle | None:
    global _owner
    with _lock:
        if _owner != os.getpid():  # a forked child: the parent's handles are not ours to use (or close)
            _pool.clear()
            _owner = os.getpid()
        return _pool.pop(key, None)


def _give_back(key: tuple, handle: Handle) -> None:
    evicted = []
    with _lock:
        old = _pool.pop(key, None)  # another thread read the same file meanwhile: keep one handle
        if old is not None:
            evicted.append(old)
        _pool[key] = handle
        while len(_pool) > POOL_SIZE:
            evicted.append(_pool.popitem(last=False)[1])
    for stale in evicted:
        stale.close()
