"""Open and probe videos with PyAV: what a file holds, and how many frames really decode.

A video's length has one definition in this project: the number of frames the decoder delivers.
:func:`probe_video` (what ``ttdf index`` stores) and every reader in :mod:`ttdf.video.read` agree
on it. :func:`frame_table` is the demuxed layout (timestamps, keyframes) the readers seek with.
"""
from __future__ import annotations

import bisect
import contextlib
import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import av
import numpy as np

from ttdf.errors import VideoError

_LOG_PREFIX = re.compile(r"^\[[\d:]+\] \S+:\d+: (Check failed: )?")
T = TypeVar("T")


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds. ``width`` and ``height`` are as players show it: a phone's portrait video is
    usually stored landscape with a display matrix saying to turn it, and ``rotation`` (0, 90, 180 or
    270 degrees counter-clockwise) is that turn, which every reader here applies."""

    frames: int
    fps: float
    width: int
    height: int
    duration: float
    codec: str
    rotation: int = 0


@dataclass(frozen=True)
class FrameTable:
    """One demux pass over a video's packets: frame ``i`` is the packet with the ``i``-th smallest pts.

    ``pts`` is None when some packet has no timestamp (such files are read sequentially, never seeked).
    ``keyframes`` are frame indices; seeking to a keyframe's pts lands on it (MP4 seeks by pts, not dts).
    ``promised`` is the frame count the container's header states (0 when it states none).
    """

    format: str
    packets: int
    promised: int
    pts: tuple[int, ...] | None
    keyframes: tuple[int, ...]

    @functools.cached_property
    def index_of(self) -> dict[int, int]:
        """Frame index of each pts (decoded frames carry their packet's pts)."""
        return {pts: i for i, pts in enumerate(self.pts or ())}

    def keyframe_before(self, index: int) -> int:
        """The last keyframe at or before frame ``index`` (the first keyframe if none is)."""
        return self.keyframes[max(0, bisect.bisect_right(self.keyframes, index) - 1)]


@contextlib.contextmanager
def open_video(path: str | Path) -> Iterator[tuple[av.container.InputContainer, av.video.stream.VideoStream]]:
    """Open a container and its first video stream, turning every failure into a :class:`VideoError`."""
    container, stream = open_container(path)
    try:
        yield container, stream
    finally:
        container.close()


def open_container(path: str | Path) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    """:func:`open_video` for a caller that closes the container itself (a decoder kept open across reads)."""
    path = Path(path)
    if not path.exists():
        raise VideoError(path, "file not found")
    if path.stat().st_size == 0:
        raise VideoError(path, "file is empty (0 bytes)")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoError(path, f"not a readable video container ({short_reason(exc)})") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(path, "contains no video stream")
    return container, container.streams.video[0]


def per_file_version(read: Callable[[Path], T]) -> Callable[[str | Path], T]:
    """``read(path)`` cached per (path, size, mtime): readers ask per clip; the answer changes only with the file."""
    @functools.lru_cache(maxsize=256)
    def cached(path: str, size: int, mtime_ns: int) -> T:
        return read(Path(path))

    @functools.wraps(read)
    def lookup(path: str | Path) -> T:
        path = Path(path)
        try:
            stat = path.stat()
        except OSError:  # missing: ``read`` says so
            return read(path)
        return cached(str(path), stat.st_size, stat.st_mtime_ns)
    return lookup


@per_file_version
def frame_table(path: Path) -> FrameTable:
    """The demuxed layout of ``path``: every packet's timestamps (no decoding); a read error ends the table
    where it happened."""
    packets: list[tuple[int | None, bool]] = []
    with open_video(path) as (container, stream):
        with contextlib.suppress(av.FFmpegError, OSError):  # truncated: the decode check reports it
            for packet in container.demux(stream):
                if packet.size:
                    packets.append((packet.pts, bool(packet.is_keyframe)))
        promised, name = int(stream.frames or 0), container.format.name
    if any(pts is None for pts, _ in packets):
        return FrameTable(name, len(packets), promised, None, ())
    ordered = sorted(packets)
    return FrameTable(name, len(packets), promised, tuple(pts for pts, _ in ordered),
                      tuple(i for i, (_, key) in enumerate(ordered) if key))


def probe_video(path: str | Path, *, decode: bool = False) -> VideoInfo:
    """Rate, size and the number of frames that decode; refuses still images and truncated files.

    The count comes from demuxing, proven by decoding the last group of pictures (a truncated file
    fails there); ``decode=True`` decodes every frame instead (what ``ttdf verify`` does).
    """
    path = Path(path)
    table = frame_table(path)
    with open_video(path) as (container, stream):
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 0.0
        width, height = stream.codec_context.width, stream.codec_context.height
        codec = stream.codec_context.name
        frames, error, turns = _count_decoded(container, stream, table, decode=decode)
    if turns % 2:  # the size players show
        width, height = height, width
    if table.promised and frames < table.promised:
        raise VideoError(path, f"truncated: container promises {table.promised} frames, {frames} decode")
    if error is not None:
        raise VideoError(path, f"stream is corrupt or truncated after {frames} frames ({short_reason(error)})")
    if frames == 0:
        raise VideoError(path, "has no frames (truncated or empty stream)")
    if frames < 2:
        raise VideoError(path, "a still image, not a video (1 decodable frame)")
    if not width or not height:
        raise VideoError(path, "video stream has no frame size")
    duration = frames / fps if fps else 0.0
    return VideoInfo(frames=frames, fps=fps, width=width, height=height, duration=duration, codec=codec,
                     rotation=90 * turns)


@per_file_version
def display_turns(path: Path) -> int:
    """Quarter turns counter-clockwise (0-3) that players give the stored picture: a phone's display matrix.

    Read from the first frame's side data (FFmpeg attaches the stream's display matrix to each frame); an
    unreadable file counts as unturned here and fails where its frames are read.
    """
    try:
        with open_video(path) as (container, stream):
            for frame in container.decode(stream):
                return quarter_turns(frame.rotation)
    except (VideoError, av.FFmpegError, OSError):
        pass
    return 0


def quarter_turns(degrees: float) -> int:
    """A display rotation in degrees counter-clockwise (FFmpeg's sign; any multiple of 360 apart) as 0-3 turns."""
    return int(round(degrees / 90)) % 4


def upright(image: np.ndarray, turns: int) -> np.ndarray:
    """``image`` (H, W[, C]) turned ``turns`` quarter turns counter-clockwise: as players show it."""
    return np.ascontiguousarray(np.rot90(image, turns)) if turns % 4 else image


def as_displayed(frame: av.VideoFrame, image: np.ndarray) -> np.ndarray:
    """``image`` decoded from ``frame``, turned as players show that frame (its display matrix)."""
    return upright(image, quarter_turns(frame.rotation))


def _count_decoded(container, stream, table: FrameTable, *, decode: bool) -> tuple[int, Exception | None, int]:
    """(frames that decode, the decoding error that stopped the count or None, the display's quarter turns).

    The turns are those of the first frame decoded (every frame carries the stream's display matrix), so
    probing needs no decode of its own for them.
    """
    start = 0
    if not decode and table.pts is not None and table.keyframes:
        start = table.keyframes[-1]
        if start:
            container.seek(table.pts[start], stream=stream, backward=True)
    index_of = table.index_of
    count, turns = 0, None
    try:
        for frame in container.decode(stream):
            if start and count == 0 and index_of.get(frame.pts, -1) > start:  # the seek overshot: count all
                return _count_decoded(_rewind(container, stream), stream, table, decode=True)
            if turns is None:
                turns = quarter_turns(frame.rotation)
            if not start or index_of.get(frame.pts, -1) >= start:
                count += 1
    except (av.FFmpegError, OSError) as exc:
        return start + count, exc, turns or 0
    return start + count, None, turns or 0


def _rewind(container, stream):
    container.seek(0, stream=stream, backward=True)
    return container


def iter_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Decode every frame as RGB uint8 (H, W, 3)."""
    with open_video(path) as (container, stream):
        try:
            for frame in container.decode(stream):
                yield as_displayed(frame, frame.to_ndarray(format="rgb24"))
        except (av.FFmpegError, OSError) as exc:
            raise VideoError(path, f"stream is corrupt or truncated ({short_reason(exc)})") from exc


def short_reason(exc: BaseException) -> str:
    """First line of a decoder's error, without the file name (VideoError puts it first) or decord's log prefix."""
    # NOTE: PyAV's str() repeats the file name; strerror is the bare reason.
    text = getattr(exc, "strerror", None) or str(exc)
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return _LOG_PREFIX.sub("", lines[0])[:200] if lines else type(exc).__name__
