"""Make the compressed versions of a dataset (TT-DF ships raw, c23 and c40) from its indexed videos.

Encoding runs in-process with PyAV's libx264, so no system ffmpeg is needed. Every output is written
atomically, so an existing output is complete: a rerun skips it and an interrupted run resumes.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from ttdf.errors import TTDFError
from ttdf.fsutil import remove_temp_files, sha256_file
from ttdf.index import IndexReport, VideoIndex, index_dataset
from ttdf.lock import claim
from ttdf.manifest import merge_into_manifest, read_manifest
from ttdf.parallel import WorkerCrash, run_parallel
from ttdf.records import VideoFilter, VideoRecord, relative_path
from ttdf.taxonomy import Taxonomy, load_taxonomy
from ttdf.video import DEFAULT_PRESET, encode_video, iter_frames, probe_video

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
                     progress: bool = True) -> CompressReport:
    """Re-encode the indexed ``source_compression`` videos at each CRF; register and index the outputs.

    The output of CRF ``n`` is named by ``taxonomy.compression_for_crf(n)`` (``c23``, ``c40``, else
    ``crfN``) and lives where :func:`ttdf.records.relative_path` puts that compression. A source that
    cannot be decoded is reported in ``failed``; the others are still written.
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
    jobs = [_Job(source, _output_record(taxonomy, source, crf), crf)
            for source in sorted(sources, key=lambda r: r.path) for crf in dict.fromkeys(crfs)]

    report = CompressReport()
    pending = []
    for job in jobs:
        if (root / job.output.path).exists():
            report.skipped.append(job.output.path)
        else:
            pending.append(job)
    done: list[VideoRecord] = []
    try:
        items = [(str(root), job, preset) for job in pending]
        with contextlib.closing(run_parallel(_encode_job, items, workers=workers, progress=progress,
                                             desc="compress")) as results:
            for (_, job, _), outcome in results:
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
        done += _unregistered_outputs(root, taxonomy, [j for j in jobs if j.output.path in skipped], report)
        merge_into_manifest(root, done, taxonomy=taxonomy)
    report.written.sort()
    report.skipped.sort()
    report.failed.sort()
    report.busy.sort()
    outputs = report.written + report.skipped
    if outputs:
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


def _encode_job(item: tuple[str, _Job, str]) -> tuple[str, dict | str | None]:
    """Encode one output (in a worker): ``("written", metadata)``, ``("failed", reason)``, ``("busy", None)``
    (another run is writing it) or ``("skipped", None)`` (another run finished it); never raises for a bad video.
    """
    root, job, preset = item
    output = Path(root) / job.output.path
    with claim(root, job.output.path) as mine:
        if not mine:
            return "busy", None
        if output.exists():
            return "skipped", None
        remove_temp_files(output)  # a killed run's half-written output: ours to clean now that we own it
        try:
            _check_source(Path(root) / job.source.path, job.source.sha256)
            return "written", _compress_one(Path(root) / job.source.path, output, job.crf, preset)
        except TTDFError as exc:
            return "failed", getattr(exc, "reason", None) or str(exc)
        except (av.FFmpegError, OSError, ValueError, RuntimeError) as exc:
            return "failed", f"cannot re-encode at CRF {job.crf} ({type(exc).__name__}: {str(exc)[:200]})"


def _check_source(source: Path, expected: str | None) -> None:
    """Refuse a source whose bytes changed since ``ttdf index`` hashed them: never spread a damaged file."""
    if expected and sha256_file(source) != expected.lower():
        raise TTDFError(f"{source}: its sha256 no longer matches the index (the file changed since `ttdf index`); "
                        "run `ttdf verify`, restore or re-download it, then `ttdf index`")


def _compress_one(source: Path, output: Path, crf: int, preset: str) -> dict:
    info = probe_video(source)
    if not info.fps:
        raise TTDFError(f"{source}: unknown frame rate; re-import it from a copy with timing information")
    encode_video(output, _even_size(iter_frames(source)), fps=info.fps, crf=crf, preset=preset)
    return _metadata(output)


def _even_size(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Drop a last odd row/column: libx264's yuv420p needs even sizes (as ffmpeg's usual ``trunc(iw/2)*2``)."""
    for frame in frames:
        height, width = frame.shape[:2]
        yield frame[: height - height % 2, : width - width % 2]


def _metadata(path: Path) -> dict:
    info = probe_video(path)
    return dict(frames=info.frames, fps=info.fps, width=info.width, height=info.height, sha256=sha256_file(path))


def _unregistered_outputs(root: Path, taxonomy: Taxonomy, jobs: list[_Job], report: CompressReport
                          ) -> list[VideoRecord]:
    """Outputs an interrupted run wrote but never added to the manifest, with metadata read back."""
    manifest = root / taxonomy.layout.manifest
    registered = {r.path for r in read_manifest(manifest, taxonomy)} if manifest.exists() else set()
    records = []
    for job in jobs:
        if job.output.path in registered:
            continue
        try:
            records.append(job.output.with_(**_metadata(root / job.output.path)))
        except TTDFError as exc:
            report.failed.append((job.output.path, getattr(exc, "reason", None) or str(exc)))
    return records


__all__ = ["CRF_RANGE", "CompressReport", "PRESETS", "compress_dataset"]
