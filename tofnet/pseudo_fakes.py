"""Pseudo-fakes: generic breaks of temporal consistency, made on the fly from real training clips.

A detector trained on a few forgery methods learns those methods and little else. Face-forgery
detection generalises better when it also trains on fakes it makes itself from real images
(self-blended images, Shiohara & Yamasaki, CVPR 2022): the network then has to learn what any
blend looks like rather than one generator's fingerprint. This is that idea for animated bodies.
Inside a soft random region of a real clip, one or two generic inconsistencies that filmed video
does not have: fine detail whose sharpness changes from frame to frame, a sub-pixel wobble, detail
held from one frame while the content moves, tone drift, ghosting with a neighbour frame, blur that
varies over time. None of them is a ``ttdf forge`` family or imitates one animator; measured on held-out
scenes and families in docs/DETECTOR.md.
"""
from __future__ import annotations

import cv2
import numpy as np

from ttdf.generate import Registry

PRIMITIVES = Registry("pseudo-fake primitive", "tofnet/pseudo_fakes.py")


def _detail(frame: np.ndarray, sigma: float) -> np.ndarray:
    return frame - cv2.GaussianBlur(frame, (0, 0), sigma)


@PRIMITIVES.register("detail_gain")
def detail_gain(frames: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Fine detail sharpened or softened by a different amount in every frame."""
    return np.stack([f + rng.normal(0, 0.6 * strength) * _detail(f, rng.uniform(0.8, 2.0)) for f in frames])


@PRIMITIVES.register("wobble")
def wobble(frames: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Every frame displaced by its own smooth sub-pixel field."""
    height, width = frames.shape[1:3]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    out = np.empty_like(frames)
    for t, frame in enumerate(frames):
        shift = cv2.resize(rng.normal(0, 1.2 * strength, (3, 3, 2)).astype(np.float32), (width, height),
                           interpolation=cv2.INTER_CUBIC)
        out[t] = cv2.remap(frame, xs + shift[..., 0], ys + shift[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT101)
    return out


@PRIMITIVES.register("held_detail")
def held_detail(frames: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """The fine detail of one frame kept in place in every frame, while the content moves on."""
    sigma, weight = rng.uniform(1.0, 2.5), 0.8 * strength
    held = _detail(frames[rng.integers(len(frames))], sigma)
    return np.stack([f + weight * (held - _detail(f, sigma)) for f in frames])


@PRIMITIVES.register("tone_drift")
def tone_drift(frames: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Colour and brightness that change from frame to frame."""
    return frames + rng.normal(0, 4 * strength, (len(frames), 1, 1, 3)).astype(np.float32)


@PRIMITIVES.register("ghosting")
def ghosting(frames: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Each frame blended with a neighbour by a random share (temporal resampling)."""
    last = len(frames) - 1
    out = np.empty_like(frames)
    for t, frame in enumerate(frames):
        share = rng.uniform(0, 0.5 * strength)
        out[t] = (1 - share) * frame + share * frames[min(last, max(0, t + rng.choice((-1, 1))))]
    return out


@PRIMITIVES.register("varying_blur")
def varying_blur(frames: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A blur whose width changes from frame to frame."""
    return np.stack([cv2.GaussianBlur(f, (0, 0), max(0.3, rng.uniform(0, 1.5 * strength))) for f in frames])


def region_mask(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(H, W, 1) soft mask of one to three random ellipses, each 15-40 % of the frame across."""
    mask = np.zeros((height, width), np.float32)
    for _ in range(rng.integers(1, 4)):
        centre = (int(rng.uniform(0.2, 0.8) * width), int(rng.uniform(0.2, 0.8) * height))
        axes = (max(1, int(rng.uniform(0.15, 0.4) * width)), max(1, int(rng.uniform(0.15, 0.4) * height)))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), float(rng.uniform(2, 6)))[..., None]


def make_pseudo_fake(frames: np.ndarray, rng: np.random.Generator, *, max_primitives: int = 2,
                     whole_frame: float = 0.2) -> np.ndarray:
    """(T, H, W, 3) uint8 real clip -> a uint8 pseudo-fake of it.

    One to ``max_primitives`` primitives, each of random strength, each inside its own random region
    (or, with probability ``whole_frame``, over the whole frame).
    """
    out = np.asarray(frames, np.float32)
    height, width = out.shape[1:3]
    names = sorted(PRIMITIVES)
    count = int(rng.integers(1, max_primitives + 1))
    for name in rng.choice(names, size=min(count, len(names)), replace=False):
        changed = PRIMITIVES[str(name)](out, rng, float(rng.uniform(0.3, 1.0)))
        whole = rng.random() < whole_frame
        mask = np.ones((height, width, 1), np.float32) if whole else region_mask(rng, height, width)
        out = out * (1 - mask) + changed * mask
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


__all__ = ["PRIMITIVES", "make_pseudo_fake", "region_mask"]
