"""Optical flow: estimator pairs/s, our pipeline against a bare OpenCV loop, worker scaling, cache size.

The pipeline rows run ``compute_flow_for_index`` on a private copy of the synth root with its cache
emptied before every repeat, so each repeat computes every video. The bare loop is what a user would
write without us: OpenCV decode, resize, grey, ``DISOpticalFlow.calc``; nothing stored.
"""
from __future__ import annotations

import shutil
import multiprocessing
from pathlib import Path

import cv2
import numpy as np

from bench.common import Row, by_id, relate, scaling_note, value_row
from bench.data import Context
from bench.shard_worker import flow_shard
from tofnet.flow import compute_video_flow, create_flow_estimator
from tofnet.flow_cache import FLOW_CACHE_DIR, FlowCache, compute_flow_for_index
from ttdf.video import read_frames

ESTIMATORS = {"dis": {}, "farneback": {}, "raft_small": {"weights": "random"}}
ROWS = (*(f"flow.estimator.{name}" for name in ESTIMATORS), "flow.estimator.dis_source", "flow.bare_loop",
        "flow.video_flow", "flow.pipeline.w1", "flow.pipeline.w1.opencv", "flow.pipeline.w2", "flow.shards.2",
        "flow.synth.pipeline", "flow.synth.bare_loop", "flow.cache_put", "flow.cache_np_save",
        "flow.cache_bytes", "flow.long.decode", "flow.long.pipeline")
CACHE_VIDEOS = 10  # videos whose flow the cache-write rows store
PIPELINE_GOAL = 0.9  # our pipeline should keep at least this share of the bare loop's speed
SCALING_GOAL = 1.7  # workers=2 against workers=1 on long videos


