"""Make the compressed versions of a dataset (TT-DF ships raw, c23 and c40) from its indexed videos.

Encoding runs in-process with PyAV's libx264, so no system ffmpeg is needed. Every output is written
atomically, so an existing output is complete: a rerun skips it and an interrupted run resumes.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.frame import PictureType

from ttdf.errors import TTDFError, VideoError
from ttdf.fsutil import atomic_path, remove_temp_files, sha256_file
from ttdf.index import IndexReport, VideoIndex, index_dataset
from ttdf.lock import claim
from ttdf.manifest import merge_into_manifest, read_manifest
from ttdf.parallel import WorkerCrash, planned_workers, run_parallel
from ttdf.records import VideoFilter, VideoRecord, relative_path
from ttdf.shard import NO_SHARD, Shard, fragment_paths, is_sharded, select_shard, write_manifest_fragment
from ttdf.taxonomy import Taxonomy, load_taxonomy
from ttdf.video import DEFAULT_PRESET, display_turns, open_video, probe_video

CRF_RANGE = range(0, 52)
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
           "placebo")
OUTPUT_EXTENSION = ".mp4"


@dataclass
class CompressReport:
    """Outputs written and skipped (paths relative to the root) and sources that failed, with why."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)  # being written by another run, which registers them
    index: IndexReport | None = None


@dataclass(frozen=True)
class _Job:
    source: VideoRecord
    output: VideoRecord
    crf: int


def compress_dataset(root: str | Path, crfs: Sequence[int], *, filt: VideoFilter | None = None,
                     source_compression: str = "raw", preset: str = DEFAULT_PRESET, workers: int = 2,
                     shard: Shard = NO_SHARD, progress: bool = True) -> CompressReport:
    """Re-encode the indexed ``source_compression`` videos at each CRF; register and index the outputs.

    The output of CRF ``n`` is named by ``taxonomy.compression_for_crf(n)`` (``c23``, ``c40``, else
    ``crfN``) and lives where :func:`ttdf.records.relative_path` puts that compression. A source that
    cannot be decoded is reported in ``failed``; the others are still written.

    ``shard=(i, n)`` encodes only that shard's outputs (:func:`ttdf.shard.select_shard` by output path) and,
    so that shards can run at once on a shared root, writes neither the manifest nor the index: the rows
    go to a fragment under ``<root>/.ttdf/shards/`` that the next unsharded ``ttdf index`` merges.
    """
    taxonomy = load_taxonomy(root=root)
    root = Path(root)
    filt = (filt or VideoFilter()).validate(taxonomy)
    _check_arguments(taxonomy, crfs, filt, source_compression, preset)
    manifest = root / taxonomy.layout.manifest
    if manifest.exists():
        read_manifest(manifest, taxonomy)  # refuse a broken manifest before hours of encoding

    with VideoIndex.open(root) as index:
        sources = [v.record for v in index.query(filt, status="ok") if v.record.compression == source_compression]
    jobs = select_shard([_Job(source, _output_record(taxonomy, source, crf), crf)
                         for source in sources for crf in dict.fromkeys(crfs)], shard, key=lambda j: j.output.path)

    report = CompressReport()
    pending = []
    for job in jobs:
        if (root / job.output.path).exists():
            report.skipped.append(job.output.path)
        else:
            pending.append(job)
    done: list[VideoRecord] = []
    try:
        # NOTE: x264 already keeps every core busy on one video; processes pay off for many short videos
        threads = threads_per_worker(planned_workers(len(pending), workers))
        items = [(str(root), job, preset, threads) for job in pending]
        with contextlib.closing(run_parallel(_encode_job, items, workers=workers, progress=progress,
                                             desc="compress")) as results:
            for (_, job, _, _), outcome in results:
                status, detail = ("failed", outcome.reason) if isinstance(outcome, WorkerCrash) else outcome
                if status == "failed":
                    report.failed.append((job.source.path, detail))
                elif status == "busy":
                    report.busy.append(job.output.path)
                elif status == "skipped":
                    report.skipped.append(job.output.path)
                else:
                    report.written.append(job.output.path)
                    done.append(job.output.with_(**detail))
    finally:  # also on Ctrl-C: register what is finished so a rerun only does the rest
        skipped = set(report.skipped)
        registered = _registered(root, taxonomy) | (fragment_paths(root, taxonomy) if is_sharded(shard) else set())
        done += _unregistered_outputs(root, [j for j in jobs if j.output.path in skipped], registered, report)
        if is_sharded(shard):
            if done:
                write_manifest_fragment(root, "compress", shard, done, taxonomy)
        else:
            merge_into_manifest(root, done, taxonomy=taxonomy)
    report.written.sort()
    report.skipped.sort()
    report.failed.sort()
    report.busy.sort()
    outputs = report.written + report.skipped
    if outputs and not is_sharded(shard):
        report.index = index_dataset(root, paths=outputs, workers=workers, progress=progress)
    return report


