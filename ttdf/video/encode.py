"""Encode RGB frames to H.264 in-process with PyAV (bundled FFmpeg + libx264; no system ffmpeg)."""
from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ttdf.errors import VideoError
from ttdf.fsutil import atomic_path

DEFAULT_PRESET = "medium"


def encode_video(path: str | Path, frames: Iterable[np.ndarray], *, fps: float, crf: int = 23,
                 preset: str = DEFAULT_PRESET, codec: str = "libx264", threads: int | None = None,
                 gop: int | None = None) -> int:
    """Encode RGB uint8 frames to H.264 atomically (temp file, then rename); returns frames written.

    ``threads=1`` makes the bytes independent of the machine's core count (x264 otherwise picks it).
    ``gop`` is the largest keyframe interval (x264's default is 250: one keyframe in a short clip).
    """
    count = 0
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w") as container:
            stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "preset": preset, **({"threads": str(threads)} if threads else {}),
                              **({"g": str(gop)} if gop else {})}
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