def run(ctx: Context) -> list[Row]:
    p, data = ctx.profile, ctx.data
    h, w = p.flow_size
    rows: list[Row | None] = []
    for name, kwargs in ESTIMATORS.items():
        pairs = p.flow_pairs[name]
        rows.append(ctx.measure(f"flow.estimator.{name}", f"{name} at {h}x{w}, {pairs} pairs",
                                lambda est: est["estimator"](est["frames"]),
                                prepare=lambda n=name, k=kwargs, c=pairs: estimator_input(ctx, n, k, c, p.flow_size),
                                warmup=1, work=pairs, unit="pairs/s",
                                note="random weights, CPU" if name.startswith("raft") else ""))
    lh, lw = p.long_size
    rows.append(ctx.measure("flow.estimator.dis_source", f"dis at the source size {lh}x{lw}, {p.source_pairs} pairs",
                            lambda est: est["estimator"](est["frames"]),
                            prepare=lambda: estimator_input(ctx, "dis", {}, p.source_pairs, None),
                            warmup=1, work=p.source_pairs, unit="pairs/s"))

    videos, pairs = data.flow_videos, data.flow_pairs
    where = f"{len(videos)} videos of {data.long_frames} frames at {lh}x{lw}, {pairs} pairs at {h}x{w}"
    rows.append(ctx.measure("flow.bare_loop", f"bare cv2 decode + resize + DIS loop, {where}",
                            lambda _: bare_dis_loop(videos, p.flow_size), work=pairs, unit="pairs/s"))
    rows.append(ctx.measure("flow.video_flow", f"compute_video_flow per video (reader + DISFlow), {where}",
                            lambda est: [compute_video_flow(v, estimator=est, size=p.flow_size) for v in videos],
                            prepare=lambda: create_flow_estimator("dis"), work=pairs, unit="pairs/s"))
    for workers in (1, 2):
        rows.append(ctx.measure(f"flow.pipeline.w{workers}", f"compute_flow_for_index workers={workers}, {where}",
                                lambda root, n=workers: _pipeline(root, p.flow_size, n),
                                prepare=lambda: data.copy_root(data.flow_root, "flow-pipeline"),
                                before_each=_empty_cache, work=pairs, unit="pairs/s"))
    rows.append(ctx.measure("flow.pipeline.w1.opencv", f"compute_flow_for_index workers=1, "
                            f"reader_backend='opencv' (`tofnet flow --reader-backend opencv`), {where}",
                            lambda root: _pipeline(root, p.flow_size, 1, reader="opencv"),
                            prepare=lambda: data.copy_root(data.flow_root, "flow-pipeline-opencv"),
                            before_each=_empty_cache, work=pairs, unit="pairs/s"))
    rows.append(ctx.measure("flow.shards.2", "two processes at once, each compute_flow_for_index(shard=i/2, "
                            f"workers=1) (process start included), {where}",
                            lambda root: _shards(root, p.flow_size, 2),
                            prepare=lambda: data.copy_root(data.flow_root, "flow-shards"),
                            before_each=_empty_cache, work=pairs, unit="pairs/s"))
    synth, synth_pairs = data.synth_videos, data.synth_pairs
    rows.append(ctx.measure("flow.synth.pipeline", f"compute_flow_for_index workers=1, {len(synth)} short synth "
                            f"videos, {synth_pairs} pairs at {h}x{w} (per-video overhead)",
                            lambda root: _pipeline(root, p.flow_size, 1),
                            prepare=lambda: data.copy_root(data.synth_root, "flow-synth"),
                            before_each=_empty_cache, work=synth_pairs, unit="pairs/s"))
    rows.append(ctx.measure("flow.synth.bare_loop", "bare cv2 decode + resize + DIS loop, the same synth videos",
                            lambda _: bare_dis_loop(synth, p.flow_size), work=synth_pairs, unit="pairs/s"))
    stored = synth[:CACHE_VIDEOS]
    stored_pairs = len(stored) * (p.synth.frames - 1)
    rows.append(ctx.measure("flow.cache_put", f"FlowCache.put alone (float16, .npy), {len(stored)} videos' flow",
                            lambda s: [s["cache"].put(sha, "bench", f) for sha, f in s["flows"]],
                            prepare=lambda: _flows(ctx, stored), before_each=_empty_store, work=stored_pairs,
                            unit="pairs/s"))
    rows.append(ctx.measure("flow.cache_np_save", "bare np.save of the same float16 arrays (no zlib)",
                            lambda s: [np.save(s["dir"] / f"{sha}.npy", f.astype(np.float16)) for sha, f in s["flows"]],
                            prepare=lambda: _flows(ctx, stored), before_each=_empty_store, work=stored_pairs,
                            unit="pairs/s"))
    rows.append(ctx.measure("flow.long.decode", f"read_frames(size={h}x{w}) of the {lh}x{lw} clip",
                            lambda _: read_frames(data.long_video, size=p.flow_size), work=data.long_frames,
                            unit="frames/s", warmup=1))
    rows.append(ctx.measure("flow.long.pipeline", f"compute_flow_for_index of the {lh}x{lw} clip at {h}x{w}",
                            lambda root: _pipeline(root, p.flow_size, 1),
                            prepare=lambda: data.copy_root(data.long_root, "flow-long"),
                            before_each=_empty_cache, work=data.long_frames - 1, unit="pairs/s"))
    result = [r for r in rows if r is not None]
    found = by_id(result)
    cache = _cache_row(found.get("flow.pipeline.w1"), pairs, p.flow_size)
    if cache is not None and ctx.wants(cache.id):
        result.append(cache)
    for name in ESTIMATORS:
        if name != "dis":
            relate(found.get(f"flow.estimator.{name}"), found.get("flow.estimator.dis"), "dis")
    relate(found.get("flow.video_flow"), found.get("flow.bare_loop"), "bare loop")
    relate(found.get("flow.pipeline.w1"), found.get("flow.bare_loop"), "bare loop")
    relate(found.get("flow.pipeline.w1.opencv"), found.get("flow.bare_loop"), "bare loop")
    relate(found.get("flow.pipeline.w2"), found.get("flow.pipeline.w1"), "workers=1")
    relate(found.get("flow.shards.2"), found.get("flow.pipeline.w1"), "one process")
    relate(found.get("flow.synth.pipeline"), found.get("flow.synth.bare_loop"), "bare loop")
    relate(found.get("flow.cache_put"), found.get("flow.bare_loop"), "bare loop")
    relate(found.get("flow.cache_np_save"), found.get("flow.cache_put"), "FlowCache.put")
    _check_pipeline(found)
    return result


