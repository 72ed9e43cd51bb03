"""Motion-centred crops: the RGB window a clip is scored on, placed where the body moves.

Animation artefacts (smeared hands, texture that does not follow the limb, flickering detail) are
fine-grained and sit on the moving person. Shrinking a whole frame to the model's size blurs them
away; a crop at full resolution keeps them, and centring it on the motion keeps the person in it
(as face detectors crop faces). The motion comes from the clip's optical flow, which is computed at
a smaller size (``DataConfig.size``) and is cheap to read from the cache.
"""
from __future__ import annotations

import cv2
import numpy as np


def motion_crop_origin(flow: np.ndarray, frame_hw: tuple[int, int], crop_hw: tuple[int, int], *,
                       rng: np.random.Generator | None = None, jitter: float = 0.25) -> tuple[int, int]:
    """(top, left) of the ``crop_hw`` window of a ``frame_hw`` frame holding the most motion.

    ``flow`` is the clip's (T, 2, h, w) flow at any size; its mean magnitude map is box-filtered
    with the crop's footprint and the best window wins (the frame centre when nothing moves). With
    ``rng`` (training), the window is shifted by up to ``jitter`` of its size so the model does not
    learn where in the crop the person stands.
    """
    height, width = frame_hw
    ch, cw = min(crop_hw[0], height), min(crop_hw[1], width)
    if flow is None or flow.size == 0:
        top, left = (height - ch) // 2, (width - cw) // 2
    else:
        magnitude = np.sqrt(np.square(flow[:, 0]) + np.square(flow[:, 1])).mean(axis=0).astype(np.float32)
        fh, fw = magnitude.shape
        sy, sx = fh / height, fw / width
        kh, kw = max(1, round(ch * sy)), max(1, round(cw * sx))
        # mean over every window whose top-left lies at (y, x): a box filter anchored at its corner
        window = cv2.boxFilter(magnitude, -1, (kw, kh), anchor=(0, 0), normalize=True,
                               borderType=cv2.BORDER_CONSTANT)[:max(1, fh - kh + 1), :max(1, fw - kw + 1)]
        if float(window.max()) <= 1e-3:
            top, left = (height - ch) // 2, (width - cw) // 2
        else:
            y, x = np.unravel_index(int(np.argmax(window)), window.shape)
            top, left = round(y / sy), round(x / sx)
    if rng is not None and jitter > 0:
        top += int(rng.integers(-int(jitter * ch), int(jitter * ch) + 1))
        left += int(rng.integers(-int(jitter * cw), int(jitter * cw) + 1))
    return int(np.clip(top, 0, height - ch)), int(np.clip(left, 0, width - cw))


def crop_frames(frames: np.ndarray, origin: tuple[int, int], crop_hw: tuple[int, int]) -> np.ndarray:
    """(T, H, W, C) -> (T, h, w, C), the window at ``origin``."""
    top, left = origin
    return np.ascontiguousarray(frames[:, top:top + crop_hw[0], left:left + crop_hw[1]])
