"""Decode: frames/s of PyAV, OpenCV and decord on one file, through ``ttdf.video.read_frames`` and bare.

Two access patterns: a sequential read of every frame (flow, compression) and random short clips
(training). Bare calls use each library the way its documentation shows (default threads, one open
per file, seeking for clips), so "reader / bare" is what our wrapper costs or saves.

NOTE: the six rows of an access pattern run round-robin in one process (reader pyav, bare pyav,
reader opencv, ...), ``repeats`` rounds, so load from other work on a shared machine falls on all
of them alike instead of on whichever row ran while it lasted. A row whose repeats spread by more
than :data:`DISTURBED_SPREAD` is marked "disturbed" in the table. Each row also records the CPU time
of its calls (all threads): on a machine shared with other work, wall-clock favours whichever
library runs more threads, so the findings give CPU-time ratios beside the wall-clock ones.
"""
from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import decord
import numpy as np

from bench.common import Row, _reset_peak_rss, _status_mb, by_id, relate, run_isolated
from bench.data import Context
from ttdf.video import DEFAULT_READER, READER_BACKENDS, read_frames

ACCESS = {"seq": "sequential read", "clips": "random clips"}
ROWS = tuple(f"decode.{access}.{how}.{backend}" for access in ACCESS for backend in READER_BACKENDS
             for how in ("reader", "bare"))
GOAL = 0.9  # the default reader vs the fastest bare loop, and every reader vs its own bare loop
DISTURBED_SPREAD = 1.25  # median time / best time above this: the repeats were disturbed


def run(ctx: Context) -> list[Row]:
    path, frames = ctx.data.long_video, ctx.data.long_frames
    starts = clip_starts(frames, ctx.profile.clips, ctx.profile.clip_len)
    length = ctx.profile.clip_len
    rows: list[Row] = []
    for access in ACCESS:
        group: dict[str, tuple[str, Callable[[], object], float, str]] = {}
        for backend in READER_BACKENDS:
            if access == "seq":
                group[f"decode.seq.reader.{backend}"] = (
                    f"all frames, read_frames(backend={backend!r})",
                    lambda b=backend: read_frames(path, backend=b), frames, "frames/s")
                group[f"decode.seq.bare.{backend}"] = (
                    f"all frames, bare {BARE_NAMES[backend]}", lambda b=backend: BARE_SEQUENTIAL[b](path),
                    frames, "frames/s")
            else:
                group[f"decode.clips.reader.{backend}"] = (
                    f"{len(starts)} random {length}-frame clips, read_frames({backend!r})",
                    lambda b=backend: [read_frames(path, range(s, s + length), backend=b) for s in starts],
                    len(starts), "clips/s")
                group[f"decode.clips.bare.{backend}"] = (
                    f"{len(starts)} random {length}-frame clips, bare {backend} + seek",
                    lambda b=backend: BARE_CLIPS[b](path, starts, length), len(starts), "clips/s")
        group = {row_id: spec for row_id, spec in group.items() if ctx.wants(row_id)}
        if group:
            rows += measure_round_robin(group, repeats=ctx.repeats, warmup=min(1, ctx.profile.warmup))
    found = by_id(rows)
    for access in ACCESS:
        for backend in READER_BACKENDS:
            relate(found.get(f"decode.{access}.reader.{backend}"), found.get(f"decode.{access}.bare.{backend}"),
                   f"bare {backend}")
    return rows


def measure_round_robin(group: dict[str, tuple[str, Callable[[], object], float, str]], *, repeats: int,
                        warmup: int) -> list[Row]:
    """One Row per entry (label, fn, work, unit): every round times each fn once, in one forked child."""
    def job() -> dict[str, tuple[list[float], list[float], float | None]]:
        seconds: dict[str, list[float]] = {row_id: [] for row_id in group}
        cpu: dict[str, list[float]] = {row_id: [] for row_id in group}
        extra_rss: dict[str, float | None] = dict.fromkeys(group)
        for _ in range(warmup):
            for _, fn, _, _ in group.values():
                fn()
        for _ in range(max(1, repeats)):
            for row_id, (_, fn, _, _) in group.items():
                base = _reset_peak_rss()
                start, cpu_start = time.perf_counter(), _cpu_seconds()
                fn()
                seconds[row_id].append(time.perf_counter() - start)
                cpu[row_id].append(_cpu_seconds() - cpu_start)
                peak = _status_mb("VmHWM") if base is not None else None
                if peak is not None:
                    extra_rss[row_id] = max(extra_rss[row_id] or 0.0, peak - base)
        return {row_id: (seconds[row_id], cpu[row_id], extra_rss[row_id]) for row_id in group}

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    try:
        timings, _ = run_isolated(job, timeout=900)
    except Exception as exc:  # noqa: BLE001 - one broken group must not lose the other stages
        reason = f"failed: {str(exc).splitlines()[0][:300]}"
        return [Row(row_id, label, unit, status="error", note=reason, extra={"traceback": str(exc)})
                for row_id, (label, _, _, unit) in group.items()]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    rows = []
    for row_id, (label, _, work, unit) in group.items():
        seconds, cpu, rss = timings[row_id]
        median, best = statistics.median(seconds), min(seconds)
        spread = median / best
        note = f"disturbed: repeats spread {spread - 1:.0%}" if spread > DISTURBED_SPREAD else ""
        rows.append(Row(row_id, label, unit, median=work / median, best=work / best, seconds=seconds, work=work,
                        extra_rss_mb=rss, note=note,
                        extra={"load_1min": load, "cores": cores, "spread": spread, "round_robin": True,
                               "cpu_s": cpu, "cpu_s_median": statistics.median(cpu)}))
    return rows


