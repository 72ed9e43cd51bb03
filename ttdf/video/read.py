"""Read frames from a video with PyAV, OpenCV or decord: the same frames for the same indices.

Clips are read by seeking to the keyframe before them (from :func:`~ttdf.video.probe.frame_table`)
rather than decoding from frame 0; each backend's seeking is checked against a sequential decode
in the tests, and any doubt (a frame whose timestamp the table does not know, a seek that lands
past the clip) falls back to decoding from the start. Every failure is a
:class:`~ttdf.errors.VideoError` naming the file, so batch jobs can report it and go on.
"""
from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from pathlib import Path

import av
import cv2
import numpy as np

from ttdf.errors import VideoError
from ttdf.video.probe import frame_table, open_video, probe_video, short_reason

READER_BACKENDS = ("pyav", "opencv", "decord")
# NOTE: PyAV is the default ("auto"): it is the library the index probes with, so its count is the
# index's by construction; it seeks exactly on every container tested, and bench/decode.py measured
# it as fast as the fastest bare loop (decord seeks to wrong frames in AVI files with B-frames).
DEFAULT_READER = "pyav"
REINDEX_HINT = "re-run `ttdf index` on its dataset root (the file changed since it was indexed)"
_DECORD_CHUNK = 32  # frames decoded at once before resizing, to bound memory on long high-resolution videos


def read_frames(path: str | Path, indices: Sequence[int] | None = None, *, size: tuple[int, int] | None = None,
                backend: str = "auto", frames: int | None = None) -> np.ndarray:
    """Frames ``indices`` (default: all; repeats allowed) as (T, H, W, 3) uint8 RGB.

    ``size`` is (height, width); frames are resized with ``cv2.INTER_AREA`` (the right filter to shrink).
    ``frames`` is the length the index recorded: a video that turns out to have another length raises
    a :class:`VideoError` saying to re-index, instead of a clip quietly clamped to the wrong frames.
    """
    path = _check_file(path)
    name = reader_backend(backend)
    size = None if size is None else check_size(size)
    wanted = None if indices is None else [int(i) for i in indices]
    if wanted is not None and any(i < 0 for i in wanted):
        raise VideoError(path, f"negative frame index in {_preview(wanted)}", hint="pass indices >= 0")
    if wanted == []:
        height, width = size or _frame_size(path)
        return np.zeros((0, height, width, 3), dtype=np.uint8)
    try:
        result = _READERS[name](path, _Frames(path, wanted, size))
    except _OutOfRange as exc:
        if frames is not None and exc.total != frames:
            raise length_mismatch(path, frames, exc.total, name) from None
        raise VideoError(path, f"frame index {exc.index} out of range (the video has {exc.total} frames)",
                         hint="sample indices below the frame count") from None
    if wanted is None and frames is not None and len(result) != frames:
        raise length_mismatch(path, frames, len(result), name)
    return result


def count_frames(path: str | Path, *, backend: str = "auto") -> int:
    """Number of frames, as the backend that would decode them sees it."""
    path = _check_file(path)
    return _COUNTERS[reader_backend(backend)](path)


def reader_backend(backend: str) -> str:
    """The backend ``backend`` names (``"auto"`` is :data:`DEFAULT_READER`)."""
    if backend == "auto":
        return DEFAULT_READER
    if backend not in READER_BACKENDS:
        raise ValueError(f"unknown reader backend {backend!r}; choose from {['auto', *READER_BACKENDS]}")
    return backend


def length_mismatch(path: str | Path, expected: int, actual: int, backend: str) -> VideoError:
    return VideoError(path, f"the index says {expected} frames but the {backend} reader decodes {actual}",
                      hint=REINDEX_HINT)


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    """``size`` as (height, width) ints, refusing non-positive values."""
    height, width = (int(v) for v in size)
    if height < 1 or width < 1:
        raise ValueError(f"size must be (height, width) with positive values, got {size!r}")
    return height, width


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


def _frame_size(path: Path) -> tuple[int, int]:
    info = probe_video(path)
    return info.height, info.width


class _OutOfRange(Exception):
    def __init__(self, index: int, total: int):
        super().__init__(index, total)
        self.index, self.total = index, total


