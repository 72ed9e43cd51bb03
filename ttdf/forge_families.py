"""Forgery families of ``ttdf forge``: known failures of human image animation, imitated on real pixels.

An animator takes a person's appearance from a reference and the motion from a driving video. Each
family here is one of its documented failure mechanisms, applied to a :class:`Clip` (the identity
animated along the motion, plus that motion as dense optical flow). Families are registered with
``@register_family(method)``, take a ``strength`` (0 returns the animation unchanged; 1 is the
default, visible but plausible) and use only NumPy and OpenCV on a CPU: no model, no network.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from ttdf.generate import Registry

DIS_PRESET = cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST  # ~1 ms per 256x192 frame; its errors are forgery-like anyway


@dataclass(frozen=True)
class Clip:
    """What a family forges: float32 arrays in 0..255, all ``T`` frames of one size."""

    base: np.ndarray       # (T, H, W, 3) the identity animated along the motion (its own frames in "match")
    reference: np.ndarray  # (H, W, 3) the identity's reference frame: the appearance the animator starts from
    flow: np.ndarray       # (T, H, W, 2) backward flow of the motion: base[t](x) ~ base[t-1](x + flow[t](x))

    @property
    def frames(self) -> int:
        return len(self.base)


FamilyFn = Callable[[Clip, np.random.Generator, float], np.ndarray]
FAMILIES = Registry("forge family", "ttdf/forge_families.py with @register_family")
register_family: Callable[[str], Callable[[FamilyFn], FamilyFn]] = FAMILIES.register


# --------------------------------------------------------------------------- motion


def backward_flows(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 2) DIS flow from each frame to the one before.

    The first frame has no predecessor and takes the second's motion: families whose masks follow the
    motion then forge frame 0 too, instead of leaving one pristine frame a detector could compare with.
    """
    grey = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames.astype(np.uint8)]
    dis = cv2.DISOpticalFlow_create(DIS_PRESET)
    flows = np.zeros((*frames.shape[:3], 2), np.float32)
    for t in range(1, len(frames)):
        flows[t] = dis.calc(grey[t], grey[t - 1], None)
    if len(frames) > 1:
        flows[0] = flows[1]
    return flows


