"""Decode: frames/s of decord, PyAV and OpenCV on one file, through ``tofnet.reader`` and bare.

Two access patterns: a sequential read of every frame (flow, compression) and random short clips
(training). Bare calls use each library the way its documentation shows (default threads, one open
per file, seeking for clips), so "reader / bare" is what our wrapper costs or saves.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import decord
import numpy as np

from bench.common import Row, by_id, relate
from bench.data import Context
from ttdf.video import READER_BACKENDS, read_frames

ROWS = tuple(f"decode.{access}.{how}.{backend}" for access in ("seq", "clips") for how in ("reader", "bare")
             for backend in READER_BACKENDS)
DEFAULT_BACKEND = "decord"  # what read_frames(backend="auto") tries first


def run(ctx: Context) -> list[Row]:
    path, frames = ctx.data.long_video, ctx.data.long_frames
    starts = clip_starts(frames, ctx.profile.clips, ctx.profile.clip_len)
    length = ctx.profile.clip_len
    rows: list[Row | None] = []
    for backend in READER_BACKENDS:
        rows.append(ctx.measure(f"decode.seq.reader.{backend}", f"all frames, read_frames(backend={backend!r})",
                                lambda _, b=backend: read_frames(path, backend=b), work=frames, unit="frames/s",
                                warmup=1))
        rows.append(ctx.measure(f"decode.seq.bare.{backend}", f"all frames, bare {BARE_NAMES[backend]}",
                                lambda _, b=backend: BARE_SEQUENTIAL[b](path), work=frames, unit="frames/s",
                                warmup=1))
    for backend in READER_BACKENDS:
        rows.append(ctx.measure(
            f"decode.clips.reader.{backend}", f"{len(starts)} random {length}-frame clips, read_frames({backend!r})",
            lambda _, b=backend: [read_frames(path, range(s, s + length), backend=b) for s in starts],
            work=len(starts), unit="clips/s"))
        rows.append(ctx.measure(
            f"decode.clips.bare.{backend}", f"{len(starts)} random {length}-frame clips, bare {backend} + seek",
            lambda _, b=backend: BARE_CLIPS[b](path, starts, length), work=len(starts), unit="clips/s"))
    result = [r for r in rows if r is not None]
    found = by_id(result)
    for access in ("seq", "clips"):
        for backend in READER_BACKENDS:
            relate(found.get(f"decode.{access}.reader.{backend}"), found.get(f"decode.{access}.bare.{backend}"),
                   f"bare {backend}")
            if backend != "decord":
                relate(found.get(f"decode.{access}.bare.{backend}"), found.get(f"decode.{access}.bare.decord"),
                       "bare decord")
    return result


def notes(rows: dict[str, Row]) -> list[str]:
    """Which backend is fastest through our reader, and whether the default ("auto" = decord) is it."""
    lines = []
    for access, what in (("seq", "sequential read"), ("clips", "random clips")):
        reader = {b: rows[f"decode.{access}.reader.{b}"] for b in READER_BACKENDS
                  if rows.get(f"decode.{access}.reader.{b}") and rows[f"decode.{access}.reader.{b}"].ok}
        if not reader:
            continue
        fastest = max(reader, key=lambda b: reader[b].median)
        default = reader.get(DEFAULT_BACKEND)
        verdict = ("the default (auto = decord) is the fastest" if fastest == DEFAULT_BACKEND else
                   f"the default (auto = decord) runs at {default.median / reader[fastest].median:.2f}x of it"
                   if default else "decord was not measured")
        lines.append(f"decode, {what}: fastest through read_frames is {fastest} "
                     f"({reader[fastest].median:.0f} {reader[fastest].unit}); {verdict}.")
    return lines


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
