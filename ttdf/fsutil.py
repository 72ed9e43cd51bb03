"""Filesystem helpers shared by every writer: nothing half-written is ever left in place."""
from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from ttdf.errors import ManifestError

_CHUNK = 1 << 20


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success.

    The temporary name keeps the target's suffix so that writers which pick a container format
    from the extension (PyAV, numpy) behave as they would on the final name.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would make datasets and reports private to one user
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(target: str | Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | Path, text: str) -> None:
    atomic_write_bytes(target, text.encode("utf-8"))


def is_temp_file(path: Path) -> bool:
    """True for the leftovers of an interrupted :func:`atomic_path` (never a dataset file)."""
    return path.name.startswith(".") and ".tmp" in path.name


def remove_temp_files(target: str | Path) -> list[Path]:
    """Delete the leftovers of interrupted :func:`atomic_path` writes of ``target``; call only while owning it."""
    target = Path(target)
    # mkstemp's random part is 8 characters: "s000.v2.mp4"'s temp files are not "s000.mp4"'s
    own = re.compile(rf"\.{re.escape(target.stem)}\.[a-z0-9_]{{8}}\.tmp{re.escape(target.suffix)}")
    removed = []
    for path in target.parent.glob(f".{glob.escape(target.stem)}.*.tmp*"):
        if not own.fullmatch(path.name):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def broken_link_reason(path: str | Path) -> str | None:
    """Why ``path`` is a symbolic link that leads nowhere (dangling or a loop), else None."""
    path = Path(path)
    try:
        path.stat()
        return None
    except FileNotFoundError:
        if not path.is_symlink():
            return None
        return f"broken symbolic link (its target {os.readlink(path)} does not exist); fix or delete the link"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop (the link leads back to itself); fix or delete the link"
        return None


def printable_path(path: str | Path) -> str:
    """``path`` with bytes that are not UTF-8 shown as ``\\xNN``, safe to print or store anywhere."""
    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_relative_path(rel: str, *, where: str = "manifest") -> str:
    """Refuse paths that could make us read or write outside the dataset root."""
    if not rel or "\\" in rel or rel.startswith("/") or (len(rel) > 1 and rel[1] == ":"):
        raise ManifestError(f"{where}: path {rel!r} must be a relative POSIX path inside the dataset root")
    parts = PurePosixPath(rel).parts
    if any(part in ("..", ".") for part in parts) or not parts:
        raise ManifestError(f"{where}: path {rel!r} must not contain '.' or '..' components")
    return str(PurePosixPath(*parts))


def resolve_inside(root: str | Path, rel: str) -> Path:
    """Join a checked relative path onto ``root``."""
    return Path(root) / check_relative_path(rel)