def animate(reference: np.ndarray, flows: np.ndarray, *, leak: float = 0.08, smooth: float = 1.5) -> np.ndarray:
    """Warp ``reference`` along the accumulated ``flows``: the appearance of one video moved by another's motion.

    The map to the reference is composed frame by frame (as an animator follows its driving poses);
    ``leak`` pulls it back toward identity so occlusions never stretch texture without bound, and
    reflecting borders keep frames free of black edges. Every frame, the first included, is sampled at
    a fixed smooth sub-pixel phase: an animator renders frame 0 as well, so it must not be the
    reference's pixels, sharper than all the interpolated frames after it (a shortcut, not an artefact).
    """
    height, width = reference.shape[:2]
    grid = _grid(height, width)
    phase = render_phase(height, width)
    offset = np.zeros((height, width, 2), np.float32)
    out = np.empty((len(flows), height, width, 3), np.float32)
    for t, flow in enumerate(flows):
        if t:
            flow = cv2.GaussianBlur(flow, (0, 0), smooth) if smooth else flow
            at = grid + flow
            offset = flow + cv2.remap(offset, at[..., 0], at[..., 1], cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REPLICATE)
            offset *= 1 - leak
        where = grid + phase + offset
        out[t] = cv2.remap(reference, where[..., 0], where[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT101)
    return out


def motion_mask(flow: np.ndarray, *, threshold: float = 0.6, spread: float = 4.0) -> np.ndarray:
    """(H, W) soft 0..1 map of what moves in one frame (the body, in a dance video)."""
    magnitude = np.sqrt(np.square(flow[..., 0]) + np.square(flow[..., 1]))
    mask = np.clip(magnitude / threshold - 0.5, 0, 1)
    return cv2.GaussianBlur(mask, (0, 0), spread)


def _grid(height: int, width: int) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.dstack([xs, ys])


def render_phase(height: int, width: int, *, amplitude: float = 0.6) -> np.ndarray:
    """(H, W, 2) fixed smooth sub-pixel offsets (std ``amplitude`` px), the same for every video of a size.

    Spread over many fractional positions, so the first frame gets the same average interpolation blur
    as the animated frames after it, and still backgrounds keep one constant softness.
    """
    return amplitude * _smooth_field(np.random.default_rng(height * 100_003 + width), height, width, (4, 4), 2)


def _highpass(frame: np.ndarray, sigma: float) -> np.ndarray:
    return frame - cv2.GaussianBlur(frame, (0, 0), sigma)


def _smooth_field(rng: np.random.Generator, height: int, width: int, cells: tuple[int, int], channels: int
                  ) -> np.ndarray:
    """Zero-mean smooth random field (H, W, channels), unit-ish amplitude: a bicubic upsampled coarse grid."""
    coarse = rng.normal(0, 1, (cells[0], cells[1], channels)).astype(np.float32)
    field = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return field.reshape(height, width, channels)


# --------------------------------------------------------------------------- families


@register_family("forge-texture-stick")
def texture_stick(clip: Clip, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Texture that sticks to the image instead of the body.

    Where the body moves, the fine detail (clothing print, hair strands, edges) is the reference
    frame's, left where it was in image coordinates, while the coarse shape follows the motion: the
    pattern does not travel with the limb, as in animators whose appearance features are spatially
    aligned to the reference rather than to the pose. ``strength`` 1 replaces all moving detail.
    """
    weight = 0.8 * min(strength, 1.0)
    sigma = 1.5 + 0.5 * strength * rng.uniform(0.5, 1.5)  # how fine the stuck detail is varies per video
    stuck = _highpass(clip.reference, sigma)
    out = np.empty_like(clip.base)
    for t, frame in enumerate(clip.base):
        mask = weight * np.clip(2 * motion_mask(clip.flow[t], spread=2.0), 0, 1)[..., None]
        out[t] = frame + mask * (stuck - _highpass(frame, sigma))
    return out


@register_family("forge-flicker")
def flicker(clip: Clip, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Flicker and shimmer of details between frames.

    Each frame is generated on its own, so the fine detail is re-synthesised with a different
    sharpness every frame and the local tone and colour wander in soft patches: the boiling
    texture of frame-wise diffusion sampling. Nothing moves; high-frequency temporal energy rises.
    """
    height, width = clip.base.shape[1:3]
    out = np.empty_like(clip.base)
    for t, frame in enumerate(clip.base):
        detail = _highpass(frame, 1.2)
        gain = 1 + strength * rng.normal(0, 0.6, (height, width, 1)).astype(np.float32)
        gain = cv2.GaussianBlur(gain, (0, 0), 1.5)[..., None]
        tone = 3.0 * strength * _smooth_field(rng, height, width, (3, 4), 3)
        out[t] = frame + (gain - 1) * detail * 1.5 + tone
    return out


@register_family("forge-smear")
def smear(clip: Clip, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Smeared hands and faces.

    The fastest-moving parts of the body (hands, feet, a turning head) lose their structure: the
    animator renders them as a blur dragged along their motion, with a wobble from frame to frame,
    while slower parts stay sharp.
    """
    out = np.empty_like(clip.base)
    height, width = clip.base.shape[1:3]
    grid = _grid(height, width)
    for t, frame in enumerate(clip.base):
        flow = clip.flow[t]
        magnitude = np.sqrt(np.square(flow[..., 0]) + np.square(flow[..., 1]))
        # the fastest few percent of the frame, or the fastest part when the body fills it
        fast = max(0.5, min(float(magnitude.mean() + 2 * magnitude.std()), 0.8 * float(magnitude.max())))
        mask = cv2.GaussianBlur(np.clip(magnitude / fast - 0.5, 0, 1), (0, 0), 2.0)
        weight = np.clip(strength * 1.2 * mask, 0, 0.9)[..., None]
        if not weight.any():
            out[t] = frame
            continue
        reach = 0.6 + 0.6 * strength * rng.uniform(0.5, 1.5)
        drag = cv2.GaussianBlur(flow, (0, 0), 2.0) * reach
        smeared = frame.copy()
        for k in (-1.0, 1.0):
            at = grid + k * drag
            smeared += cv2.remap(frame, at[..., 0], at[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        smeared = cv2.GaussianBlur(smeared / 3, (0, 0), 0.5 + 0.5 * strength)
        out[t] = frame * (1 - weight) + smeared * weight
    return out


@register_family("forge-bg-warp")
def background_warp(clip: Clip, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Backgrounds that warp along with the body and are re-painted.

    The body's motion leaks into its surroundings: a smooth, decaying displacement spreads from the
    moving person into the backdrop, so walls and floor bend as the person passes; meanwhile the
    backdrop's colours drift slowly (re-painted between generation windows).
    """
    height, width = clip.base.shape[1:3]
    grid = _grid(height, width)
    small = (max(width // 4, 8), max(height // 4, 8))  # the leak is smooth: computed at quarter size
    spread = max(small) / 10
    drag = np.zeros((small[1], small[0], 2), np.float32)
    key_every = 12
    keys = [_smooth_field(rng, height, width, (2, 3), 3) for _ in range(clip.frames // key_every + 2)]
    out = np.empty_like(clip.base)
    for t, frame in enumerate(clip.base):
        mask = motion_mask(clip.flow[t])
        flow = cv2.resize(clip.flow[t] * mask[..., None], small, interpolation=cv2.INTER_AREA)
        weight = cv2.GaussianBlur(cv2.resize(mask, small, interpolation=cv2.INTER_AREA), (0, 0), spread) + 1e-3
        leaked = cv2.GaussianBlur(flow, (0, 0), spread) / weight[..., None]
        drag = 0.85 * drag + 2.0 * strength * leaked * np.clip(weight * 4, 0, 1)[..., None]
        limit = 4.0 * strength + 1e-6
        norm = np.sqrt(np.square(drag[..., 0]) + np.square(drag[..., 1]))[..., None]
        drag *= np.minimum(1.0, limit / (norm + 1e-6))
        at = grid + cv2.resize(drag, (width, height), interpolation=cv2.INTER_LINEAR)
        warped = cv2.remap(frame, at[..., 0], at[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        phase = (t % key_every) / key_every
        paint = keys[t // key_every] * (1 - phase) + keys[t // key_every + 1] * phase
        out[t] = warped + 5.0 * strength * paint * (1 - np.clip(mask, 0, 1))[..., None]
    return out


def apply_family(method: str, clip: Clip, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Run one registered family and return uint8 frames ready to encode (strength 0: the animation itself)."""
    frames = clip.base if strength == 0 else FAMILIES.lookup(method, "forge")(clip, rng, strength)
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


__all__ = ["Clip", "FAMILIES", "animate", "apply_family", "backward_flows", "motion_mask", "register_family"]
