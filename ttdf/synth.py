"""``ttdf synth``: a small, deterministic, TT-DF-shaped dataset of procedural dance videos.

Each source gets a real video (its identity dancing its own dance) and, per method and
configuration, a fake: identity ``i`` re-rendered along the dance of source ``i`` ("match") or
of another source of the same split ("mismatch"). Fakes share a subtle "diffusion re-rendering"
trait (textures boil from frame to frame) plus one artefact per method, registered in
:data:`ARTEFACTS`. Artefacts are temporal and a few grey levels / pixels strong; a single fake
frame is drawn from the same distribution as a real one.
"""
from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ttdf import synth_render as sr
from ttdf.errors import TTDFError
from ttdf.generate import Registry, check_stamp, cross_partner, make_rng, seed_sequence, write_video
from ttdf.manifest import merge_into_manifest
from ttdf.records import VideoRecord, relative_path
from ttdf.taxonomy import Taxonomy, load_taxonomy

SYNTH_VERSION = 1  # bump when the rendering changes, so old roots are not silently mixed with new videos
STAMP_FILE = ".ttdf/synth.json"
COMPRESSION = "raw"
MATCH, MISMATCH = "match", "mismatch"  # TT-DF's generative configurations: pose from the same / another video
# Seeds hash the configuration's name; the names from before the rename keep every video byte-identical.
_SEED_TAG = {MATCH: "same", MISMATCH: "cross"}


@dataclass(frozen=True)
class SynthConfig:
    sources: int = 9
    frames: int = 32
    fps: float = 15.0
    width: int = 96
    height: int = 128
    seed: int = 0
    methods: tuple[str, ...] | None = None
    configs: tuple[str, ...] | None = None
    split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    crf: int = 0
    artifact_strength: float = 1.0

    def validate(self, taxonomy: Taxonomy) -> "SynthConfig":
        """Raise a :class:`TTDFError` naming the bad option; return self."""
        checks = [
            (self.sources >= 1, f"sources must be >= 1 (got {self.sources})"),
            (self.frames >= 2, f"frames must be >= 2 (got {self.frames})"),
            (0 < self.fps < float("inf"), f"fps must be a positive number (got {self.fps})"),
            (self.width >= 16 and self.height >= 16 and self.width % 2 == 0 and self.height % 2 == 0,
             f"size {self.height}x{self.width} (HxW) must be even numbers >= 16 (H.264 yuv420p), e.g. 128x96"),
            (0 <= self.crf <= 51, f"crf must be in 0..51 (got {self.crf})"),
            (self.artifact_strength >= 0, f"artifact_strength must be >= 0 (got {self.artifact_strength})"),
            (len(self.split_fractions) == len(taxonomy.splits) and min(self.split_fractions) >= 0
             and sum(self.split_fractions) > 0,
             f"split_fractions {self.split_fractions} must be {len(taxonomy.splits)} non-negative numbers "
             f"({'/'.join(taxonomy.splits)}) with a positive sum"),
        ]
        for ok, message in checks:
            if not ok:
                raise TTDFError(f"synth: {message}")
        for name, chosen, known in (("method", self.methods, taxonomy.methods),
                                    ("config", self.configs, taxonomy.config_choices)):
            unknown = [v for v in chosen or () if v not in known]
            if unknown:
                raise TTDFError(f"synth: unknown {name}(s) {unknown}; choose from {list(known)}")
        for method in self.methods or taxonomy.methods_of("paper"):
            _artefact(method)
        return self

    def content_key(self) -> dict:
        """The options that change a video's bytes (methods/configs only choose which videos exist)."""
        return dict(version=SYNTH_VERSION, sources=self.sources, frames=self.frames, fps=self.fps, width=self.width,
                    height=self.height, seed=self.seed, split_fractions=list(self.split_fractions), crf=self.crf,
                    artifact_strength=self.artifact_strength)


# --------------------------------------------------------------------------- forgery artefacts

ArtefactFn = Callable[[sr.Track, sr.Appearance, np.random.Generator, float], None]
ARTEFACTS = Registry("artefact", "ttdf/synth.py with @register_artefact")
# Adds ``method``'s dominant artefact to a fake's :class:`Track`.
register_artefact: Callable[[str], Callable[[ArtefactFn], ArtefactFn]] = ARTEFACTS.register


def _artefact(method: str) -> ArtefactFn:
    return ARTEFACTS.lookup(method, "synth")


def _rerender(track: sr.Track, app: sr.Appearance, rng: np.random.Generator, s: float) -> None:
    """Shared by every method: appearance regenerated each frame, so texture and backdrop boil."""
    frames, limbs = track.colour_gain.shape
    track.tex_shift += rng.normal(0, 0.35 * s, (frames, limbs, 2))
    track.tex_rot += rng.normal(0, 0.01 * s, (frames, limbs))
    track.colour_gain *= 1 + rng.normal(0, 0.01 * s, (frames, limbs))
    track.width_delta += rng.normal(0, 0.2 * s, (frames, limbs))
    track.bg_shade = rng.normal(0, 0.8 * s, (frames, 3, 3))


