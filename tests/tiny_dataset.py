"""A tiny TT-DF-shaped dataset of noise videos for tests that need files, not realistic motion."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ttdf.fsutil import sha256_file
from ttdf.manifest import write_manifest
from ttdf.records import VideoRecord, relative_path
from ttdf.taxonomy import load_taxonomy
from ttdf.video import encode_video

SPLITS = ("train", "val", "test")


def write_tiny_dataset(root: Path, *, sources: int = 3, frames: int = 6, size: tuple[int, int] = (32, 32),
                       methods: tuple[str, ...] | None = None, configs: tuple[str, ...] | None = None,
                       seed: int = 0, manifest: bool = True, leak: bool = False) -> list[VideoRecord]:
    """Write real + fake noise videos following the layout; returns their manifest records.

    Source i is in split ``SPLITS[i % 3]``. A cross-reenactment fake takes the pose of the next source
    of its own split, or of an outside source ``x<i>`` with no video when it is alone there, so no
    identity crosses splits; ``leak=True`` takes the pose of source i + 1 instead (another split).
    """
    taxonomy = load_taxonomy()
    rng = np.random.default_rng(seed)
    methods = methods or taxonomy.methods_of("paper")
    configs = configs or taxonomy.configs
    records = []
    for i in range(sources):
        src, split = f"s{i:03d}", SPLITS[i % len(SPLITS)]
        partners = [j for j in range(i + 1, i + sources) if SPLITS[j % sources % len(SPLITS)] == split]
        other = f"s{(i + 1) % sources:03d}" if leak else f"s{partners[0] % sources:03d}" if partners else f"x{i:03d}"
        specs = [dict(label="real", identity_id=src, pose_id=src)]
        for method in methods:
            for config in configs:
                pose = src if taxonomy.canonical_config(config) == "match" else other
                specs.append(dict(label="fake", method=method, config=config, identity_id=src, pose_id=pose))
        for spec in specs:
            rel = relative_path(taxonomy, split=split, compression="raw", **spec)
            video = rng.integers(0, 256, size=(frames, size[0], size[1], 3), dtype=np.uint8)
            encode_video(root / rel, video, fps=10, crf=0, preset="ultrafast")
            records.append(VideoRecord(path=rel, split=split, compression="raw", method=spec.get("method"),
                                       config=spec.get("config"), label=spec["label"],
                                       identity_id=spec["identity_id"], pose_id=spec["pose_id"], frames=frames,
                                       fps=10.0, width=size[1], height=size[0], sha256=sha256_file(root / rel)))
    if manifest:
        write_manifest(root / taxonomy.layout.manifest, records)
    return records


def encode_with_pyav(path: Path, frames: np.ndarray, codec: str, options: dict[str, str], *, fps: int = 10,
                     pix_fmt: str = "yuv420p", container_options: dict[str, str] | None = None,
                     display_rotation: int = 0) -> None:
    """Frames encoded with any FFmpeg codec and options (AVI, MJPEG, B-frames...), unlike ``encode_video``.

    ``display_rotation``: degrees counter-clockwise a player turns them, as phones store portrait video.
    """
    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt, stream.options = pix_fmt, options
        if display_rotation:
            stream.set_display_rotation(display_rotation)
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_truncated_faststart(path: Path, frames: int = 10, size: tuple[int, int] = (32, 32)) -> None:
    """An MP4 whose header (moov, first) is intact but whose frame data stops half-way: it opens and
    promises ``frames`` frames, then fails to decode (an interrupted download of a fast-start file)."""
    video = np.random.default_rng(0).integers(0, 256, size=(frames, *size, 3), dtype=np.uint8)
    encode_with_pyav(path, video, "libx264", {"crf": "0", "preset": "ultrafast"},
                     container_options={"movflags": "faststart"})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