class _SeekMiss(Exception):
    """A seek landed somewhere the frame table cannot place: read from the start instead."""


class _Frames:
    """The requested frames, written straight into the output array as they decode (no stacking copy)."""

    def __init__(self, path: Path, wanted: list[int] | None, size: tuple[int, int] | None):
        self.path, self.wanted, self.size = path, wanted, size
        self.unique = None if wanted is None else sorted(set(wanted))  # decoders go forwards, repeats once
        self.last = None if wanted is None else self.unique[-1]
        self._slot = {} if wanted is None else {i: n for n, i in enumerate(self.unique)}
        self._out: np.ndarray | None = None
        self._filled = 0

    def needs(self, index: int) -> bool:
        return self.wanted is None or index in self._slot

    def put(self, index: int, rgb: np.ndarray) -> None:
        if self.size is not None and rgb.shape[:2] != self.size:
            rgb = cv2.resize(rgb, (self.size[1], self.size[0]), interpolation=cv2.INTER_AREA)
        slot = index if self.wanted is None else self._slot[index]
        if self._out is None:
            self._out = np.empty((self._capacity(), *rgb.shape), dtype=np.uint8)
        elif slot >= len(self._out):  # more frames than the table announced: grow
            self._out = np.concatenate([self._out, np.empty_like(self._out)])
        self._out[slot] = rgb
        self._filled = max(self._filled, slot + 1) if self.wanted is None else self._filled + 1

    def result(self, total: int) -> np.ndarray:
        """The frames in the requested order; ``total`` is how far the decoder got."""
        if self.wanted is None:
            if not total or self._out is None:
                raise VideoError(self.path, "has no frames (truncated or empty stream)")
            return self._out[:total]
        if self._filled < len(self.unique):
            raise _OutOfRange(self.last, total)
        if self.wanted == self.unique:
            return self._out
        return self._out[[self._slot[i] for i in self.wanted]]

    def _capacity(self) -> int:
        if self.wanted is not None:
            return len(self.unique)
        try:
            return max(1, frame_table(self.path).packets)
        except VideoError:
            return 64


# -- PyAV --------------------------------------------------------------------------------------------------


def _pyav_read(path: Path, out: _Frames) -> np.ndarray:
    table = frame_table(path)
    if out.wanted is None or table.pts is None or not table.keyframes:
        return _pyav_sequential(path, out)
    if out.last >= len(table.pts):
        raise _OutOfRange(out.last, len(table.pts))
    index_of = {pts: i for i, pts in enumerate(table.pts)}
    try:
        with open_video(path) as (container, stream):
            _pyav_seek_read(container, stream, table, index_of, out)
    except _SeekMiss:
        return _pyav_sequential(path, _Frames(path, out.wanted, out.size))
    except (av.FFmpegError, OSError) as exc:
        raise VideoError(path, f"stream is corrupt or truncated ({short_reason(exc)})") from exc
    return out.result(len(table.pts))


def _pyav_seek_read(container, stream, table, index_of: dict[int, int], out: _Frames) -> None:
    """Decode each wanted frame, seeking to its keyframe whenever that skips frames."""
    decoder, position = None, -1
    for target in out.unique:
        if target <= position:
            continue
        k = table.keyframe_before(target)
        if decoder is None or table.keyframes[k] > position + 1:
            if decoder is not None or table.keyframes[k] > 0:
                container.seek(table.seek_ts[k], stream=stream, backward=True)
            decoder, fresh = container.decode(stream), True
        for frame in decoder:
            index = index_of.get(frame.pts)
            if index is None or (fresh and index > target):
                raise _SeekMiss
            fresh, position = False, index
            if out.needs(index):
                out.put(index, frame.to_ndarray(format="rgb24"))
            if index >= target:
                break


def _pyav_sequential(path: Path, out: _Frames) -> np.ndarray:
    total = 0
    with open_video(path) as (container, stream):
        try:
            for index, frame in enumerate(container.decode(stream)):
                total = index + 1
                if out.needs(index):  # unwanted frames are decoded (later ones depend on them), not converted
                    out.put(index, frame.to_ndarray(format="rgb24"))
                if out.last is not None and index >= out.last:
                    break
        except (av.FFmpegError, OSError) as exc:
            raise VideoError(path, f"stream is corrupt or truncated ({short_reason(exc)})") from exc
    return out.result(total)


