"""Locks that let several ``ttdf`` jobs share one dataset root without losing each other's work.

Two kinds, both OS file locks (``filelock``), so a killed job never leaves a stale lock behind:

- :func:`root_lock`: one per root (``<root>/.ttdf/root.lock``), held for short critical sections
  (merging ``manifest.csv``, writing the index). A second job waits, saying so once on stderr.
- :func:`claim`: one per output file (``<root>/.ttdf/claims/<hash>.lock``), held while that output is
  being written, so two ``ttdf compress`` runs split the work instead of encoding everything twice.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from ttdf.errors import TTDFError

ROOT_LOCK = ".ttdf/root.lock"
CLAIMS_DIR = ".ttdf/claims"
LOCK_TIMEOUT_ENV = "TTDF_LOCK_TIMEOUT"
DEFAULT_TIMEOUT = 3600.0  # seconds a job waits for the root before giving up with one line

_LOCKS: dict[str, FileLock] = {}  # one object per lock file and process: re-entrant within the process
_LOCKS_GUARD = threading.Lock()


class RootBusyError(TTDFError):
    """Another job held the dataset root for longer than the lock timeout."""


@contextlib.contextmanager
def root_lock(root: str | Path, *, what: str = "this job", timeout: float | None = None) -> Iterator[None]:
    """Hold the root's lock (re-entrant); wait for another job with a message, give up after ``timeout``."""
    root = Path(root)
    path = root / ROOT_LOCK
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TTDFError(f"cannot create {path.parent} ({exc.strerror or exc}); check the permissions of the "
                        "dataset root") from exc
    lock = _lock_for(path)
    if timeout is None:
        timeout = float(os.environ.get(LOCK_TIMEOUT_ENV, DEFAULT_TIMEOUT))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"ttdf: waiting for another ttdf job to release {root} (lock {path}) before {what} ...",
              file=sys.stderr, flush=True)
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise RootBusyError(f"{root} is still locked by another ttdf job after {timeout:.0f} s ({path}); "
                                f"wait for it to finish, or raise ${LOCK_TIMEOUT_ENV}") from None
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def claim(root: str | Path, rel: str) -> Iterator[bool]:
    """Try to claim output ``rel`` of ``root`` without waiting; yields False when another job holds it."""
    digest = hashlib.sha1(rel.encode("utf-8", "surrogateescape")).hexdigest()
    path = Path(root) / CLAIMS_DIR / f"{digest}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = _lock_for(path)
    if lock.is_locked:  # held by this very process (another thread): not ours to take
        yield False
        return
    try:
        lock.acquire(timeout=0)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        if (Path(root) / rel).exists():  # done: nobody needs this claim again (and 20k of them must not pile up)
            with contextlib.suppress(OSError):
                path.unlink()  # NOTE: before release, so a waiter that gets the old file finds the output done
        lock.release()


def _lock_for(path: Path) -> FileLock:
    key = os.path.abspath(path)
    with _LOCKS_GUARD:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = FileLock(key, thread_local=False)
        return lock


__all__ = ["CLAIMS_DIR", "DEFAULT_TIMEOUT", "LOCK_TIMEOUT_ENV", "ROOT_LOCK", "RootBusyError", "claim", "root_lock"]
