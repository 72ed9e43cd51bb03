"""Read frames from a video with PyAV, OpenCV or decord: the same frames for the same indices.

Clips are read by seeking to the keyframe before them (from :func:`~ttdf.video.probe.frame_table`)
rather than decoding from frame 0; each backend's seeking is checked against a sequential decode
in the tests, and any doubt (a frame whose timestamp the table does not know, a seek that lands
past the clip) falls back to decoding from the start. Every failure is a
:class:`~ttdf.errors.VideoError` naming the file, so batch jobs can report it and go on.
"""
from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ttdf.errors import VideoError
from ttdf.video.backends import COUNTERS, READERS, Frames, FrameSink, OutOfRange
from ttdf.video.probe import probe_video

READER_BACKENDS = ("pyav", "opencv", "decord")
# NOTE: PyAV is the default ("auto"): it is the library the index probes with, so its count is the
# index's by construction; it seeks exactly on every container tested, and bench/decode.py measured
# it as fast as the fastest bare loop (decord seeks to wrong frames in AVI files with B-frames).
DEFAULT_READER = "pyav"
# frames decoded ahead of stream_frames' consumer (a few 100 KB each at flow sizes)
STREAM_AHEAD = 8
_END = object()  # end of the decoded frames
REINDEX_HINT = "re-run `ttdf index` on its dataset root (the file changed since it was indexed)"


def read_frames(path: str | Path, indices: Sequence[int] | None = None, *, size: tuple[int, int] | None = None,
                backend: str = "auto", frames: int | None = None, gray: bool = False) -> np.ndarray:
    """Frames ``indices`` (default: all; repeats allowed) as (T, H, W, 3) uint8 RGB, or (T, H, W) luma with ``gray``.

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
        return np.zeros((0, height, width) if gray else (0, height, width, 3), dtype=np.uint8)
    try:
        result = READERS[name](path, Frames(path, wanted, size, gray))
    except OutOfRange as exc:
        if frames is not None and exc.total != frames:
            raise length_mismatch(path, frames, exc.total, name) from None
        raise out_of_range(path, exc.index, exc.total) from None
    if wanted is None and frames is not None and len(result) != frames:
        raise length_mismatch(path, frames, len(result), name)
    return result


def stream_frames(path: str | Path, consume: Callable[[np.ndarray], None], *, size: tuple[int, int] | None = None,
                  backend: str = "auto", frames: int | None = None, ahead: int = STREAM_AHEAD, gray: bool = False
                  ) -> int:
    """Hand every frame, in order, to ``consume`` as (H, W, 3) uint8 RGB (``gray``: (H, W) luma) as soon as it
    decodes; returns the count.

    The same frames as ``read_frames(path, size=size, backend=backend, gray=gray)``, without holding the video in
    memory. With ``ahead > 0`` a background thread decodes, converts and resizes up to ``ahead`` frames
    while ``consume`` works (all of them release the GIL): optical flow of a whole video then costs about
    the slower of decoding and flow rather than their sum, which is what a bare OpenCV loop gets from its
    decoder threads (bench ``flow.video_flow``). ``ahead=0`` runs everything in the calling thread.
    ``consume`` must copy a frame it keeps. ``frames``: the length the index recorded, checked as in
    ``read_frames``.
    """
    path = _check_file(path)
    name = reader_backend(backend)
    size = None if size is None else check_size(size)
    sink = FrameSink(path, size, consume, gray)
    total = _decode_ahead(path, name, sink, ahead) if ahead > 0 else READERS[name](path, sink)
    if frames is not None and total != frames:
        raise length_mismatch(path, frames, total, name)
    return total


class _Stopped(Exception):
    """The consumer gave up (it raised): the decoding thread stops at its next frame."""


def _decode_ahead(path: Path, backend: str, sink: FrameSink, ahead: int) -> int:
    """``READERS[backend]`` in a thread feeding a bounded queue; ``sink.consume`` runs here, in the caller's thread."""
    frames: queue.Queue = queue.Queue(maxsize=ahead)
    stop, outcome = threading.Event(), {}
    consume = sink.consume

    def put(image: np.ndarray) -> None:
        while not stop.is_set():
            try:
                return frames.put(image, timeout=0.1)
            except queue.Full:
                continue
        raise _Stopped

    sink.consume = put  # in the decoding thread, the sink only queues

    def decode() -> None:
        try:
            outcome["total"] = READERS[backend](path, sink)
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the caller's thread, which raises it
            outcome["error"] = exc
        finally:
            frames.put(_END)  # waits, if the queue is full, until the consumer (reading or draining) takes one

    thread = threading.Thread(target=decode, name=f"decode-{path.name}", daemon=True)
    thread.start()
    try:
        while (image := frames.get()) is not _END:
            consume(image)
    finally:
        stop.set()
        while thread.is_alive():  # drain, so a decoder blocked on a full queue sees the stop
            with contextlib.suppress(queue.Empty):
                frames.get(timeout=0.1)
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["total"]


def count_frames(path: str | Path, *, backend: str = "auto") -> int:
    """Number of frames, as the backend that would decode them sees it."""
    path = _check_file(path)
    return COUNTERS[reader_backend(backend)](path)


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


def out_of_range(path: str | Path, index: int, total: int) -> VideoError:
    return VideoError(path, f"frame index {index} out of range (the video has {total} frames)",
                      hint="sample indices below the frame count")


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


def _preview(values: list[int]) -> str:
    return str(values[:8])[:-1] + (", ...]" if len(values) > 8 else "]")
