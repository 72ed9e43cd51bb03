"""The three decoders behind :func:`ttdf.video.read_frames`: PyAV, OpenCV and decord.

Each reads the frames a :class:`Frames` asks for, seeking to the keyframe before a wanted frame
when that skips frames (from :func:`~ttdf.video.probe.frame_table`) and decoding on otherwise. Any
doubt about where a seek landed raises :class:`SeekMiss`, and the read restarts from frame 0.
"""
from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import av
import cv2
import numpy as np

from ttdf.errors import VideoError
from ttdf.video.pool import pooled
from ttdf.video.probe import (FrameTable, as_displayed, display_turns, frame_table, open_container, probe_video,
                              short_reason)

# NOTE: PyAV decodes H.264 on one thread by default (slice threading, and x264 writes one slice);
# frame threading is what OpenCV and decord use out of the box, and what keeps up with them.
PYAV_THREAD_TYPE = "AUTO"
# YUV -> RGB conversion (and resizing) of whole-video reads, in threads beside the decoder's: one thread
# converting 448x256 frames kept up with only a third of what frame threading decodes (both release the GIL)
CONVERT_THREADS = 2
# Clips (a seek, then a few frames) of smaller streams decode faster on one slice thread: after every seek
# frame threading refills its pipeline before the first frame comes out. Measured 2026-11-26 (10 random
# 8-frame clips, PyAV, idle; clips/s slice / frame threads): 448x256 35 / 19, 640x360 45 / 36, against
# 720x576 9.6 / 11.7, 1280x720 (two files) 4.7 / 6.0 and 6.3 / 10.1, 1768x994 6.0 / 7.5, 1088x1920 3.9 / 5.4.
SEEK_FRAME_THREADS_MIN_PIXELS = 300_000


def in_worker() -> bool:
    """A caller that limited OpenCV to one thread (a worker of a process pool, e.g. ``tofnet flow --workers``)
    makes the processes the parallelism: decoders then run one thread too."""
    return cv2.getNumThreads() == 1
_DECORD_CHUNK = 32  # frames decoded at once before resizing, to bound memory on long high-resolution videos


class OutOfRange(Exception):
    def __init__(self, index: int, total: int):
        super().__init__(index, total)
        self.index, self.total = index, total


class SeekMiss(Exception):
    """A seek landed somewhere the frame table cannot place: read from the start instead."""


class Frames:
    """The requested frames, written straight into the output array as they decode (no stacking copy).

    ``gray``: each backend delivers (H, W) luma instead of (H, W, 3) RGB (what grey-level optical flow
    needs; PyAV then skips the YUV -> RGB conversion, most of its cost per frame).
    """

    def __init__(self, path: Path, wanted: list[int] | None, size: tuple[int, int] | None, gray: bool = False):
        self.path, self.wanted, self.size, self.gray = path, wanted, size, gray
        self.unique = None if wanted is None else sorted(set(wanted))  # decoders go forwards, repeats once
        self.last = None if wanted is None else self.unique[-1]
        self._slot = {} if wanted is None else {i: n for n, i in enumerate(self.unique)}
        self._out: np.ndarray | None = None
        self._filled = 0

    def fresh(self) -> Frames:
        return Frames(self.path, self.wanted, self.size, self.gray)

    def needs(self, index: int) -> bool:
        return self.wanted is None or index in self._slot

    def resized(self, image: np.ndarray) -> np.ndarray:
        if self.size is None or image.shape[:2] == self.size:
            return image
        return cv2.resize(image, (self.size[1], self.size[0]), interpolation=cv2.INTER_AREA)

    def put(self, index: int, image: np.ndarray) -> None:
        image = self.resized(image)
        slot = index if self.wanted is None else self._slot[index]
        if self._out is None:
            self._out = np.empty((self._capacity(), *image.shape), dtype=np.uint8)
        elif slot >= len(self._out):  # more frames than the table announced: grow
            self._out = np.concatenate([self._out, np.empty_like(self._out)])
        self._out[slot] = image
        self._filled = max(self._filled, slot + 1) if self.wanted is None else self._filled + 1

    def result(self, total: int) -> np.ndarray:
        """The frames in the requested order; ``total`` is how far the decoder got."""
        if self.wanted is None:
            if not total or self._out is None:
                raise VideoError(self.path, "has no frames (truncated or empty stream)")
            return self._out[:total]
        if self._filled < len(self.unique):
            raise OutOfRange(self.last, total)
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