def _check_arguments(taxonomy: Taxonomy, crfs: Sequence[int], filt: VideoFilter, source_compression: str,
                     preset: str) -> None:
    if not crfs:
        raise TTDFError("no CRF given; pass e.g. --crf 23 40")
    for crf in crfs:
        if crf not in CRF_RANGE:
            raise TTDFError(f"CRF {crf} is outside libx264's range 0..51; pass e.g. --crf 23 40")
        if taxonomy.compression_for_crf(crf) == source_compression:
            raise TTDFError(f"CRF {crf} is the source compression {source_compression!r} itself; "
                            "choose another --crf or --from")
    if not taxonomy.is_compression(source_compression):
        raise TTDFError(f"unknown source compression {source_compression!r}; "
                        f"choose from {list(taxonomy.compressions)} or crfN")
    if filt.compressions and source_compression not in filt.compressions:
        raise TTDFError(f"--compression {' '.join(filt.compressions)} selects no source: compress reads the "
                        f"{source_compression!r} videos; use --from to pick another source level")
    if preset not in PRESETS:
        raise TTDFError(f"unknown x264 preset {preset!r}; choose from {list(PRESETS)}")


def _output_record(taxonomy: Taxonomy, source: VideoRecord, crf: int) -> VideoRecord:
    compression = taxonomy.compression_for_crf(crf)
    path = relative_path(taxonomy, label=source.label, split=source.split, compression=compression,
                         identity_id=source.identity_id, pose_id=source.pose_id, method=source.method,
                         config=source.config, ext=OUTPUT_EXTENSION)
    return source.with_(path=path, compression=compression, frames=None, fps=None, width=None, height=None,
                        sha256=None)


def _encode_job(item: tuple[str, _Job, str, int]) -> tuple[str, dict | str | None]:
    """Encode one output (in a worker): ``("written", metadata)``, ``("failed", reason)``, ``("busy", None)``
    (another run is writing it) or ``("skipped", None)`` (another run finished it); never raises for a bad video.
    """
    root, job, preset, threads = item
    output = Path(root) / job.output.path
    with claim(root, job.output.path) as mine:
        if not mine:
            return "busy", None
        if output.exists():
            return "skipped", None
        remove_temp_files(output)  # a killed run's half-written output: ours to clean now that we own it
        try:
            _check_source(Path(root) / job.source.path, job.source.sha256)
            transcode(Path(root) / job.source.path, output, crf=job.crf, preset=preset, threads=threads)
            return "written", _metadata(output)
        except TTDFError as exc:
            return "failed", getattr(exc, "reason", None) or str(exc)
        except (av.FFmpegError, OSError, ValueError, RuntimeError) as exc:
            return "failed", f"cannot re-encode at CRF {job.crf} ({type(exc).__name__}: {str(exc)[:200]})"


def _check_source(source: Path, expected: str | None) -> None:
    """Refuse a source whose bytes changed since ``ttdf index`` hashed them: never spread a damaged file."""
    if expected and sha256_file(source) != expected.lower():
        raise TTDFError(f"{source}: its sha256 no longer matches the index (the file changed since `ttdf index`); "
                        "run `ttdf verify`, restore or re-download it, then `ttdf index`")


