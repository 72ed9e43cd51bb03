"""``ttdf forge``: TT-DF-shaped forgeries of a root's own real videos, on a CPU.

For every indexed raw real video (a "source") and every forge family (see
:mod:`ttdf.forge_families`), two fakes are written where the taxonomy puts that method:

- self-reenactment (``match``): the source animated with its own motion: its frames, with the
  family's failure mechanism driven by its own optical flow;
- cross-reenactment (``mismatch``): the source's first frame (its appearance) warped along the
  motion (DIS optical flow) of the next source of the same split and frame size, then the family on top.

Outputs are deterministic in the seed, written atomically (a rerun writes only what is missing),
added to ``manifest.csv`` and indexed, so ``ttdf compress`` makes their c23/c40 like any video.
A source that is too short or unreadable is listed with the reason; sources of any frame size are
forged, each at its own size (a root of phone clips holds several).
With ``shard=(i, n)`` (``--shard i/n``) a run forges only its share and leaves the manifest rows in a
fragment that the next unsharded ``ttdf index`` merges (:mod:`ttdf.shard`).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import cv2
import numpy as np

from ttdf.errors import TTDFError
from ttdf.forge_families import FAMILIES, Clip, animate, apply_family, backward_flows
from ttdf.fsutil import atomic_path
from ttdf.generate import check_stamp, cross_partner, make_rng, self_config, video_metadata, write_video
from ttdf.index import IndexReport, IndexedVideo, VideoIndex, index_dataset
from ttdf.lock import root_lock
from ttdf.manifest import merge_into_manifest, read_manifest
from ttdf.parallel import WorkerCrash, run_parallel
from ttdf.records import VideoFilter, VideoRecord, relative_path
from ttdf.shard import NO_SHARD, Shard, fragment_paths, is_sharded, select_shard, write_manifest_fragment
from ttdf.taxonomy import Taxonomy, load_taxonomy
from ttdf.video import iter_frames

FORGE_VERSION = 2  # bump when a family's output changes, so old roots are not silently mixed with new videos
STAMP_FILE = ".ttdf/forge.json"
SOURCE_COMPRESSION = "raw"
FAMILY_TAG = "forge"
# peak working memory of one job per pixel and frame: the sources, their float copies, the flow, the animation and
# one family's output (measured: 59 bytes for a self-reenactment, 74 for a cross-reenactment), plus a margin
BYTES_PER_PIXEL_FRAME = 80


@dataclass(frozen=True)
class ForgeConfig:
    seed: int = 0
    strength: float = 1.0
    methods: tuple[str, ...] | None = None  # default: every method the taxonomy tags "forge"
    configs: tuple[str, ...] | None = None  # default: both configurations
    splits: tuple[str, ...] = ()            # sources of these splits only (default: all)
    min_frames: int = 8
    crf: int = 0
    # NOTE: the two limits below choose how much of a long source is forged, not how a video is made, so they are
    # not in content_key: a root may hold forgeries of several lengths, as TT-DF does
    max_frames: int = 300    # a longer source gives its first max_frames (TT-DF's forgeries average 225 frames)
    memory_gib: float = 4.0  # one job's working memory: fewer frames of a large source, never an out-of-memory

    def validate(self, taxonomy: Taxonomy) -> "ForgeConfig":
        """Raise a :class:`TTDFError` naming the bad option; return self."""
        if not 0 <= self.strength < float("inf"):
            raise TTDFError(f"forge: strength must be a finite number >= 0 (got {self.strength})")
        if self.min_frames < 2:
            raise TTDFError(f"forge: min_frames must be >= 2 (got {self.min_frames}); motion needs two frames")
        if self.max_frames < self.min_frames:
            raise TTDFError(f"forge: max_frames ({self.max_frames}) must be >= min_frames ({self.min_frames})")
        if not 0 < self.memory_gib < float("inf"):
            raise TTDFError(f"forge: memory_gib must be a finite number > 0 (got {self.memory_gib})")
        if not 0 <= self.crf <= 51:
            raise TTDFError(f"forge: crf must be in 0..51 (got {self.crf})")
        for name, chosen, known in (("method", self.methods, taxonomy.methods_of(FAMILY_TAG)),
                                    ("config", self.configs, taxonomy.configs), ("split", self.splits, taxonomy.splits)):
            unknown = [v for v in chosen or () if v not in known]
            if unknown:
                raise TTDFError(f"forge: unknown {name}(s) {unknown}; choose from {list(known)}")
        for method in self.methods_in(taxonomy):
            FAMILIES.lookup(method, "forge")
        return self

    def methods_in(self, taxonomy: Taxonomy) -> tuple[str, ...]:
        return self.methods or taxonomy.methods_of(FAMILY_TAG)

    def content_key(self) -> dict:
        """The options that change a video's bytes (methods/configs/splits only choose which videos exist)."""
        return dict(version=FORGE_VERSION, seed=self.seed, strength=self.strength, crf=self.crf)


