"""What every video generator shares (``ttdf synth`` draws dancers, ``ttdf forge`` fakes real footage).

One home for: named registries of forgery functions (synth artefacts, forge families), seeded
random streams that do not depend on job order, the stamp that refuses to resume a root made with
other content options, and writing one generated video atomically into a manifest-ready record.
"""
from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import numpy as np

from ttdf.errors import TTDFError
from ttdf.fsutil import atomic_write_text, sha256_file
from ttdf.records import VideoRecord
from ttdf.video import encode_video, probe_video

# crf 0 is lossless: every preset decodes to the same pixels, only speed and size differ (ultrafast: a third of
# veryfast's time on make detector's clips, its data a sixth larger). Above crf 0 the preset changes the pixels.
LOSSLESS_PRESET = "ultrafast"
LOSSY_PRESET = "veryfast"
_F = TypeVar("_F", bound=Callable)


class Registry(dict):
    """Method name -> function; ``@registry.register(name)`` adds one and refuses a name twice."""

    def __init__(self, what: str, home: str):
        super().__init__()
        self.what, self.home = what, home

    def register(self, name: str) -> Callable[[_F], _F]:
        def decorator(fn: _F) -> _F:
            if name in self:
                raise TTDFError(f"{self.what} {name!r} is registered twice ({self[name].__name__} and {fn.__name__})")
            self[name] = fn
            return fn
        return decorator

    def lookup(self, name: str, command: str) -> Callable:
        try:
            return self[name]
        except KeyError:
            raise TTDFError(f"{command}: method {name!r} has no registered {self.what}; add one in {self.home}, or "
                            f"leave it out of --methods (registered: {sorted(self)})") from None


def seed_sequence(seed: int, *parts: str | int) -> np.random.SeedSequence:
    """Independent, order-free streams: names are hashed, so adding a method changes no other video."""
    return np.random.SeedSequence([seed % 2**64] + [zlib.crc32(p.encode()) if isinstance(p, str) else p
                                                        for p in parts])


def make_rng(seed: int, *parts: str | int) -> np.random.Generator:
    return np.random.default_rng(seed_sequence(seed, *parts))


def cross_partner(index: int, splits: tuple[str, ...]) -> int | None:
    """The next source of the same split (cyclic), or None when the split has only this one."""
    members = [i for i, split in enumerate(splits) if split == splits[index]]
    partner = members[(members.index(index) + 1) % len(members)]
    return None if partner == index else partner


def self_config(taxonomy) -> tuple[str, str]:
    """(self-reenactment, cross-reenactment) configuration names, whatever the taxonomy calls them."""
    configs = taxonomy.configs
    own = next((c for c in ("match", "same") if c in configs), configs[0])
    return own, next((c for c in configs if c != own), own)


def check_stamp(root: Path, stamp_file: str, key: dict, command: str) -> None:
    """Refuse to resume into a root generated with other content options (videos would mix); else stamp it."""
    stamp = Path(root) / stamp_file
    if stamp.exists():
        try:
            previous = json.loads(stamp.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise TTDFError(f"{stamp}: unreadable {command} stamp ({exc}); delete it if the videos under {root} "
                            "came from the same options") from exc
        if previous != key:
            changed = sorted(k for k in set(key) | set(previous) if key.get(k) != previous.get(k))
            was = ", ".join(f"{k} was {previous.get(k)!r}, now {key.get(k)!r}" for k in changed)
            raise TTDFError(f"{stamp}: {root} was made by `ttdf {command}` with other options ({was}); rerun with "
                            "the old options, use another --root, or delete the root")
    else:
        atomic_write_text(stamp, json.dumps(key, indent=2, sort_keys=True) + "\n")


def write_video(root: Path, record: VideoRecord, frames: Iterable[np.ndarray] | Callable[[], Iterable[np.ndarray]],
                *, fps: float, crf: int = 0) -> VideoRecord:
    """Encode ``frames`` to ``record.path`` unless it exists; return the record with frames, size and sha256.

    Writes are atomic, so an existing file is complete: an interrupted run resumes. ``frames`` may be a
    callable so that nothing is computed for a video already on disk. ``threads=1`` keeps bytes
    independent of the machine's core count.
    """
    target = Path(root) / record.path
    if not target.exists():
        encode_video(target, frames() if callable(frames) else frames, fps=fps, crf=crf, threads=1,
                     preset=LOSSLESS_PRESET if crf == 0 else LOSSY_PRESET)
    return record.with_(**{**video_metadata(target), "fps": fps})


def video_metadata(path: Path) -> dict:
    """The manifest fields of a video on disk: frames, fps, size and sha256."""
    info = probe_video(path)
    return dict(frames=info.frames, fps=info.fps, width=info.width, height=info.height, sha256=sha256_file(path))


__all__ = ["LOSSLESS_PRESET", "LOSSY_PRESET", "Registry", "check_stamp", "cross_partner", "make_rng", "seed_sequence",
           "self_config", "video_metadata", "write_video"]