def transcode(source: str | Path, output: str | Path, *, crf: int, preset: str = DEFAULT_PRESET,
              threads: int = 0) -> int:
    """Re-encode ``source`` with libx264 at ``crf``, atomically; returns the frames written.

    Decoded frames go straight to the encoder (converted only when they are not yuv420p, cropped only
    when a side is odd), as the ffmpeg command line does: a round trip through RGB arrays cost a third
    of the time. ``threads`` is for the decoder and for x264 alike; 0 lets both pick (ffmpeg's default).
    """
    source, output = Path(source), Path(output)
    with open_video(source) as (container, stream):
        rate = stream.average_rate or stream.guessed_rate
        if not rate:
            raise TTDFError(f"{source}: unknown frame rate; re-import it from a copy with timing information")
        stream.thread_type, stream.codec_context.thread_count = "AUTO", threads
        width, height = stream.codec_context.width, stream.codec_context.height
        size = (width - width % 2, height - height % 2)  # yuv420p needs even sides (ffmpeg's trunc(iw/2)*2)
        count = 0
        with atomic_path(output) as tmp:
            with av.open(str(tmp), mode="w") as out:
                encoder = out.add_stream("libx264", rate=Fraction(rate).limit_denominator(1001))
                encoder.width, encoder.height, encoder.pix_fmt = *size, "yuv420p"
                if turns := display_turns(source):  # keep a phone video's display rotation, as ffmpeg does
                    encoder.set_display_rotation(90 * turns)
                encoder.options = {"crf": str(crf), "preset": preset, "threads": str(threads)}
                time_base = Fraction(1) / encoder.average_rate
                for frame in _decoded_frames(source, container, stream):
                    out.mux(encoder.encode(_encoder_frame(frame, size, count, time_base)))
                    count += 1
                out.mux(encoder.encode())
            if count == 0:
                raise VideoError(source, "has no frames (truncated or empty stream)")
    return count


def _decoded_frames(source: Path, container: av.container.InputContainer, stream) -> Iterator[av.VideoFrame]:
    try:
        yield from container.decode(stream)
    except (av.FFmpegError, OSError) as exc:
        raise VideoError(source, f"stream is corrupt or truncated ({str(exc).splitlines()[0][:200]})") from exc


def _encoder_frame(frame: av.VideoFrame, size: tuple[int, int], index: int, time_base: Fraction) -> av.VideoFrame:
    if (frame.width, frame.height) != size:  # drop the last odd row/column
        rgb = frame.to_ndarray(format="rgb24")[: size[1], : size[0]]
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    # renumbered, and without the source's frame types (they would force its GOP on x264), as ffmpeg does
    frame.pts, frame.time_base, frame.pict_type = index, time_base, PictureType.NONE
    return frame


def threads_per_worker(workers: int) -> int:
    """Codec threads for each of ``workers`` processes: 0 (the codecs pick) for one, else a share of the CPUs."""
    return 0 if workers <= 1 else max(1, (os.cpu_count() or 1) // workers)


def _metadata(path: Path) -> dict:
    info = probe_video(path)
    return dict(frames=info.frames, fps=info.fps, width=info.width, height=info.height, sha256=sha256_file(path))


def _registered(root: Path, taxonomy: Taxonomy) -> set[str]:
    manifest = root / taxonomy.layout.manifest
    return {r.path for r in read_manifest(manifest, taxonomy)} if manifest.exists() else set()


def _unregistered_outputs(root: Path, jobs: list[_Job], registered: set[str], report: CompressReport
                          ) -> list[VideoRecord]:
    """Outputs an interrupted run wrote but never registered, with metadata read back."""
    records = []
    for job in jobs:
        if job.output.path in registered:
            continue
        try:
            records.append(job.output.with_(**_metadata(root / job.output.path)))
        except TTDFError as exc:
            report.failed.append((job.output.path, getattr(exc, "reason", None) or str(exc)))
    return records


__all__ = ["CRF_RANGE", "CompressReport", "PRESETS", "compress_dataset", "threads_per_worker", "transcode"]