class FrameSink(Frames):
    """Every frame, in order, handed to ``consume`` as it decodes instead of stored: the caller's work on
    one frame overlaps the decoder's threads working on the next ones, and memory stays one frame."""

    def __init__(self, path: Path, size: tuple[int, int] | None, consume: Callable[[np.ndarray], None],
                 gray: bool = False):
        super().__init__(path, None, size, gray)
        self.consume = consume

    def fresh(self) -> FrameSink:
        raise RuntimeError("a FrameSink is read sequentially; its frames cannot be delivered twice")

    def put(self, index: int, image: np.ndarray) -> None:
        image = self.resized(image)
        if index != self._filled:
            raise RuntimeError(f"{self.path}: frame {index} decoded out of order (expected {self._filled})")
        self.consume(image)
        self._filled += 1

    def result(self, total: int) -> int:  # type: ignore[override]  # the frames went to ``consume``
        if not self._filled:
            raise VideoError(self.path, "has no frames (truncated or empty stream)")
        return self._filled


def _seekable(table: FrameTable) -> bool:
    return table.pts is not None and bool(table.keyframes)


# -- PyAV --------------------------------------------------------------------------------------------------


class _PyAVHandle:
    def __init__(self, path: Path):
        self.container, self.stream = open_container(path)
        small = self.stream.codec_context.width * self.stream.codec_context.height < SEEK_FRAME_THREADS_MIN_PIXELS
        self.stream.thread_type = "SLICE" if in_worker() or small else PYAV_THREAD_TYPE
        self.decoder = None  # the running decode generator, None before the first read or after the end
        self.position = -1  # the last frame it delivered
        self.wanted: Callable[[int], bool] = lambda index: True
        self.skipped: set[int] = set()  # frames skipped since the last seek (an earlier read did not want them)

    def decode(self, table: FrameTable):
        """``container.decode``, skipping unwanted non-reference frames (B-frames no other frame needs).

        NOTE: what makes a seek-and-decode-forwards clip read cheap: about half of an x264 stream's
        frames are non-reference B-frames, and skipping them cannot change any frame that is kept.
        """
        context = self.stream.codec_context
        for packet in self.container.demux(self.stream):
            index = table.index_of.get(packet.pts) if packet.pts is not None else None
            skip = index is not None and not self.wanted(index)
            context.skip_frame = "NONREF" if skip else "DEFAULT"
            if skip:
                self.skipped.add(index)
            yield from packet.decode()

    def close(self) -> None:
        self.container.close()


def pyav_read(path: Path, out: Frames) -> np.ndarray:
    if out.wanted is None:  # every frame: no seeking, so no need to demux the file for its frame table
        return _pyav_sequential(path, out)
    table = frame_table(path)
    if not _seekable(table):
        return _pyav_sequential(path, out)
    if out.last >= len(table.pts):
        raise OutOfRange(out.last, len(table.pts))
    try:
        with pooled("pyav", path, _PyAVHandle) as handle:
            total = _pyav_seek_read(handle, table, out)
    except SeekMiss:
        return _pyav_sequential(path, out.fresh())
    except (av.FFmpegError, OSError) as exc:
        raise VideoError(path, f"stream is corrupt or truncated ({short_reason(exc)})") from exc
    return out.result(total)


def _pyav_seek_read(handle: _PyAVHandle, table: FrameTable, out: Frames) -> int:
    """Decode each wanted frame, seeking to its keyframe whenever that skips frames (or goes back).

    Returns the video's length: the table's, or where the stream ended if it ended before a wanted frame.
    """
    handle.wanted = out.needs
    if handle.skipped.intersection(out.unique):  # a frame this read wants may have been skipped: decode it again
        handle.decoder = None
    for target in out.unique:
        key, fresh = table.keyframe_before(target), False
        if handle.decoder is None or target <= handle.position or key > handle.position + 1:
            if handle.decoder is not None or handle.position >= 0 or key > 0:
                handle.container.seek(table.pts[key], stream=handle.stream, backward=True)
                handle.skipped.clear()
            handle.decoder, fresh = handle.decode(table), True
        for frame in handle.decoder:
            index = table.index_of.get(frame.pts)
            if index is None or (fresh and index > target):
                raise SeekMiss
            fresh, handle.position = False, index
            if out.needs(index):
                out.put(index, _pyav_image(frame, out.gray))
            if index >= target:
                break
        else:
            handle.decoder = None  # the stream ended before ``target``: the result reports it
            return handle.position + 1
    return len(table.pts)


