"""An on-disk optical-flow cache, so flow is computed once per video and setting, not once per epoch.

Entries are keyed by the video's sha256 (renaming or moving a file keeps its flow; re-encoding it does
not) and by :func:`tofnet.flow.flow_cache_key` (backend, parameters, frame size). Flow is stored as
float16 ``.npy`` files, half the size of float32 and precise to ~0.03 px at 50 px.

Storage is :class:`tofnet.array_cache.ArrayCache`'s.
NOTE: entries are plain ``.npy``, not compressed ``.npz``: zlib saved only ~13% of the bytes but made
writing 13x slower than computing DIS flow, and it forced every training clip to decompress the whole
video's flow. A ``.npy`` is memory-mapped, so a clip reads only the frames it samples.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ttdf.errors import TTDFError, VideoError
from ttdf.index import VideoIndex
from ttdf.parallel import WorkerCrash, in_pool_worker, run_parallel
from ttdf.records import VideoFilter
from ttdf.shard import NO_SHARD, Shard, check_shard, select_shard
from tofnet.array_cache import ArrayCache, video_sha256
from tofnet.flow import FlowEstimator, compute_video_flow, create_flow_estimator, flow_cache_key, to_float16
from ttdf.video import check_size
from ttdf.video.read import REINDEX_HINT

FLOW_CACHE_DIR = ".ttdf/flow"  # below a dataset root


class FlowNotCachedError(TTDFError):
    """Flow was needed from the cache only (``compute_missing=False``) and is not there."""


class FlowCache(ArrayCache):
    """``<cache_dir>/<key>/<sha[:2]>/<sha>.npy``, each holding one video's flow as float16 (F - 1, 2, H, W)."""

    kind = "flow"
    root_dir = FLOW_CACHE_DIR

    def accepts(self, array: np.ndarray) -> bool:
        return array.ndim == 4 and array.shape[1] == 2 and array.dtype == np.float16

    def put(self, sha256: str, key: str, flow: np.ndarray) -> Path:
        """Store ``flow`` (N, 2, H, W) as float16, atomically: readers never see half a file."""
        flow = np.asarray(flow)
        if flow.ndim != 4 or flow.shape[1] != 2:
            raise ValueError(f"flow must have shape (N, 2, H, W), got {flow.shape}")
        return super().put(sha256, key, flow if flow.dtype == np.float16 else to_float16(flow))


def load_or_compute_flow(path: str | Path, sha256: str | None, *, estimator: FlowEstimator, size: tuple[int, int],
                         cache: FlowCache | None, compute_missing: bool = True, reader_backend: str = "auto",
                         frames: int | None = None) -> np.ndarray:
    """Flow of a whole video, float16 (F - 1, 2, H, W): from the cache, else computed (and cached).

    Always float16, cached or not, so results never depend on whether the cache was warm.
    ``sha256=None`` hashes the file; with a known sha256 a cached video need not exist on disk.
    Frames are decoded by ``reader_backend`` (the one that reads the RGB clips); ``frames`` is the
    length the index recorded, checked against the flow's (a mismatch raises :class:`VideoError`).
    """
    flow = _load_or_compute(path, sha256, estimator=estimator, size=size, cache=cache,
                            compute_missing=compute_missing, reader_backend=reader_backend, frames=frames)[0]
    if frames is not None and len(flow) != frames - 1:  # e.g. a cache entry computed before a re-encode
        raise VideoError(path, f"the index says {frames} frames but its optical flow covers {len(flow) + 1}",
                         hint=f"{REINDEX_HINT}, then `tofnet flow`")
    return flow


@dataclass
class FlowJobReport:
    """What one :func:`compute_flow_for_index` run did; ``failed`` holds (relative path, reason)."""

    computed: int = 0
    cached: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    key: str = ""
    cache_dir: str = ""

    @property
    def total(self) -> int:
        return self.computed + self.cached + len(self.failed)