@register_artefact("magicanimate")
def _flicker_and_wobble(track: sr.Track, app: sr.Appearance, rng: np.random.Generator, s: float) -> None:
    """Per-frame brightness/contrast flicker and a slowly wobbling, non-rigid background."""
    frames = track.frames
    track.offset += rng.normal(0, 1.0 * s, frames)
    track.gain *= 1 + rng.normal(0, 0.008 * s, frames)
    t = np.arange(frames)[:, None, None, None] / track.fps
    grid = (3, 3, 2)
    amplitude = rng.uniform(0.6, 1.6, grid) * s
    rate, phase = rng.uniform(0.3, 1.0, grid), rng.uniform(0, 2 * np.pi, grid)
    track.bg_warp = amplitude * np.sin(2 * np.pi * rate * t + phase)


@register_artefact("animateanyone")
def _sliding_texture_and_smeared_extremities(track: sr.Track, app: sr.Appearance, rng: np.random.Generator,
                                             s: float) -> None:
    """Clothing texture lags behind its limb (slides over the body); hands and feet smeared."""
    origins, angles = sr.limb_frames(app, track)
    lag_o, lag_a = origins.copy(), np.unwrap(angles, axis=0)
    keep = np.exp(-1 / rng.uniform(2.5, 5.0))  # texture follows its limb with a few frames' delay
    for t in range(1, track.frames):
        lag_o[t] = keep * lag_o[t - 1] + (1 - keep) * origins[t]
        lag_a[t] = keep * lag_a[t - 1] + (1 - keep) * lag_a[t]
    anchor = min(0.6 * s, 1.0)
    behind = anchor * (lag_o - origins)
    behind *= np.minimum(1.0, 2.5 * max(s, 1e-6) / (np.linalg.norm(behind, axis=-1, keepdims=True) + 1e-6))
    cos, sin = np.cos(angles), np.sin(angles)  # express the world offset in each limb's frame
    along, across = behind[..., 0] * cos + behind[..., 1] * sin, behind[..., 1] * cos - behind[..., 0] * sin
    track.tex_shift -= np.stack([along, across], axis=-1)
    track.tex_rot -= np.clip(anchor * (lag_a - np.unwrap(angles, axis=0)), -0.08 * s, 0.08 * s)
    track.extremity_blur += (0.8 + rng.uniform(0, 0.4, track.extremity_blur.shape)) * s


@register_artefact("magicdance")
def _jittery_motion(track: sr.Track, app: sr.Appearance, rng: np.random.Generator, s: float) -> None:
    """High-frequency joint noise (trembling limbs) and occasional limb-length changes."""
    track.angles += rng.normal(0, 0.03 * s, track.angles.shape)
    track.hip += rng.normal(0, 0.35 * s / app.fig, track.hip.shape)
    stretch = rng.random(track.length_scale.shape) < 0.2
    track.length_scale *= 1 + stretch * rng.normal(0, 0.05 * s, track.length_scale.shape)


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Job:
    record: VideoRecord
    identity: int
    pose: int


def source_id(index: int) -> str:
    return f"src{index:03d}"