def _pyav_sequential(path: Path, out: Frames) -> np.ndarray:
    total = 0
    container, stream = open_container(path)
    single = in_worker()
    stream.thread_type = "SLICE" if single else PYAV_THREAD_TYPE
    converting: deque[tuple[int, Future]] = deque()
    # luma is a view of the decoded plane, cheaper than handing it to a thread
    convert = ThreadPoolExecutor(CONVERT_THREADS, thread_name_prefix="pyav-rgb") if not (single or out.gray) else None

    def image(frame: av.VideoFrame) -> np.ndarray:
        return out.resized(_pyav_image(frame, out.gray))

    def store_converted(keep: int) -> None:  # in order, up to ``keep`` frames behind the decoder
        while len(converting) > keep:
            done, future = converting.popleft()
            out.put(done, future.result())

    try:
        for index, frame in enumerate(container.decode(stream)):
            total = index + 1
            if out.needs(index):  # unwanted frames are decoded (later ones depend on them), not converted
                if convert is None:
                    out.put(index, image(frame))
                else:
                    converting.append((index, convert.submit(image, frame)))
                    store_converted(keep=2 * CONVERT_THREADS)
            if out.last is not None and index >= out.last:
                break
        store_converted(keep=0)
    except (av.FFmpegError, OSError) as exc:
        raise VideoError(path, f"stream is corrupt or truncated ({short_reason(exc)})") from exc
    finally:
        if convert is not None:
            convert.shutdown(cancel_futures=True)
        container.close()
    return out.result(total)


# 8-bit formats whose first plane is the luma (Y) plane
_LUMA_FORMATS = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21",
                           "gray"})
_FULL_RANGE = 2  # AVCOL_RANGE_JPEG; yuvj* formats are full range too
_LIMITED_TO_FULL = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)


def _pyav_image(frame: av.VideoFrame, gray: bool) -> np.ndarray:
    """(H, W, 3) RGB, or (H, W) grey: the Y plane itself, stretched from video range (16-235) to 0-255; turned
    upright as players show it (the display matrix of phone video).

    Within about one grey level of ``cv2.cvtColor(rgb, COLOR_RGB2GRAY)`` (the BT.601 luma weights), at a
    fraction of the cost of swscale's conversion (rgb24 or gray alike).
    """
    return as_displayed(frame, _pyav_stored_image(frame, gray))


def _pyav_stored_image(frame: av.VideoFrame, gray: bool) -> np.ndarray:
    """:func:`_pyav_image` as the stream stores it, before the display rotation."""
    if not gray:
        return frame.to_ndarray(format="rgb24")
    name = frame.format.name
    if name not in _LUMA_FORMATS:
        return frame.to_ndarray(format="gray")
    plane = frame.planes[0]
    luma = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:frame.height, :frame.width]
    if name.startswith("yuvj") or name == "gray" or frame.color_range == _FULL_RANGE:
        return luma.copy()  # the decoder reuses the plane's memory
    return cv2.LUT(luma, _LIMITED_TO_FULL)


def pyav_count(path: Path) -> int:
    return probe_video(path).frames


# -- OpenCV ------------------------------------------------------------------------------------------------


class _OpenCVHandle:
    def __init__(self, path: Path):
        self.path = path
        self.capture = _opencv_open(path)
        self.position = -1  # the frame the capture last grabbed

    def rewind(self) -> None:
        self.capture.release()
        self.capture, self.position = _opencv_open(self.path), -1

    def close(self) -> None:
        self.capture.release()


def opencv_read(path: Path, out: Frames) -> np.ndarray:
    if out.wanted is None:
        handle = _OpenCVHandle(path)
        try:
            return _opencv_decode(handle, out, None)
        finally:
            handle.close()
    table = frame_table(path)
    try:
        with pooled("opencv", path, _OpenCVHandle) as handle:
            return _opencv_decode(handle, out, table if _seekable(table) and len(table.keyframes) > 1 else None)
    except SeekMiss:
        handle = _OpenCVHandle(path)
        try:
            return _opencv_decode(handle, out.fresh(), None)
        finally:
            handle.close()