def compute_flow_for_index(root: str | Path, filt: VideoFilter | None = None, *, backend: str = "dis",
                           size: tuple[int, int] = (112, 112), backend_kwargs: dict | None = None, workers: int = 1,
                           shard: Shard = NO_SHARD, progress: bool = True,
                           reader_backend: str = "auto") -> FlowJobReport:
    """Fill the dataset's flow cache for the indexed ok videos matching ``filt``, skipping cached ones.

    ``shard=(i, n)`` takes every n-th video (by sorted path) starting at i, to split the work across
    machines that share the root. A failing video, even one that crashes its decoder, is reported and
    the others go on. Frames are decoded by ``reader_backend`` (use the one training reads RGB with:
    it is part of the cache key). RAFT backends run in this process (one model on the GPU) whatever ``workers`` says.
    Workers are spawned: a script calling this with ``workers > 1`` needs ``if __name__ == "__main__":``.
    """
    shard = check_shard(shard)
    size = check_size(size)
    kwargs = dict(backend_kwargs or {})
    estimator = create_flow_estimator(backend, **kwargs)  # fail fast: unknown backend, bad options, no weights
    cache = FlowCache.for_root(root)
    report = FlowJobReport(key=flow_cache_key(estimator, size, reader_backend), cache_dir=str(cache.cache_dir))
    with VideoIndex.open(root) as index:
        videos = select_shard(index.query(filt), shard, key=lambda v: v.path)
    jobs = [(v.path, str(Path(root) / v.path), v.record.sha256, v.record.frames) for v in videos]
    state = (estimator, size, str(cache.cache_dir), reader_backend)  # pickled to workers: custom backends need no registry there
    results = run_parallel(_flow_job, jobs, workers=workers if estimator.multiprocess else 1, progress=progress,
                           desc=f"flow {backend}", initializer=_init_flow_worker, initargs=state,
                           min_items_per_worker=1)  # seconds per video: a worker's start-up is worth it
    try:
        with contextlib.closing(results):
            for (rel, *_), outcome in results:
                status, reason = ("failed", outcome.reason) if isinstance(outcome, WorkerCrash) else outcome
                if status == "computed":
                    report.computed += 1
                elif status == "cached":
                    report.cached += 1
                else:
                    report.failed.append((rel, reason))
    finally:
        _WORKER.clear()
    report.failed.sort()
    return report


# -- batch helpers -----------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}  # this process's estimator, size and cache for _flow_job


def _init_flow_worker(estimator: FlowEstimator, size: tuple[int, int], cache_dir: str, reader_backend: str) -> None:
    """Set up ``_flow_job``'s state, in a spawned worker or (in-process runs) in this process."""
    if in_pool_worker():  # the pool is the parallelism: one decoder thread and one OpenCV thread per worker
        cv2.setNumThreads(1)  # (safe here: a fresh spawned process)
    _WORKER.update(estimator=estimator, size=size, cache=FlowCache(cache_dir), reader_backend=reader_backend)


def _flow_job(job: tuple[str, str, str | None, int | None]) -> tuple[str, str]:
    """("computed" | "cached" | "failed", reason) for one video; never raises for a bad video."""
    _, path, sha256, frames = job
    try:
        _, computed = _load_or_compute(path, sha256, estimator=_WORKER["estimator"], size=_WORKER["size"],
                                       cache=_WORKER["cache"], compute_missing=True,
                                       reader_backend=_WORKER["reader_backend"], frames=frames)
    except VideoError as exc:
        return "failed", exc.reason
    except Exception as exc:  # one odd file must not stop a 20k-video run
        return "failed", f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    return ("computed" if computed else "cached"), ""


def _load_or_compute(path: str | Path, sha256: str | None, *, estimator: FlowEstimator, size: tuple[int, int],
                     cache: FlowCache | None, compute_missing: bool, reader_backend: str = "auto",
                     frames: int | None = None) -> tuple[np.ndarray, bool]:
    """(float16 flow, whether it was computed now)."""
    def compute() -> np.ndarray:
        return compute_video_flow(path, estimator=estimator, size=size, reader_backend=reader_backend, frames=frames,
                                  dtype=np.float16)

    if cache is None:
        return compute(), True
    sha256 = sha256 or video_sha256(path)
    key = flow_cache_key(estimator, size, reader_backend)
    flow = cache.get(sha256, key)
    if flow is not None:
        return flow, False
    if not compute_missing:
        raise FlowNotCachedError(f"{path}: no cached optical flow for {key}; run `tofnet flow` with the same "
                                 f"--flow-backend and --size, or allow computing missing flow")
    flow = compute()
    cache.put(sha256, key, flow)
    return flow, True