def source_splits(config: SynthConfig, taxonomy: Taxonomy | None = None) -> tuple[str, ...]:
    """Split of every source: a seeded shuffle cut by ``split_fractions`` (largest remainder).

    Every split gets at least one source when ``sources >= 3`` and two (so that "mismatch" has a
    partner in every split) when ``sources >= 6``.
    """
    taxonomy = taxonomy or load_taxonomy()
    n, names = config.sources, taxonomy.splits
    fractions = np.asarray(config.split_fractions, float) / sum(config.split_fractions)
    counts = np.floor(fractions * n).astype(int)
    for i in np.argsort(-(fractions * n - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    floor = 2 if n >= 2 * len(names) else 1 if n >= len(names) else 0
    for i in range(len(names)):
        while counts[i] < floor and fractions[i] > 0:
            counts[int(np.argmax(counts))] -= 1
            counts[i] += 1
    order = np.random.default_rng(seed_sequence(config.seed, "splits")).permutation(n)
    splits = [""] * n
    for position, source in enumerate(order):
        splits[source] = names[int(np.searchsorted(np.cumsum(counts), position, side="right"))]
    return tuple(splits)


def plan_videos(config: SynthConfig = SynthConfig(), taxonomy: Taxonomy | None = None) -> list[VideoRecord]:
    """The records ``synthesize`` writes (without frame counts and checksums), in order."""
    return [job.record for job in _plan(config, taxonomy or load_taxonomy())]


def _plan(config: SynthConfig, taxonomy: Taxonomy) -> list[_Job]:
    config.validate(taxonomy)
    splits = source_splits(config, taxonomy)
    jobs = []
    for i, split in enumerate(splits):
        jobs.append(_job(taxonomy, split, i, i, "real", None, None))
        for method in config.methods or taxonomy.methods_of("paper"):
            for kind in dict.fromkeys(taxonomy.canonical_config(c) for c in config.configs or taxonomy.configs):
                pose = i if kind == MATCH else cross_partner(i, splits)
                if pose is not None:  # a lone source in its split has no mismatch partner: skipped
                    jobs.append(_job(taxonomy, split, i, pose, "fake", method, kind))
    return jobs


def _job(taxonomy: Taxonomy, split: str, identity: int, pose: int, label: str, method: str | None,
         config: str | None) -> _Job:
    ids = dict(identity_id=source_id(identity), pose_id=source_id(pose))
    where = dict(label=label, method=method, config=config, split=split, compression=COMPRESSION, **ids)
    return _Job(VideoRecord(path=relative_path(taxonomy, **where), **where), identity, pose)


# --------------------------------------------------------------------------- rendering


def build_scene(config: SynthConfig, identity: int, pose: int, method: str | None = None,
                kind: str | None = None) -> tuple[sr.Appearance, sr.Track]:
    """Identity ``identity`` dancing the dance of ``pose``, with ``method``'s artefacts when given."""
    app = sr.make_appearance(make_rng(config.seed, "identity", identity), config.width, config.height)
    motion = sr.make_motion(make_rng(config.seed, "motion", pose), config.frames, config.fps)
    track = sr.Track.from_motion(motion, config.fps)
    if method is not None:
        artefact = _artefact(method)
        rng = make_rng(config.seed, "artefact", *_video_tag(identity, pose, method, kind))
        _rerender(track, app, rng, config.artifact_strength)
        artefact(track, app, rng, config.artifact_strength)
    return app, track


def render_video(config: SynthConfig, identity: int, pose: int, method: str | None = None,
                 kind: str | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(RGB uint8 frame, person alpha) of one video (real when ``method`` is None): what gets encoded."""
    app, track = build_scene(config, identity, pose, method, kind)
    sensor = make_rng(config.seed, "sensor", *_video_tag(identity, pose, method, kind))
    return sr.render(app, track, config.width, config.height, sensor)


def _video_tag(identity: int, pose: int, method: str | None, kind: str | None) -> tuple:
    kind = _SEED_TAG.get(kind or "", kind or "")
    return ("real", identity) if method is None else ("fake", identity, pose, method, kind)


def _run_job(root: str, config: SynthConfig, job: _Job) -> VideoRecord:
    """Write one video unless it exists (atomic writes: an existing file is complete)."""
    def frames() -> Iterator[np.ndarray]:
        return (frame for frame, _ in render_video(config, job.identity, job.pose, job.record.method,
                                                   job.record.config))
    return write_video(Path(root), job.record, frames, fps=config.fps, crf=config.crf)


def synthesize(root: str | Path, config: SynthConfig = SynthConfig(), *, workers: int = 1,
               progress: bool = True) -> list[VideoRecord]:
    """Write the dataset under ``root`` and its manifest; return this config's records.

    Videos already on disk are kept (writes are atomic, so an existing file is complete): an
    interrupted run resumes. The records are merged into ``<root>/manifest.csv``, so rows other
    commands added (``ttdf compress`` outputs, earlier ``--methods``) stay.
    """
    taxonomy = load_taxonomy()
    root = Path(root)
    jobs = _plan(config, taxonomy)
    _check_stamp(root, config)
    results: dict[int, VideoRecord] = {}
    bar = tqdm(total=len(jobs), desc="synth", unit="video", disable=not progress)
    try:
        if workers <= 1 or len(jobs) <= 1:
            for i, job in enumerate(jobs):
                results[i] = _run_job(str(root), config, job)
                bar.update()
        else:
            context = multiprocessing.get_context("spawn")  # no inherited threads or locks
            with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
                futures = {pool.submit(_run_job, str(root), config, job): i for i, job in enumerate(jobs)}
                try:
                    for future in as_completed(futures):
                        results[futures[future]] = future.result()
                        bar.update()
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
    finally:
        bar.close()
    records = [results[i] for i in range(len(jobs))]
    merge_into_manifest(root, records, taxonomy=load_taxonomy(root=root))  # the root may hold imported methods
    return records


def _check_stamp(root: Path, config: SynthConfig) -> None:
    """Refuse to resume into a root synthesised with other content options (videos would mix)."""
    check_stamp(root, STAMP_FILE, config.content_key(), "synth")


__all__ = ["ARTEFACTS", "MATCH", "MISMATCH", "SynthConfig", "build_scene", "cross_partner", "plan_videos", "register_artefact",
           "render_video", "source_id", "source_splits", "synthesize"]
