"""The inputs every stage measures on, made fresh in a temporary folder: no network, no user data.

Two dataset roots: ``synth`` (many short TT-DF-shaped videos from :func:`ttdf.synth.synthesize`, where
per-video overhead shows) and ``long`` (one longer clip at a quarter of TT-DF's pixel count, where
per-pixel costs show and from which the full-dataset estimates are scaled).
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from bench.common import Row, measure
from tofnet.data import DataConfig
from ttdf.index import VideoIndex, index_dataset
from ttdf.records import relative_path
from ttdf.synth import SynthConfig, synthesize
from ttdf.taxonomy import load_taxonomy
from ttdf.video import encode_video, probe_video

TTDF_SIZE = (896, 512)  # (H, W) assumed for TT-DF's generated videos (portrait TikTok); nothing in the repo says
LONG_CRF = 18  # "visually lossless", like a generator's own output; libx264's default GOP and preset


@dataclass(frozen=True)
class Profile:
    """Every size knob of a run; ``QUICK`` is a seconds-long smoke test, ``FULL`` the real bench."""

    name: str
    long_frames: int
    long_size: tuple[int, int]  # (H, W)
    long_fps: float
    synth: SynthConfig
    clips: int  # random clips read in the decode stage
    clip_len: int
    flow_size: tuple[int, int]  # (H, W) of flow and model inputs: tofnet's default in the full profile
    flow_pairs: dict[str, int] = field(default_factory=dict)
    source_pairs: int = 16  # DIS pairs at the long clip's own size (for the full-resolution estimate)
    train_batch: int = 4
    train_clip_len: int = 8
    train_steps: int = 3
    load_clips: int = 16
    crfs: tuple[int, ...] = (23, 40)
    flow_videos: int = 6  # distinct long-clip-sized videos for the flow pipeline, scaling and shard rows
    index_links: int = 600  # hard links to the long clip: a cold index big enough for workers to pay off
    repeats: int = 3
    warmup: int = 1  # most untimed warm-up calls a row may ask for
    model_kwargs: dict = field(default_factory=dict)  # the same for TOF-Net and the baseline (e.g. backbone)


FULL = Profile(name="full", long_frames=300, long_size=(448, 256), long_fps=30.0,
               synth=SynthConfig(sources=6, frames=32), clips=20, clip_len=8, flow_size=DataConfig().size,
               flow_pairs={"dis": 64, "farneback": 32, "raft_small": 4})
QUICK = Profile(name="quick", long_frames=40, long_size=(224, 128), long_fps=30.0,
                synth=SynthConfig(sources=3, frames=10), clips=4, clip_len=8, flow_size=(64, 64),
                flow_pairs={"dis": 8, "farneback": 4, "raft_small": 1}, source_pairs=4, train_batch=1,
                train_clip_len=4, train_steps=1, load_clips=2, repeats=1, warmup=0, flow_videos=2, index_links=8,
                model_kwargs={"backbone": "mobilenetv3_small_050"})


@dataclass(frozen=True)
class BenchData:
    workdir: Path
    synth_root: Path
    long_root: Path
    long_video: Path
    long_frames: int
    long_seconds: float
    synth_videos: tuple[Path, ...]
    synth_pairs: int  # optical-flow pairs over all synth videos
    flow_root: Path  # profile.flow_videos distinct videos of the long clip's size and length, indexed
    flow_videos: tuple[Path, ...]
    flow_pairs: int
    links_root: Path  # profile.index_links hard links to the long clip, not indexed

    def copy_root(self, source: Path, name: str) -> Path:
        """A private copy of a dataset root (mtimes kept, so its index stays valid) for a stage to modify."""
        target = self.workdir / "scratch" / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("flow"))
        return target


def make_data(workdir: Path, profile: Profile) -> dict:
    """Write both roots and index them; returns the facts the parent needs (run in a child)."""
    synth_root, long_root = workdir / "synth", workdir / "long"
    synthesize(synth_root, profile.synth, workers=1, progress=False)
    index_dataset(synth_root, workers=2, progress=False)
    taxonomy = load_taxonomy()
    long_video = long_root / _real_path(taxonomy, "long000")
    encode_video(long_video, moving_pattern(profile.long_frames, profile.long_size), fps=profile.long_fps,
                 crf=LONG_CRF)
    index_dataset(long_root, workers=1, progress=False)
    with VideoIndex.open(synth_root) as index:
        videos = index.query()
    info = probe_video(long_video)
    flow_root, flow_videos = workdir / "flow", []
    for i in range(profile.flow_videos):  # distinct content: the flow cache is keyed by sha256
        path = flow_root / _real_path(taxonomy, f"flow{i:03d}")
        encode_video(path, moving_pattern(profile.long_frames, profile.long_size, seed=i + 1), fps=profile.long_fps,
                     crf=LONG_CRF, preset="veryfast")
        flow_videos.append(path)
    index_dataset(flow_root, workers=1, progress=False)
    links_root = workdir / "links"
    for i in range(profile.index_links):
        link = links_root / _real_path(taxonomy, f"link{i:04d}")
        link.parent.mkdir(parents=True, exist_ok=True)
        os.link(long_video, link)
    return dict(synth_root=synth_root, long_root=long_root, long_video=long_video, long_frames=info.frames,
                long_seconds=info.duration, synth_videos=tuple(synth_root / v.path for v in videos),
                synth_pairs=sum(max(0, (v.record.frames or 0) - 1) for v in videos), flow_root=flow_root,
                flow_videos=tuple(flow_videos), flow_pairs=len(flow_videos) * (info.frames - 1), links_root=links_root)


def _real_path(taxonomy, name: str) -> str:
    return relative_path(taxonomy, label="real", split="test", compression="raw", identity_id=name, pose_id=name)


def moving_pattern(frames: int, size: tuple[int, int], seed: int = 0):
    """RGB frames of a textured plane that pans, turns and zooms, plus a disc crossing it: real motion for flow."""
    height, width = size
    rng = np.random.default_rng(seed)
    canvas = np.zeros((2 * height, 2 * width, 3), np.float32)
    for cells in (4, 16, 64, 256):  # octaves of smooth noise, down to fine detail for the encoder
        grid = rng.uniform(0, 255, (cells, cells, 3)).astype(np.float32)
        canvas += cv2.resize(grid, (2 * width, 2 * height), interpolation=cv2.INTER_CUBIC) / 4
    texture = np.clip(canvas, 0, 255).astype(np.uint8)
    centre = (width, height)
    for t in range(frames):
        phase = 2 * np.pi * t / max(frames, 1)
        matrix = cv2.getRotationMatrix2D(centre, 8 * np.sin(phase), 1.1 + 0.1 * np.cos(2 * phase))
        matrix[:, 2] -= (width / 2 + 0.25 * width * np.sin(phase), height / 2 + 0.25 * height * np.cos(phase))
        frame = cv2.warpAffine(texture, matrix, (width, height), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        disc = (int(width * (0.2 + 0.6 * t / max(frames - 1, 1))), int(height * (0.5 + 0.3 * np.sin(phase))))
        cv2.circle(frame, disc, max(4, width // 10), (240, 200, 40), -1, lineType=cv2.LINE_AA)
        grain = rng.normal(0, 2.0, frame.shape)  # per-frame sensor-like noise: a realistic bitrate
        yield np.clip(frame + grain, 0, 255).astype(np.uint8)


@dataclass
class Context:
    """What a stage gets: sizes, inputs, which rows to run, and the rows measured so far."""

    profile: Profile
    repeats: int
    data: BenchData
    only: tuple[str, ...] = ()
    gpu: str | None = None  # CUDA device name, None without one
    rows: dict[str, Row] = field(default_factory=dict)  # id -> Row, filled as stages finish (extrapolation reads it)

    def wants(self, row_id: str) -> bool:
        """``--only`` takes stage names or row-id prefixes (``flow``, ``flow.pipeline``)."""
        return not self.only or any(row_id == t or row_id.startswith(t + ".") for t in self.only)

    def measure(self, row_id: str, label: str, fn, **kwargs) -> Row | None:
        """:func:`bench.common.measure` with this run's repeats; None when ``--only`` leaves the row out."""
        if not self.wants(row_id):
            return None
        kwargs.setdefault("repeats", self.repeats)
        kwargs["warmup"] = min(kwargs.get("warmup", 0), self.profile.warmup)
        return measure(row_id, label, fn, **kwargs)