def _opencv_decode(handle: _OpenCVHandle, out: Frames, table: FrameTable | None) -> np.ndarray:
    """Grab frames forwards; jump with OpenCV's own seek when a keyframe lies before the next wanted one."""
    targets = iter(out.unique) if out.unique is not None else None
    while True:
        target = handle.position + 1 if targets is None else next(targets, None)
        if target is None:
            break
        if target <= handle.position:  # a pooled capture already past the clip: go back
            jump = True
        else:
            jump = table is not None and table.keyframe_before(target) > handle.position + 1
        if jump and table is None:
            handle.rewind()
        elif jump:
            handle.capture.set(cv2.CAP_PROP_POS_FRAMES, target)  # seeks to the keyframe, decodes on to target
            if int(handle.capture.get(cv2.CAP_PROP_POS_FRAMES)) != target:
                raise SeekMiss
            handle.position = target - 1
        while handle.position < target and handle.capture.grab():
            handle.position += 1
        if handle.position < 0:
            raise _opencv_decodes_nothing(handle.path)
        if handle.position < target:  # the stream ended
            break
        ok, frame = handle.capture.retrieve()
        if not ok:
            raise VideoError(handle.path, f"OpenCV cannot decode frame {target}")
        out.put(target, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY if out.gray else cv2.COLOR_BGR2RGB))
    return out.result(handle.position + 1)


def opencv_count(path: Path) -> int:
    capture = _opencv_open(path)
    try:
        total = 0
        while capture.grab():  # the container's frame count is an estimate; count what decodes
            total += 1
    finally:
        capture.release()
    if total < 1:
        raise _opencv_decodes_nothing(path)
    return total


def _opencv_decodes_nothing(path: Path) -> VideoError:
    """Why OpenCV got no frame: the file, or a codec its bundled FFmpeg lacks (AV1) that PyAV's has."""
    try:
        codec = probe_video(path).codec
    except VideoError as exc:  # PyAV cannot read it either: the file is the problem
        return exc
    return VideoError(path, f"OpenCV decodes no frame of it (codec {codec}), which PyAV reads",
                      hint="read it with backend 'pyav' (the default)")


def _opencv_open(path: Path) -> cv2.VideoCapture:
    params = [cv2.CAP_PROP_N_THREADS, 1] if in_worker() else []
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, params)
    if not capture.isOpened():
        capture.release()
        raise VideoError(path, "OpenCV cannot open it (not a video, or truncated)")
    # frames turned upright by the display matrix, as the PyAV reader turns them (OpenCV's default, said explicitly)
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return capture


# -- decord ------------------------------------------------------------------------------------------------


class _DecordHandle:
    def __init__(self, path: Path):
        self.reader = _decord_open(path)

    def close(self) -> None:
        self.reader = None  # decord closes the file when the reader is collected


def _decord_open(path: Path):
    try:
        import decord
    except ImportError as exc:  # decord is optional: the default reader is PyAV
        raise VideoError(path, "decord is not installed", hint="use backend='pyav'") from exc
    decord.logging.set_level(decord.logging.QUIET)
    try:
        return decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1 if in_worker() else 0)
    except Exception as exc:  # decord raises RuntimeError, DECORDError and others, all "cannot open"
        raise VideoError(path, f"decord cannot open it ({short_reason(exc)})") from exc


def decord_read(path: Path, out: Frames) -> np.ndarray:
    _refuse_turned(path)
    with pooled("decord", path, _DecordHandle) as handle:
        reader = handle.reader
        total = len(reader)
        if out.last is not None and out.last >= total:
            raise OutOfRange(out.last, total)
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
                raise VideoError(path, f"decord cannot decode frames {chunk[0]}..{chunk[-1]} "
                                       f"({short_reason(exc)})") from exc
            if batch.ndim != 4 or batch.shape[0] != len(chunk) or batch.shape[-1] != 3:
                raise VideoError(path, f"decord returned an array of shape {batch.shape}, not RGB frames")
            for index, frame in zip(chunk, batch):
                if out.needs(index):
                    out.put(index, cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if out.gray else frame)
    return out.result(total)


def _refuse_turned(path: Path) -> None:
    """decord mishandles a display rotation (a quarter turn fails to decode, a half turn it applies itself)."""
    if display_turns(path):
        raise VideoError(path, "has a display rotation (a phone's portrait video), which decord reads wrongly",
                         hint="read it with backend 'pyav' (the default) or 'opencv'")


def _decord_seeks_exactly(path: Path) -> bool:
    """MP4/MOV: decord's seeks were checked frame-exact there (tests); other containers are read from the start."""
    return frame_table(path).format.startswith("mov,mp4")


def decord_count(path: Path) -> int:
    _refuse_turned(path)
    total = len(_decord_open(path))
    if total < 1:
        raise VideoError(path, "has no frames (truncated or empty stream)")
    return total


READERS: dict[str, Callable[[Path, Frames], np.ndarray | int]] = {
    "pyav": pyav_read, "opencv": opencv_read, "decord": decord_read}
COUNTERS: dict[str, Callable[[Path], int]] = {"pyav": pyav_count, "opencv": opencv_count, "decord": decord_count}
