"""Which frames make a clip: deterministic, recorded in run configs, the same on every machine.

Frame ``i`` is paired with the optical flow from ``i`` to ``i + 1``, so no sampled index may exceed
``num_frames - 2``. Evaluation spreads clips evenly over the video; training draws clip starts from a
seeded generator. Starts are computed with integer arithmetic so that reruns reproduce exactly.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

SAMPLING_MODES = ("uniform", "random")


@dataclass(frozen=True)
class ClipSampling:
    """``clips_per_video`` clips of ``clip_len`` frames, ``stride`` frames apart."""

    clip_len: int = 8
    stride: int = 1
    clips_per_video: int = 4
    mode: str = "uniform"  # "uniform" (evaluation) or "random" (training)

    def __post_init__(self) -> None:
        for name in ("clip_len", "stride", "clips_per_video"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"ClipSampling.{name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))  # plain ints keep to_dict() JSON-serialisable
        if self.mode not in SAMPLING_MODES:
            raise ValueError(f"ClipSampling.mode must be one of {SAMPLING_MODES}, got {self.mode!r}")

    @property
    def span(self) -> int:
        """Frames covered by one clip, first to last inclusive."""
        return (self.clip_len - 1) * self.stride + 1

    def clip_indices(self, num_frames: int, *, rng: np.random.Generator | None = None) -> list[list[int]]:
        """``clips_per_video`` lists of ``clip_len`` frame indices, each in ``[0, num_frames - 2]``.

        A video shorter than a clip repeats its last valid index, so every clip has the same length.
        """
        if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)):
            raise ValueError(f"num_frames must be an integer, got {num_frames!r}")
        if num_frames < 2:
            raise ValueError(f"a clip needs at least 2 frames (one flow pair), got num_frames={num_frames}")
        if self.mode == "random" and rng is None:
            raise ValueError("ClipSampling(mode='random') needs rng=np.random.default_rng(seed)")
        last = int(num_frames) - 2
        max_start = max(0, last - (self.span - 1))
        starts = self._starts(max_start, rng)
        return [[min(start + k * self.stride, last) for k in range(self.clip_len)] for start in starts]

    def _starts(self, max_start: int, rng: np.random.Generator | None) -> list[int]:
        n = self.clips_per_video
        if self.mode == "random":
            return [int(s) for s in rng.integers(0, max_start + 1, size=n)]
        if n == 1:
            return [max_start // 2]  # one evaluation clip: the middle of the video
        return [j * max_start // (n - 1) for j in range(n)]  # first and last clips touch both ends

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ClipSampling":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ClipSampling field(s) {unknown}; expected some of {sorted(known)}")
        return cls(**data)
