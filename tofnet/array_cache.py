"""One on-disk store for per-video arrays (optical flow, decoded frames), keyed by content and setting.

Entries are ``<cache_dir>/<key>/<sha[:2]>/<sha>.npy``: the video's sha256 (renaming or moving a file
keeps its entries; re-encoding it does not) and a key naming how the array was made (backend, size,
reader). Entries are plain ``.npy`` written atomically, so readers never see half a file, two jobs
filling one cache at once at worst compute an entry twice, and a read memory-maps only the frames a
clip needs.
"""
from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import TypeVar

import numpy as np

from ttdf.errors import VideoError
from ttdf.fsutil import atomic_path, sha256_file

_SHA256 = re.compile(r"^[0-9a-f]{2,64}$")
_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")
_Cache = TypeVar("_Cache", bound="ArrayCache")


class ArrayCache:
    """Per-video arrays under ``cache_dir``; subclasses say which arrays are valid entries (:meth:`accepts`)."""

    kind = "array"  # what the entries hold, for error messages
    root_dir = ".ttdf/arrays"  # where a dataset root keeps this cache (:meth:`for_root`)

    def __init__(self, cache_dir: str | Path):
        self.cache_dir = Path(cache_dir)

    @classmethod
    def for_root(cls: type[_Cache], root: str | Path) -> _Cache:
        """The dataset's cache of this kind, ``<root>/<root_dir>``."""
        return cls(Path(root) / cls.root_dir)

    def accepts(self, array: np.ndarray) -> bool:
        """Whether ``array`` (as read back) is a well-formed entry; anything else counts as corrupt."""
        return True

    def path_for(self, sha256: str, key: str) -> Path:
        sha256 = sha256.lower()
        if not _SHA256.match(sha256) or not _KEY.match(key):  # both become path parts: refuse anything odd
            raise ValueError(f"invalid {self.kind} cache entry name (sha256={sha256!r}, key={key!r})")
        return self.cache_dir / key / sha256[:2] / f"{sha256}.npy"

    def get(self, sha256: str, key: str) -> np.ndarray | None:
        """The cached array, memory-mapped read-only, or None.

        A corrupt entry (e.g. from a full disk) is deleted and counts as a miss.
        """
        path = self.path_for(sha256, key)
        if not path.is_file():
            return None
        try:
            array = np.lib.format.open_memmap(path, mode="r")
            if not self.accepts(array):
                raise ValueError(f"unexpected array {array.shape} {array.dtype}")
        except (OSError, ValueError, EOFError):
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        return array

    def discard(self, sha256: str, key: str) -> Path:
        """Delete an entry (e.g. one found holding NaN); returns its path."""
        path = self.path_for(sha256, key)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return path

    def put(self, sha256: str, key: str, array: np.ndarray) -> Path:
        """Store ``array`` atomically; it must be one :meth:`accepts`."""
        array = np.asarray(array)
        if not self.accepts(array):
            raise ValueError(f"not a valid {self.kind} cache entry: {array.shape} {array.dtype}")
        path = self.path_for(sha256, key)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        return path


def video_sha256(path: str | Path) -> str:
    """The sha256 that keys a video's entries; a missing or unreadable file is a :class:`VideoError`."""
    try:
        return sha256_file(path)
    except FileNotFoundError as exc:
        raise VideoError(path, "file not found") from exc
    except OSError as exc:
        raise VideoError(path, f"cannot read it ({exc.strerror or exc})", hint="check its permissions") from exc


__all__ = ["ArrayCache", "video_sha256"]