def notes(rows: dict[str, Row]) -> list[str]:
    lines = []
    pipeline = rows.get("flow.pipeline.w1")
    if pipeline is not None and pipeline.ratio is not None:
        verdict = "meets" if pipeline.ratio >= PIPELINE_GOAL else "misses"
        lines.append(f"flow: compute_flow_for_index runs at {pipeline.ratio:.2f}x the bare OpenCV loop "
                     f"({verdict} the >= {PIPELINE_GOAL}x goal).")
    opencv = rows.get("flow.pipeline.w1.opencv")
    if pipeline is not None and pipeline.ratio is not None and opencv is not None and opencv.ratio is not None:
        lines.append(f"flow: with the OpenCV reader it runs at {opencv.ratio:.2f}x the bare loop (the default PyAV "
                     f"reader: {pipeline.ratio:.2f}x); the difference is the decoder, not the pipeline.")
    scaling = rows.get("flow.pipeline.w2")
    if scaling is not None and scaling.ratio is not None:
        verdict = "meets" if scaling.ratio >= SCALING_GOAL else "misses"
        why = scaling_note(scaling, rows.get("flow.pipeline.w1"))
        lines.append(f"flow: workers 1 -> 2 gives {scaling.ratio:.2f}x ({verdict} the >= {SCALING_GOAL}x goal{why}).")
    shards = rows.get("flow.shards.2")
    if shards is not None and shards.ratio is not None:
        lines.append(f"flow: two shards run at once give {shards.ratio:.2f}x one process.")
    return lines


def bare_dis_loop(videos: tuple[Path, ...], size: tuple[int, int]) -> dict:
    """The baseline: what the pipeline does, minus everything that is ours."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # DISFlow's default preset
    height, width = size
    pairs = 0
    for path in videos:
        capture, previous = cv2.VideoCapture(str(path)), None
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            grey = cv2.cvtColor(cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
            if previous is not None:
                dis.calc(previous, grey, None)
                pairs += 1
            previous = grey
        capture.release()
    return {"pairs": pairs}


def estimator_input(ctx: Context, name: str, kwargs: dict, pairs: int, size: tuple[int, int] | None) -> dict:
    frames = read_frames(ctx.data.long_video, range(min(pairs + 1, ctx.data.long_frames)), size=size)
    return {"estimator": create_flow_estimator(name, **kwargs), "frames": frames}


def _pipeline(root: Path, size: tuple[int, int], workers: int, reader: str = "auto") -> dict:
    report = compute_flow_for_index(root, backend="dis", size=size, workers=workers, progress=False,
                                    reader_backend=reader)
    if report.failed:
        raise RuntimeError(f"flow failed for {len(report.failed)} videos, e.g. {report.failed[0]}")
    files = list((root / FLOW_CACHE_DIR).rglob("*.npy"))
    return {"computed": report.computed, "cached": report.cached, "cache_bytes": sum(f.stat().st_size for f in files)}


def _shards(root: Path, size: tuple[int, int], count: int) -> dict:
    """``count`` processes, one per shard, started together (as a job array would): all must succeed."""
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=flow_shard, args=(str(root), size, (i, count))) for i in range(count)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    if any(proc.exitcode for proc in procs):
        raise RuntimeError(f"a shard failed (exit codes {[proc.exitcode for proc in procs]})")
    return {"cache_files": len(list((root / FLOW_CACHE_DIR).rglob("*.npy")))}


def _flows(ctx: Context, videos: tuple[Path, ...]) -> dict:
    """float32 flows (as the estimator returns them) of ``videos``, keyed by a stand-in sha256."""
    estimator, store = create_flow_estimator("dis"), ctx.data.workdir / "scratch" / "flow-store"
    flows = [(f"{i:064x}", compute_video_flow(v, estimator=estimator, size=ctx.profile.flow_size))
             for i, v in enumerate(videos)]
    return {"flows": flows, "cache": FlowCache(store), "dir": store}


def _empty_store(state: dict) -> None:
    shutil.rmtree(state["dir"], ignore_errors=True)
    state["dir"].mkdir(parents=True)


def _empty_cache(root: Path) -> None:
    shutil.rmtree(root / FLOW_CACHE_DIR, ignore_errors=True)


def _cache_row(pipeline: Row | None, pairs: int, size: tuple[int, int]) -> Row | None:
    if pipeline is None or not pipeline.ok or not pipeline.extra.get("cache_bytes"):
        return None
    per_pair = pipeline.extra["cache_bytes"] / pairs
    raw = 2 * size[0] * size[1] * np.dtype(np.float16).itemsize
    row = value_row("flow.cache_bytes", f"flow cache on disk per frame pair ({size[0]}x{size[1]}, float16 .npy)",
                    "bytes/pair", per_pair, note=f"raw float16 would be {raw:,} bytes")
    row.ratio, row.ratio_to = per_pair / raw, "raw float16"
    return row


def _check_pipeline(found: dict[str, Row]) -> None:
    """A pipeline row that found its work already cached measured nothing: say so instead of a rate."""
    for row in found.values():
        if row.id.startswith(("flow.pipeline", "flow.long.pipeline")) and row.ok and row.extra.get("cached"):
            row.note = (row.note + "; " if row.note else "") + f"{row.extra['cached']} videos were already cached"
