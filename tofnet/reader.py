"""One way to read frames from a video, whatever decoder is installed.

decord seeks quickly to sampled frames but refuses some files (and some frame widths), so
``backend="auto"`` tries decord and falls back to PyAV. Every failure, from any backend, is a
:class:`~ttdf.errors.VideoError` naming the file, so batch jobs can report it and go on.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from ttdf.errors import VideoError
from ttdf.video import iter_selected_frames, probe_video

READER_BACKENDS = ("decord", "pyav", "opencv")
_LOG_PREFIX = re.compile(r"^\[[\d:]+\] \S+:\d+: (Check failed: )?")
_DECORD_CHUNK = 32  # frames decoded at once before resizing, to bound memory on long high-resolution videos


def read_frames(path: str | Path, indices: Sequence[int] | None = None, *, size: tuple[int, int] | None = None,
                backend: str = "auto") -> np.ndarray:
    """Frames ``indices`` (default: all; repeats allowed) as (T, H, W, 3) uint8 RGB.

    ``size`` is (height, width); frames are resized with ``cv2.INTER_AREA`` (the right filter to shrink).
    """
    path = _check_file(path)
    size = None if size is None else check_size(size)
    wanted = None if indices is None else [int(i) for i in indices]
    if wanted is not None and any(i < 0 for i in wanted):
        raise VideoError(path, f"negative frame index in {_preview(wanted)}", hint="pass indices >= 0")
    if wanted == []:
        height, width = size or _frame_size(path)
        return np.zeros((0, height, width, 3), dtype=np.uint8)
    return _with_fallback(backend, lambda read: read(path, wanted, size), _READERS)


def count_frames(path: str | Path, *, backend: str = "auto") -> int:
    """Number of frames, as the backend that would decode them sees it."""
    path = _check_file(path)
    return _with_fallback(backend, lambda count: count(path), _COUNTERS)


def _with_fallback(backend: str, call: Callable, table: dict[str, Callable]):
    if backend != "auto" and backend not in READER_BACKENDS:
        raise ValueError(f"unknown reader backend {backend!r}; choose from {['auto', *READER_BACKENDS]}")
    if backend != "auto":
        return call(table[backend])
    try:
        return call(table["decord"])
    except VideoError:
        return call(table["pyav"])  # decord rejects some valid files; PyAV's error is the one reported


def _check_file(path: str | Path) -> Path:
    """Refuse missing and empty files before a decoder sees them (decord can crash on some garbage)."""
    path = Path(path)
    if not path.exists():
        raise VideoError(path, "file not found")
    if not path.is_file():
        raise VideoError(path, "not a regular file", hint="pass a video file")
    if path.stat().st_size == 0:
        raise VideoError(path, "file is empty (0 bytes)")
    return path


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    """``size`` as (height, width) ints, refusing non-positive values."""
    height, width = (int(v) for v in size)
    if height < 1 or width < 1:
        raise ValueError(f"size must be (height, width) with positive values, got {size!r}")
    return height, width


def _frame_size(path: Path) -> tuple[int, int]:
    info = probe_video(path)
    return info.height, info.width


def _resize(frame: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    if size is None or frame.shape[:2] == size:
        return frame
    return cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def _plan(wanted: list[int] | None) -> list[int] | None:
    """Sorted unique indices to decode (decoders go forwards; repeats are decoded once)."""
    return None if wanted is None else sorted(set(wanted))


def _assemble(path: Path, wanted: list[int] | None, decoded: dict[int, np.ndarray], total: int) -> np.ndarray:
    order = wanted if wanted is not None else list(range(total))
    missing = [i for i in order if i not in decoded]
    if missing:
        raise _out_of_range(path, max(missing), total)
    if not order:
        raise VideoError(path, "has no frames (truncated or empty stream)")
    return np.stack([decoded[i] for i in order])


def _out_of_range(path: Path, index: int, total: int) -> VideoError:
    return VideoError(path, f"frame index {index} out of range (the video has {total} frames)",
                      hint="sample indices below the frame count")


# -- decord ------------------------------------------------------------------------------------------------


def _decord_open(path: Path):
    try:
        import decord
    except ImportError as exc:  # an environment without decord still reads through PyAV
        raise VideoError(path, "decord is not installed", hint="use backend='pyav'") from exc
    decord.logging.set_level(decord.logging.QUIET)
    try:
        return decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    except Exception as exc:  # decord raises RuntimeError, DECORDError and others, all "cannot open"
        raise VideoError(path, f"decord cannot open it ({_short(exc)})") from exc


def _decord_read(path: Path, wanted: list[int] | None, size: tuple[int, int] | None) -> np.ndarray:
    reader = _decord_open(path)
    total = len(reader)
    unique = list(range(total)) if wanted is None else _plan(wanted)
    if unique and unique[-1] >= total:
        raise _out_of_range(path, unique[-1], total)
    decoded: dict[int, np.ndarray] = {}
    for start in range(0, len(unique), _DECORD_CHUNK):
        chunk = unique[start:start + _DECORD_CHUNK]
        try:
            batch = reader.get_batch(chunk).asnumpy()
        except Exception as exc:  # corrupt packets, or decord's stride bug on some frame widths
            raise VideoError(path, f"decord cannot decode frames {chunk[0]}..{chunk[-1]} ({_short(exc)})") from exc
        if batch.ndim != 4 or batch.shape[0] != len(chunk) or batch.shape[-1] != 3:
            raise VideoError(path, f"decord returned an array of shape {batch.shape}, not RGB frames")
        decoded.update((i, _resize(frame, size)) for i, frame in zip(chunk, batch))
    return _assemble(path, wanted, decoded, total)


def _decord_count(path: Path) -> int:
    total = len(_decord_open(path))
    if total < 1:
        raise VideoError(path, "has no frames (truncated or empty stream)")
    return total


# -- PyAV --------------------------------------------------------------------------------------------------


def _pyav_read(path: Path, wanted: list[int] | None, size: tuple[int, int] | None) -> np.ndarray:
    unique = _plan(wanted)
    needed = set(unique) if unique is not None else None
    last = unique[-1] if unique is not None else None
    decoded: dict[int, np.ndarray] = {}
    total = 0
    for index, frame in iter_selected_frames(path, needed):  # sequential: stop at the last frame we need
        total = index + 1
        if frame is not None:
            decoded[index] = _resize(frame, size)
        if last is not None and index >= last:
            break
    return _assemble(path, wanted, decoded, total)


def _pyav_count(path: Path) -> int:
    return probe_video(path).frames


# -- OpenCV ------------------------------------------------------------------------------------------------


def _opencv_read(path: Path, wanted: list[int] | None, size: tuple[int, int] | None) -> np.ndarray:
    unique = _plan(wanted)
    needed = set(unique) if unique is not None else None
    capture = _opencv_open(path)
    decoded: dict[int, np.ndarray] = {}
    total = 0
    try:
        while unique is None or total <= unique[-1]:
            if not capture.grab():
                break
            if needed is None or total in needed:
                ok, frame = capture.retrieve()
                if not ok:
                    raise VideoError(path, f"OpenCV cannot decode frame {total}")
                decoded[total] = _resize(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), size)
            total += 1
    finally:
        capture.release()
    return _assemble(path, wanted, decoded, total)


def _opencv_count(path: Path) -> int:
    capture = _opencv_open(path)
    try:
        total = 0
        while capture.grab():  # the container's frame count is an estimate; count what decodes
            total += 1
    finally:
        capture.release()
    if total < 1:
        raise VideoError(path, "has no frames (truncated or empty stream)")
    return total


def _opencv_open(path: Path) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise VideoError(path, "OpenCV cannot open it (not a video, or truncated)")
    return capture


_READERS: dict[str, Callable] = {"decord": _decord_read, "pyav": _pyav_read, "opencv": _opencv_read}
_COUNTERS: dict[str, Callable] = {"decord": _decord_count, "pyav": _pyav_count, "opencv": _opencv_count}


def _preview(values: list[int]) -> str:
    return str(values[:8])[:-1] + (", ...]" if len(values) > 8 else "]")


def _short(exc: BaseException) -> str:
    """First line of an error, without decord's "[hh:mm:ss] file.cc:123: " log prefix."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return _LOG_PREFIX.sub("", lines[0])[:200] if lines else type(exc).__name__