def _pyav_count(path: Path) -> int:
    return probe_video(path).frames


# -- OpenCV ------------------------------------------------------------------------------------------------


def _opencv_read(path: Path, out: _Frames) -> np.ndarray:
    table = None if out.wanted is None else frame_table(path)
    seekable = table is not None and table.pts is not None and len(table.keyframes) > 1
    try:
        return _opencv_decode(path, out, table if seekable else None)
    except _SeekMiss:
        return _opencv_decode(path, _Frames(path, out.wanted, out.size), None)


def _opencv_decode(path: Path, out: _Frames, table) -> np.ndarray:
    """Grab frames forwards, jumping with OpenCV's own seek when a keyframe lies before the next wanted one."""
    capture = _opencv_open(path)
    position = -1  # the frame the capture last grabbed
    try:
        while out.last is None or position < out.last:
            target = position + 1 if out.unique is None else out.unique[bisect.bisect_right(out.unique, position)]
            if table is not None and table.keyframes[table.keyframe_before(target)] > position + 1:
                capture.set(cv2.CAP_PROP_POS_FRAMES, target)  # seeks to the keyframe, decodes on to target
                if int(capture.get(cv2.CAP_PROP_POS_FRAMES)) != target:
                    raise _SeekMiss
                position = target - 1
            if not capture.grab():
                break
            position += 1
            if out.needs(position):
                ok, frame = capture.retrieve()
                if not ok:
                    raise VideoError(path, f"OpenCV cannot decode frame {position}")
                out.put(position, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    return out.result(position + 1)


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


# -- decord ------------------------------------------------------------------------------------------------


def _decord_open(path: Path):
    try:
        import decord
    except ImportError as exc:  # decord is optional: the default reader is PyAV
        raise VideoError(path, "decord is not installed", hint="use backend='pyav'") from exc
    decord.logging.set_level(decord.logging.QUIET)
    try:
        return decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    except Exception as exc:  # decord raises RuntimeError, DECORDError and others, all "cannot open"
        raise VideoError(path, f"decord cannot open it ({short_reason(exc)})") from exc


def _decord_read(path: Path, out: _Frames) -> np.ndarray:
    reader = _decord_open(path)
    total = len(reader)
    if out.last is not None and out.last >= total:
        raise _OutOfRange(out.last, total)
    if out.unique is None:
        plan = list(range(total))
    elif _decord_seeks_exactly(path):
        plan = out.unique
    else:  # NOTE: decord seeks to wrong frames in AVI files with B-frames; decoding from frame 0 is exact
        plan = list(range(out.last + 1))
    for start in range(0, len(plan), _DECORD_CHUNK):
        chunk = plan[start:start + _DECORD_CHUNK]
        try:
            batch = reader.get_batch(chunk).asnumpy()
        except Exception as exc:  # corrupt packets, or decord's stride bug on some frame widths
            raise VideoError(path, f"decord cannot decode frames {chunk[0]}..{chunk[-1]} ({short_reason(exc)})") from exc
        if batch.ndim != 4 or batch.shape[0] != len(chunk) or batch.shape[-1] != 3:
            raise VideoError(path, f"decord returned an array of shape {batch.shape}, not RGB frames")
        for index, frame in zip(chunk, batch):
            if out.needs(index):
                out.put(index, frame)
    return out.result(total)


def _decord_seeks_exactly(path: Path) -> bool:
    """MP4/MOV: decord's seeks were checked frame-exact there (tests); other containers are read from the start."""
    return frame_table(path).format.startswith("mov,mp4")


def _decord_count(path: Path) -> int:
    total = len(_decord_open(path))
    if total < 1:
        raise VideoError(path, "has no frames (truncated or empty stream)")
    return total


_READERS: dict[str, Callable[[Path, _Frames], np.ndarray]] = {
    "pyav": _pyav_read, "opencv": _opencv_read, "decord": _decord_read}
_COUNTERS: dict[str, Callable[[Path], int]] = {"pyav": _pyav_count, "opencv": _opencv_count, "decord": _decord_count}


def _preview(values: list[int]) -> str:
    return str(values[:8])[:-1] + (", ...]" if len(values) > 8 else "]")
