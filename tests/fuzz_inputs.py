"""Bad inputs a hostile new user would feed ``ttdf``/``tofnet``, built from one good tiny video.

Each :class:`BadVideo` knows where it goes in a root, how to make it, and what ``ttdf index``
should say about it: ``("ok", None)``, ``("bad", reason fragment)`` or ``("unusable", fragment)``
(files no index can hold, e.g. a name that is not UTF-8).
"""
from __future__ import annotations

import io
import os
import struct
import wave
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from ttdf.video import encode_video

RAW = "real/raw/test"  # bad inputs live in the test split, beside good videos


@dataclass(frozen=True)
class BadVideo:
    name: str
    rel: str  # where it goes below the root (str: may hold surrogates for undecodable bytes)
    make: Callable[[Path, Path], None]  # (target, a good video) -> None
    expect: tuple[str, str | None]  # what `ttdf index` records: ("ok"|"bad"|"unusable", reason fragment)
    xfail: str | None = None


def good_video(path: Path, *, frames: int = 8, size: tuple[int, int] = (32, 32), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    encode_video(path, rng.integers(0, 256, size=(frames, *size, 3), dtype=np.uint8), fps=10, crf=0,
                 preset="ultrafast")
    return path


def _bytes(data: bytes) -> Callable[[Path, Path], None]:
    return lambda target, good: target.write_bytes(data)


def _truncated(fraction: float) -> Callable[[Path, Path], None]:
    def make(target: Path, good: Path) -> None:
        data = good.read_bytes()
        target.write_bytes(data[: int(len(data) * fraction)])
    return make


def _frames(count: int, size: tuple[int, int] = (32, 32), *, flat: bool = False) -> Callable[[Path, Path], None]:
    def make(target: Path, good: Path) -> None:
        if flat:
            frames = np.full((count, *size, 3), 90, np.uint8)
            encode_video(target, frames, fps=10, crf=30, preset="ultrafast")
        else:
            good_video(target, frames=count, size=size)
    return make


def _encode(path: Path, frames: np.ndarray, *, codec: str, pix_fmt: str, movflags: str | None = None) -> None:
    """Encode with PyAV directly: the shapes and container layouts ``encode_video`` never writes."""
    with av.open(str(path), "w", options={"movflags": movflags} if movflags else {}) as container:
        stream = container.add_stream(codec, rate=10)
        stream.pix_fmt, stream.height, stream.width = pix_fmt, *frames.shape[1:3]
        stream.options = {"preset": "ultrafast", "crf": "0"}
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _odd_size(target: Path, good: Path) -> None:
    """33x47: yuv420p (what libx264 usually gets) cannot hold odd sizes, x264's RGB mode can."""
    frames = np.random.default_rng(1).integers(0, 256, size=(4, 33, 47, 3), dtype=np.uint8)
    _encode(target, frames, codec="libx264rgb", pix_fmt="rgb24")


def _audio_only(target: Path, good: Path) -> None:
    with av.open(str(target), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000)
        stream.layout = "mono"
        for _ in range(4):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 8000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _wav(target: Path, good: Path) -> None:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(8000)
        handle.writeframes(b"\0\0" * 4000)
    target.write_bytes(buffer.getvalue())


def _png(target: Path, good: Path) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\0" + bytes(3 * 16) for _ in range(16))
    target.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
                       + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _faststart_truncated(target: Path, good: Path) -> None:
    """moov first (the container promises 40 frames), then the file cut after a third of its data."""
    tmp = target.with_name("faststart-src.mp4")
    frames = np.random.default_rng(2).integers(0, 256, size=(40, 32, 32, 3), dtype=np.uint8)
    _encode(tmp, frames, codec="libx264", pix_fmt="yuv420p", movflags="faststart")
    data = tmp.read_bytes()
    tmp.unlink()
    target.write_bytes(data[: len(data) // 3])


def _symlink_to(dest: str) -> Callable[[Path, Path], None]:
    return lambda target, good: os.symlink(dest, target)


def _symlink_good(target: Path, good: Path) -> None:
    os.symlink(good.resolve(), target)


def _hardlink_good(target: Path, good: Path) -> None:
    os.link(good, target)


def _copy_good(target: Path, good: Path) -> None:
    target.write_bytes(good.read_bytes())


VIDEO_CASES: list[BadVideo] = [
    BadVideo("empty", f"{RAW}/empty.mp4", _bytes(b""), ("bad", "empty")),
    BadVideo("header-only", f"{RAW}/header-only.mp4", _truncated(0.02), ("bad", "")),
    BadVideo("truncated-25", f"{RAW}/trunc25.mp4", _truncated(0.25), ("bad", "")),
    BadVideo("truncated-50", f"{RAW}/trunc50.mp4", _truncated(0.5), ("bad", "")),
    BadVideo("truncated-90", f"{RAW}/trunc90.mp4", _truncated(0.9), ("bad", "")),
    BadVideo("random-bytes", f"{RAW}/random.mp4", _bytes(np.random.default_rng(3).bytes(4096)), ("bad", "")),
    BadVideo("text-file", f"{RAW}/text.mp4", _bytes(b"this is not a video\n" * 20), ("bad", "")),
    BadVideo("wav-as-mp4", f"{RAW}/wav.mp4", _wav, ("bad", "no video stream")),
    BadVideo("audio-only-mp4", f"{RAW}/audio.mp4", _audio_only, ("bad", "no video stream")),
    BadVideo("png-as-mp4", f"{RAW}/png.mp4", _png, ("bad", "")),
    BadVideo("faststart-truncated", f"{RAW}/faststart.mp4", _faststart_truncated, ("bad", "")),
    BadVideo("one-frame", f"{RAW}/one.mp4", _frames(1), ("bad", "still image")),  # no motion to judge
    BadVideo("two-frames", f"{RAW}/two.mp4", _frames(2), ("ok", None)),
    BadVideo("odd-size", f"{RAW}/odd.mp4", _odd_size, ("ok", None)),
    BadVideo("tiny-size", f"{RAW}/tiny.mp4", _frames(3, (8, 8)), ("ok", None)),
    BadVideo("huge-size", f"{RAW}/huge.mp4", _frames(2, (1088, 1920), flat=True), ("ok", None)),
    BadVideo("avi-extension", f"{RAW}/avi.avi", _copy_good, ("ok", None)),
    BadVideo("upper-case-extension", f"{RAW}/upper.MP4", _copy_good, ("ok", None)),
    BadVideo("name-with-space", f"{RAW}/has space.mp4", _copy_good, ("bad", "cannot infer")),
    BadVideo("non-ascii-name", f"{RAW}/vid\u00e9o.mp4", _copy_good, ("bad", "cannot infer")),
    BadVideo("non-utf8-name", RAW + "/x" + os.fsdecode(b"\xff") + ".mp4", _copy_good, ("unusable", "UTF-8")),
    BadVideo("off-layout-folder", "misc/loose.mp4", _copy_good, ("bad", "cannot infer")),
    BadVideo("dangling-symlink", f"{RAW}/dangling.mp4", _symlink_to("no-such-target.mp4"),
             ("bad", "broken symbolic link")),
    BadVideo("symlink-loop-a", f"{RAW}/loopa.mp4", _symlink_to("loopb.mp4"), ("bad", "loop")),
    BadVideo("symlink-loop-b", f"{RAW}/loopb.mp4", _symlink_to("loopa.mp4"), ("bad", "loop")),
    BadVideo("symlink-to-good", f"{RAW}/linked.mp4", _symlink_good, ("ok", None)),
    BadVideo("hardlink-to-good", f"{RAW}/hardlinked.mp4", _hardlink_good, ("ok", None)),
]


def place_bad_videos(root: Path, good: Path) -> None:
    """Write every case below ``root`` (a good video outside the root is the source of the good bytes)."""
    for case in VIDEO_CASES:
        target = root / case.rel
        target.parent.mkdir(parents=True, exist_ok=True)
        case.make(target, good)


def shown(rel: str) -> str:
    """How the CLIs print a path (undecodable bytes as \\xNN)."""
    return os.fsencode(rel).decode("utf-8", "backslashreplace")
