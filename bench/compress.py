"""Compression: ``ttdf compress`` output frames/s against bare PyAV loops and the ffmpeg command line.

All make the same outputs (libx264, the same preset and CRFs) from the long clip, whose pixel count
the full-dataset estimate scales from. Output frames/s counts every CRF's frames (two outputs per
source frame for c23 + c40). Each ``ttdf`` repeat starts from a fresh copy of the indexed root.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.frame import PictureType

from bench.common import Row, by_id, relate, skipped, value_row
from bench.data import Context
from ttdf.compress import compress_dataset
from ttdf.index import VideoIndex
from ttdf.taxonomy import load_taxonomy
from ttdf.video import DEFAULT_PRESET

GOAL = 0.9  # one compress worker against the ffmpeg command line, both with the codecs' default threads
ROWS = ("compress.ttdf.w1", "compress.ttdf.w2", "compress.bare_pyav_rgb", "compress.bare_pyav_yuv",
        "compress.ffmpeg_cli", "compress.size.raw", "compress.size.c23", "compress.size.c40")


def run(ctx: Context) -> list[Row]:
    data, crfs = ctx.data, ctx.profile.crfs
    frames = data.long_frames * len(crfs)
    source = data.long_video
    what = f"{data.long_frames} frames x CRF {'/'.join(map(str, crfs))}, preset {DEFAULT_PRESET}"
    rows: list[Row | None] = []
    for workers in (1, 2):
        rows.append(ctx.measure(f"compress.ttdf.w{workers}", f"compress_dataset workers={workers}, {what}",
                                lambda root, n=workers: _compress(root, crfs, n),
                                prepare=lambda: data.workdir / "scratch" / "compress",
                                before_each=lambda root: _reset(root, data.long_root),
                                work=frames, unit="frames/s"))
    for mode in ("rgb", "yuv"):
        label = "decode -> RGB array -> encode" if mode == "rgb" else "decoded frames straight to the encoder"
        rows.append(ctx.measure(f"compress.bare_pyav_{mode}", f"bare PyAV loop ({label}), {what}",
                                lambda out, m=mode: [bare_pyav(source, out / f"{crf}.mp4", crf, m) for crf in crfs],
                                prepare=lambda: Path(tempfile.mkdtemp(dir=data.workdir)),
                                work=frames, unit="frames/s"))
    if ctx.wants("compress.ffmpeg_cli"):
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            rows.append(skipped("compress.ffmpeg_cli", "ffmpeg command line, same preset and CRFs", "frames/s",
                                "ffmpeg not installed"))
        else:
            rows.append(ctx.measure("compress.ffmpeg_cli", f"ffmpeg -c:v libx264 command line (default threads, "
                                    f"as one compress worker), {what}",
                                    lambda out: [ffmpeg_cli(ffmpeg, source, out / f"{crf}.mp4", crf) for crf in crfs],
                                    prepare=lambda: Path(tempfile.mkdtemp(dir=data.workdir)),
                                    work=frames, unit="frames/s"))
    result = [r for r in rows if r is not None]
    found = by_id(result)
    cli = found.get("compress.ffmpeg_cli")
    reference, name = ((cli, "ffmpeg CLI") if cli is not None and cli.ok else
                       (found.get("compress.bare_pyav_yuv"), "bare PyAV (yuv)"))
    for row_id in ("compress.ttdf.w1", "compress.ttdf.w2", "compress.bare_pyav_rgb", "compress.bare_pyav_yuv"):
        if found.get(row_id) is not reference:
            relate(found.get(row_id), reference, name)
    result += [r for r in _size_rows(found.get("compress.ttdf.w1"), data.long_frames, crfs) if ctx.wants(r.id)]
    return result


def notes(rows: dict[str, Row]) -> list[str]:
    ours = rows.get("compress.ttdf.w1")
    if ours is None or ours.ratio is None:
        return []
    goal = (f" ({'meets' if ours.ratio >= GOAL else 'misses'} the >= {GOAL}x goal)"
            if ours.ratio_to == "ffmpeg CLI" else "")
    return [f"compress: compress_dataset (workers=1) runs at {ours.ratio:.2f}x {ours.ratio_to}{goal}."]


def bare_pyav(source: Path, output: Path, crf: int, mode: str) -> int:
    """Re-encode with PyAV alone; ``mode="rgb"`` round-trips every frame through an RGB array (as we do)."""
    count = 0
    with av.open(str(source)) as inp, av.open(str(output), "w") as out:
        stream_in = inp.streams.video[0]
        stream = out.add_stream("libx264", rate=Fraction(stream_in.average_rate).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = stream_in.width, stream_in.height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": DEFAULT_PRESET}
        for frame in inp.decode(stream_in):
            if mode == "rgb":
                frame = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
            else:  # as the ffmpeg CLI does: renumber, and drop the source's frame types (they would force its GOP)
                frame.pts, frame.time_base, frame.pict_type = count, 1 / stream.average_rate, PictureType.NONE
            out.mux(stream.encode(frame))
            count += 1
        out.mux(stream.encode())
    return count


def ffmpeg_cli(ffmpeg: str, source: Path, output: Path, crf: int) -> None:
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(source), "-an", "-c:v", "libx264",
                    "-preset", DEFAULT_PRESET, "-crf", str(crf), "-pix_fmt", "yuv420p", str(output)], check=True)


def _compress(root: Path, crfs: tuple[int, ...], workers: int) -> dict:
    report = compress_dataset(root, crfs, workers=workers, progress=False)
    if report.failed or report.skipped:
        raise RuntimeError(f"compress did not write everything: failed={report.failed} skipped={report.skipped}")
    with VideoIndex.open(root) as index:
        return {v.record.compression: v.size for v in index.query()}


def _reset(root: Path, pristine: Path) -> None:
    """Back to the indexed raw root: outputs, manifest rows and index rows of earlier repeats gone."""
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(pristine, root)


def _size_rows(ours: Row | None, frames: int, crfs: tuple[int, ...]) -> list[Row]:
    """Bytes per frame of raw, c23 and c40 (from the last ttdf repeat), each relative to raw."""
    if ours is None or not ours.ok or "raw" not in ours.extra:
        return []
    raw = ours.extra["raw"] / frames
    rows = []
    for compression in ("raw", *(load_taxonomy().compression_for_crf(c) for c in crfs)):
        if compression in ours.extra:
            per_frame = ours.extra[compression] / frames
            row = value_row(f"compress.size.{compression}", f"{compression} file size per frame", "bytes/frame",
                            float(np.round(per_frame)))
            row.ratio, row.ratio_to = per_frame / raw, "raw"
            rows.append(row)
    return rows
