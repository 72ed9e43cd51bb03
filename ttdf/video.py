"""Probe, check and encode videos in-process with PyAV (bundled FFmpeg + libx264; no system ffmpeg)."""
from __future__ import annotations

import contextlib
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ttdf.errors import VideoError
from ttdf.fsutil import atomic_path

DEFAULT_PRESET = "medium"


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    fps: float
    width: int
    height: int
    duration: float
    codec: str


@contextlib.contextmanager
def open_video(path: str | Path) -> Iterator[tuple[av.container.InputContainer, av.video.stream.VideoStream]]:
    """Open a container and its first video stream, turning every failure into a :class:`VideoError`."""
    path = Path(path)
    if not path.exists():
        raise VideoError(path, "file not found")
    if path.stat().st_size == 0:
        raise VideoError(path, "file is empty (0 bytes)")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoError(path, f"not a readable video container ({_short(exc)})") from exc
    try:
        if not container.streams.video:
            raise VideoError(path, "contains no video stream")
        yield container, container.streams.video[0]
    finally:
        container.close()


def probe_video(path: str | Path, *, decode: bool = False) -> VideoInfo:
    """Frame count, rate and size. Demuxing counts frames fast; ``decode=True`` proves every frame decodes."""
    with open_video(path) as (container, stream):
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 0.0
        width, height = stream.codec_context.width, stream.codec_context.height
        codec = stream.codec_context.name
        frames = 0
        try:
            if decode:
                for _ in container.decode(stream):
                    frames += 1
            else:
                for packet in container.demux(stream):
                    if packet.size:
                        frames += 1
        except (av.FFmpegError, OSError) as exc:
            raise VideoError(path, f"stream is corrupt or truncated after {frames} frames ({_short(exc)})") from exc
    if frames == 0:
        raise VideoError(path, "has no frames (truncated or empty stream)")
    if not width or not height:
        raise VideoError(path, "video stream has no frame size")
    duration = frames / fps if fps else 0.0
    return VideoInfo(frames=frames, fps=fps, width=width, height=height, duration=duration, codec=codec)


def iter_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Decode every frame as RGB uint8 (H, W, 3)."""
    for _, frame in iter_selected_frames(path):
        yield frame


def iter_selected_frames(path: str | Path, wanted: Container[int] | None = None
                         ) -> Iterator[tuple[int, np.ndarray | None]]:
    """``(index, RGB frame)`` for every decoded frame; frames not in ``wanted`` come as ``None``.

    Every frame must be decoded (H.264 frames depend on each other), but converting the unwanted
    ones to RGB arrays would cost as much again, so they are skipped.
    """
    with open_video(path) as (container, stream):
        try:
            for index, frame in enumerate(container.decode(stream)):
                keep = wanted is None or index in wanted
                yield index, frame.to_ndarray(format="rgb24") if keep else None
        except (av.FFmpegError, OSError) as exc:
            raise VideoError(path, f"stream is corrupt or truncated ({_short(exc)})") from exc


def encode_video(path: str | Path, frames: Iterable[np.ndarray], *, fps: float, crf: int = 23,
                 preset: str = DEFAULT_PRESET, codec: str = "libx264", threads: int | None = None) -> int:
    """Encode RGB uint8 frames to H.264 atomically (temp file, then rename); returns frames written.

    ``threads=1`` makes the bytes independent of the machine's core count (x264 otherwise picks it).
    """
    count = 0
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w") as container:
            stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "preset": preset, **({"threads": str(threads)} if threads else {})}
            for array in frames:
                if count == 0:
                    stream.height, stream.width = array.shape[:2]
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
                count += 1
            for packet in stream.encode():
                container.mux(packet)
        if count == 0:
            raise VideoError(path, "no frames to encode")
    return count


def _short(exc: BaseException) -> str:
    # NOTE: PyAV's str() repeats the file name, which VideoError already puts first.
    text = (getattr(exc, "strerror", None) or str(exc)).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