@dataclass
class ForgeReport:
    """Outputs written and already there, sources left out (with why) and outputs that failed."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bad_sources: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    index: IndexReport | None = None


@dataclass(frozen=True)
class _Job:
    """One (identity, pose, configuration) pair: the motion is computed once for all its families."""

    identity: VideoRecord
    pose: VideoRecord
    config: str
    self_reenactment: bool
    outputs: tuple[VideoRecord, ...]
    frames: int  # the first frames of both sources that are forged


# --------------------------------------------------------------------------- planning


def plan_forgeries(root: str | Path, config: ForgeConfig = ForgeConfig()) -> tuple[list[_Job], ForgeReport]:
    """The jobs ``forge_dataset`` runs and a report listing the sources it leaves out, and why."""
    taxonomy = load_taxonomy()
    config.validate(taxonomy)
    report = ForgeReport()
    with VideoIndex.open(root) as index:
        indexed = index.query(VideoFilter(labels=("real",), splits=config.splits), status=None)
    indexed = sorted((v for v in indexed if v.record.compression == SOURCE_COMPRESSION),
                     key=lambda v: (v.record.split, v.record.identity_id))
    if not indexed:
        raise TTDFError(f"{root}: no indexed raw real videos to forge; add some (`ttdf import`, `make footage`) "
                        "and run `ttdf index` first")
    sources = _usable_sources(indexed, config, report)
    own, _ = self_config(taxonomy)
    # NOTE: a cross-reenactment warps one source's appearance along another's motion, pixel for pixel: the two
    # must share a frame size, so partners are found among the sources of one split and one size
    groups = tuple((s.split, s.width, s.height) for s in sources)
    jobs = []
    for i, source in enumerate(sources):
        for kind in config.configs or taxonomy.configs:
            partner = i if kind == own else cross_partner(i, groups)
            if partner is None:
                report.notes.append(f"no {kind} forgeries of {source.path}: it is the only usable source of split "
                                    f"{source.split!r} at {source.width}x{source.height}")
                continue
            pose = sources[partner]
            outputs = tuple(_output(taxonomy, source, pose, method, kind) for method in config.methods_in(taxonomy))
            frames = min(frames_to_forge(source, config), frames_to_forge(pose, config))
            jobs.append(_Job(source, pose, kind, kind == own, outputs, frames))
    return jobs, report


def _usable_sources(indexed: list[IndexedVideo], config: ForgeConfig, report: ForgeReport) -> list[VideoRecord]:
    """Sources that can be forged; the others go to ``report.bad_sources`` with why."""
    usable = []
    for video in indexed:
        record = video.record
        if not video.ok:
            report.bad_sources.append((record.path, f"unreadable: {video.error or video.status}; fix or delete it, "
                                                    "then rerun `ttdf index`"))
        elif (record.frames or 0) < config.min_frames:
            report.bad_sources.append((record.path, f"too short: {record.frames} frames, forging needs at least "
                                                    f"{config.min_frames} (--min-frames)"))
        elif (frames := frames_to_forge(record, config)) < config.min_frames:
            need = config.min_frames * BYTES_PER_PIXEL_FRAME * record.width * record.height / 2**30
            report.bad_sources.append((record.path, f"too large: {config.min_frames} frames at {record.width}x"
                                                    f"{record.height} need {need:.3g} GiB, over --memory-gib "
                                                    f"{config.memory_gib:g}; raise it, or cut the video smaller "
                                                    "(python -m ttdf.footage DIR --from FOLDER)"))
        else:
            usable.append(record)
            if frames < record.frames:
                report.notes.append(f"{record.path}: forging its first {frames} of {record.frames} frames "
                                    f"(--max-frames {config.max_frames}, --memory-gib "
                                    f"{config.memory_gib:g} at {record.width}x{record.height}); cut long videos "
                                    "into clips with python -m ttdf.footage to use all of them")
    return usable


def frames_to_forge(record: VideoRecord, config: ForgeConfig) -> int:
    """How many of a source's first frames one job forges: at most ``max_frames``, and what fits ``memory_gib``."""
    fits = int(config.memory_gib * 2**30 // (BYTES_PER_PIXEL_FRAME * max(record.width * record.height, 1)))
    return min(record.frames or 0, config.max_frames, fits)


def _output(taxonomy: Taxonomy, identity: VideoRecord, pose: VideoRecord, method: str, kind: str) -> VideoRecord:
    where = dict(label="fake", method=method, config=kind, split=identity.split, compression=SOURCE_COMPRESSION,
                 identity_id=identity.identity_id, pose_id=pose.identity_id)
    return VideoRecord(path=relative_path(taxonomy, **where), **where)


# --------------------------------------------------------------------------- forging


def forge_clip(identity: np.ndarray, pose: np.ndarray, *, self_reenactment: bool) -> Clip:
    """The animation every family starts from: identity's appearance moved by the pose video's motion."""
    frames = min(len(identity), len(pose))
    identity, pose = identity[:frames].astype(np.float32), pose[:frames]
    flows = backward_flows(pose)
    base = identity if self_reenactment else animate(identity[0], flows)
    return Clip(base=base, reference=identity[0], flow=flows)


def forge_frames(clip: Clip, method: str, *, seed: int, strength: float, tag: tuple[str, ...]) -> np.ndarray:
    """uint8 (T, H, W, 3) frames of one forgery; ``tag`` names the video so every video has its own stream."""
    return apply_family(method, clip, make_rng(seed, "forge", method, *tag), strength)


def job_clip(job: _Job, root: Path) -> tuple[np.ndarray, Clip]:
    """The identity's frames and the animation of one job, from the first ``job.frames`` of its sources."""
    identity = _read(job.identity, root, job.frames)
    pose = identity if job.self_reenactment else _read(job.pose, root, job.frames)
    return identity, forge_clip(identity, pose, self_reenactment=job.self_reenactment)


def _read(record: VideoRecord, root: Path, limit: int) -> np.ndarray:
    """The first ``limit`` frames (decoding stops there, so a long video is never held whole)."""
    frames = np.stack(list(islice(iter_frames(root / record.path), limit)))
    if (frames.shape[2], frames.shape[1]) != (record.width, record.height):
        raise TTDFError(f"{record.path}: decodes to {frames.shape[2]}x{frames.shape[1]}, not the indexed "
                        f"{record.width}x{record.height}; rerun `ttdf index`")
    return frames


def _forge_job(item: tuple[str, _Job, ForgeConfig, tuple[str, ...]]) -> list[tuple[VideoRecord, str | None]]:
    """Write one job's missing outputs (in a worker); failures come back as reasons, never raised."""
    root, job, config, pending = item
    root = Path(root)
    try:
        _, clip = job_clip(job, root)
        if clip.frames < config.min_frames:
            raise TTDFError(f"decodes to {clip.frames} frames, fewer than {config.min_frames}")
    except (TTDFError, OSError, ValueError, cv2.error) as exc:
        reason = getattr(exc, "reason", None) or str(exc)
        return [(out, f"cannot read the sources ({reason[:300]})") for out in job.outputs if out.path in pending]
    results = []
    tag = (job.config, job.identity.identity_id, job.pose.identity_id)
    for out in job.outputs:
        if out.path not in pending:
            continue
        try:
            frames = forge_frames(clip, out.method, seed=config.seed, strength=config.strength, tag=tag)
            results.append((write_video(root, out, frames, fps=job.identity.fps or 25.0, crf=config.crf), None))
        except (TTDFError, OSError, ValueError, cv2.error) as exc:
            results.append((out, getattr(exc, "reason", None) or str(exc)))
    return results


def forge_dataset(root: str | Path, config: ForgeConfig = ForgeConfig(), *, workers: int = 1,
                  shard: Shard = NO_SHARD, progress: bool = True) -> ForgeReport:
    """Forge every usable source of ``root``; register and index the outputs. Reruns write only what is missing.

    ``shard=(i, n)`` forges only that shard's (identity, configuration) pairs and, so that shards can run
    at once on a shared root, writes neither the manifest nor the index: the rows go to a fragment under
    ``<root>/.ttdf/shards/`` that the next unsharded ``ttdf index`` merges.
    """
    taxonomy = load_taxonomy()
    root = Path(root)
    sharded = is_sharded(shard)
    manifest = root / taxonomy.layout.manifest
    registered = {r.path for r in read_manifest(manifest, taxonomy)} if manifest.exists() else set()
    if sharded:
        registered |= fragment_paths(root, taxonomy)
    # planned over every source, then split: mismatch partners are the same in every shard
    jobs, report = plan_forgeries(root, config)
    jobs = select_shard(jobs, shard, key=_shard_key)
    # NOTE: under the root lock, so that checking and creating the stamp is one step: shards started at once
    # with other options (another --seed) would otherwise both find no stamp and mix their videos in one root.
    with root_lock(root, what="checking the forge stamp"):
        check_stamp(root, STAMP_FILE, config.content_key(), "forge")
    items, done = [], []
    for job in jobs:
        pending = tuple(o.path for o in job.outputs if not (root / o.path).exists())
        report.skipped += [o.path for o in job.outputs if o.path not in pending]
        done += [o.with_(**video_metadata(root / o.path)) for o in job.outputs
                 if o.path not in pending and o.path not in registered]  # finished by an interrupted run
        if pending:
            items.append((str(root), job, config, pending))
    try:
        with contextlib.closing(run_parallel(_forge_job, items, workers=workers, progress=progress, desc="forge",
                                             unit="pair")) as results:
            for (_, job, _, pending), outcome in results:
                if isinstance(outcome, WorkerCrash):
                    report.failed += [(path, outcome.reason) for path in pending]
                    continue
                for record, reason in outcome:
                    if reason is None:
                        report.written.append(record.path)
                        done.append(record)
                    else:
                        report.failed.append((record.path, reason))
    finally:  # also on Ctrl-C: register what is finished so a rerun only does the rest
        if not sharded:
            merge_into_manifest(root, done, taxonomy=taxonomy)
        elif done:
            write_manifest_fragment(root, "forge", shard, done, taxonomy)
    report.written.sort()
    report.skipped.sort()
    report.failed.sort()
    outputs = report.written + report.skipped
    if outputs and not sharded:
        report.index = index_dataset(root, paths=outputs, workers=workers, progress=progress)
    return report


def _shard_key(job: _Job) -> tuple[str, str]:
    """A job's place in the shard split: its identity and configuration, whatever --methods forges."""
    return job.identity.path, job.config


# --------------------------------------------------------------------------- preview


def write_preview(root: str | Path, out: str | Path, config: ForgeConfig = ForgeConfig(), *, columns: int = 4,
                  tile_width: int = 192) -> Path:
    """A contact sheet (PNG): the first usable source, then each family in each configuration, ``columns`` frames."""
    taxonomy = load_taxonomy()
    root = Path(root)
    jobs, _ = plan_forgeries(root, config)
    if not jobs:
        raise TTDFError(f"{root}: no usable source to preview; see `ttdf forge` for why sources were left out")
    first = jobs[0].identity
    rows: list[tuple[str, np.ndarray]] = []
    for job in (j for j in jobs if j.identity == first):
        identity, clip = job_clip(job, root)
        picks = np.linspace(0, clip.frames - 1, columns).round().astype(int)
        if not rows:
            rows.append((f"real {first.identity_id}", identity[picks]))
        tag = (job.config, job.identity.identity_id, job.pose.identity_id)
        for method in config.methods_in(taxonomy):
            frames = forge_frames(clip, method, seed=config.seed, strength=config.strength, tag=tag)
            rows.append((f"{method} {job.config} (motion {job.pose.identity_id})", frames[picks]))
    sheet = _contact_sheet(rows, tile_width)
    out = Path(out)
    with atomic_path(out) as tmp:
        ok, data = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        if not ok:
            raise TTDFError(f"{out}: cannot encode the preview as PNG")
        tmp.write_bytes(data.tobytes())
    return out


def _contact_sheet(rows: list[tuple[str, np.ndarray]], tile_width: int) -> np.ndarray:
    height, width = rows[0][1].shape[1:3]
    tile = (tile_width, max(2, round(height * tile_width / width)))
    band = 18
    lines = []
    for label, frames in rows:
        caption = np.full((band, tile[0] * len(frames), 3), 255, np.uint8)
        cv2.putText(caption, label, (4, band - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        tiles = [cv2.resize(f, tile, interpolation=cv2.INTER_AREA) for f in frames]
        lines += [caption, np.concatenate(tiles, axis=1)]
    return np.concatenate(lines, axis=0)


__all__ = ["FORGE_VERSION", "ForgeConfig", "ForgeReport", "forge_clip", "forge_dataset", "forge_frames",
           "plan_forgeries", "write_preview"]