def notes(rows: dict[str, Row]) -> list[str]:
    """The two goals: the default reader vs the fastest bare loop, and each reader vs its own bare loop."""
    lines = []
    for access, what in ACCESS.items():
        bare = {b: rows[f"decode.{access}.bare.{b}"] for b in READER_BACKENDS
                if rows.get(f"decode.{access}.bare.{b}") and rows[f"decode.{access}.bare.{b}"].ok}
        reader = {b: rows[f"decode.{access}.reader.{b}"] for b in READER_BACKENDS
                  if rows.get(f"decode.{access}.reader.{b}") and rows[f"decode.{access}.reader.{b}"].ok}
        if not bare or DEFAULT_READER not in reader:
            continue
        fastest = max(bare, key=lambda b: bare[b].best)
        default = reader[DEFAULT_READER]
        ratio = default.best / bare[fastest].best
        paired = _paired_ratio(default, bare[fastest])
        cpu_ratio = _cpu_ratio(default, bare[fastest])
        lines.append(f"decode, {what}: the default reader (auto = {DEFAULT_READER}) runs at {ratio:.2f}x the "
                     f"fastest bare loop (bare {fastest}; median of per-round ratios {paired:.2f}x; CPU time "
                     f"{cpu_ratio:.2f}x); goal >= {GOAL}x {'met' if min(ratio, paired) >= GOAL else 'NOT met'} "
                     f"in wall-clock time.")
        own = [f"{b} {r.ratio:.2f}x (CPU {_cpu_ratio(r, bare[b]):.2f}x)" for b, r in reader.items()
               if r.ratio is not None and b in bare]
        missed = [b for b, r in reader.items() if r.ratio is not None and r.ratio < GOAL]
        lines.append(f"decode, {what}: each reader vs its own bare loop: {', '.join(own)}"
                     f"{'; below ' + str(GOAL) + 'x: ' + ', '.join(missed) if missed else ''}.")
    disturbed = [r.id for r in rows.values() if r.id.startswith("decode.") and r.note.startswith("disturbed")]
    if disturbed:
        lines.append(f"decode: {len(disturbed)} row(s) disturbed by other work (repeats spread > "
                     f"{DISTURBED_SPREAD - 1:.0%}): {', '.join(disturbed)}; their medians are less reliable.")
    return lines


def _paired_ratio(row: Row, ref: Row) -> float:
    """Median over rounds of ref time / row time: rows timed side by side share each round's load."""
    return statistics.median(r / s for s, r in zip(row.seconds, ref.seconds)) * (row.work / ref.work)


def _cpu_ratio(row: Row, ref: Row) -> float:
    """ref CPU time / row CPU time per unit of work (>1 = row needs less CPU)."""
    return (ref.extra["cpu_s_median"] / ref.work) / (row.extra["cpu_s_median"] / row.work)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process: decoders run their own
    return usage.ru_utime + usage.ru_stime


def clip_starts(frames: int, clips: int, length: int, seed: int = 0) -> list[int]:
    return [int(s) for s in np.random.default_rng(seed).integers(0, max(1, frames - length + 1), size=clips)]


# --------------------------------------------------------------------------- bare library calls

BARE_NAMES = {"decord": "decord.VideoReader.get_batch", "pyav": "av.open + decode + to_ndarray",
              "opencv": "cv2.VideoCapture.read"}


def _decord_all(path: Path) -> np.ndarray:
    reader = decord.VideoReader(str(path), ctx=decord.cpu(0))
    return reader.get_batch(list(range(len(reader)))).asnumpy()


def _pyav_all(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _opencv_all(path: Path) -> np.ndarray:
    capture, frames = cv2.VideoCapture(str(path)), []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return np.stack(frames)


def _decord_clips(path: Path, starts: list[int], length: int) -> list[np.ndarray]:
    reader = decord.VideoReader(str(path), ctx=decord.cpu(0))
    return [reader.get_batch(list(range(s, s + length))).asnumpy() for s in starts]


def _pyav_clips(path: Path, starts: list[int], length: int) -> list[np.ndarray]:
    """Seek to the keyframe before each clip, then decode forwards (converting only the clip's frames)."""
    clips = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate, base = Fraction(stream.average_rate), stream.time_base
        first = stream.start_time or 0
        for start in starts:
            container.seek(first + int(Fraction(start) / rate / base), stream=stream, backward=True)
            frames = []
            for frame in container.decode(stream):
                index = round((frame.pts - first) * base * rate)
                if index >= start:
                    frames.append(frame.to_ndarray(format="rgb24"))
                if len(frames) == length:
                    break
            clips.append(np.stack(frames))
    return clips


def _opencv_clips(path: Path, starts: list[int], length: int) -> list[np.ndarray]:
    capture, clips = cv2.VideoCapture(str(path)), []
    for start in starts:
        capture.set(cv2.CAP_PROP_POS_FRAMES, start)
        clips.append(np.stack([cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2RGB) for _ in range(length)]))
    capture.release()
    return clips


BARE_SEQUENTIAL = {"decord": _decord_all, "pyav": _pyav_all, "opencv": _opencv_all}
BARE_CLIPS = {"decord": _decord_clips, "pyav": _pyav_clips, "opencv": _opencv_clips}
