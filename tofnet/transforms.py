"""Clip augmentations: one random draw per clip, applied identically to every frame.

Photometric changes come from albumentations (``images=`` applies the same parameters to all
frames). Geometric changes must also move the optical flow, so the horizontal flip is done here
on both: flipping a flow field mirrors it *and* negates its x component.
"""
from __future__ import annotations

from dataclasses import dataclass

import albumentations as A
import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    hflip: float = 0.5
    color: float = 0.5
    jpeg: float = 0.3
    blur: float = 0.1
    # shift of a motion-centred crop (--crop) in training, as a share of its size. Off by default: a shifted
    # window can leave the moving body, where the forgery is, and then teaches the label on a clean crop
    crop_jitter: float = 0.0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class ClipAugment:
    """Augment ``rgb`` (T, H, W, 3) uint8 and ``flow`` (T, 2, H, W) consistently across the clip."""

    def __init__(self, config: AugmentConfig = AugmentConfig()):
        self.config = config
        self._photometric = A.Compose([
            A.RandomBrightnessContrast(brightness_limit=0.15, contrast_limit=0.15, p=config.color),
            A.HueSaturationValue(hue_shift_limit=5, sat_shift_limit=15, val_shift_limit=10, p=config.color),
            A.ImageCompression(quality_range=(60, 95), p=config.jpeg),
            A.GaussianBlur(blur_limit=(3, 3), p=config.blur),
        ])

    def __call__(self, rgb: np.ndarray | None, flow: np.ndarray | None, rng: np.random.Generator
                 ) -> tuple[np.ndarray | None, np.ndarray | None]:
        if rng.random() < self.config.hflip:
            if rgb is not None:
                rgb = rgb[:, :, ::-1]
            if flow is not None:
                flow = flow[..., ::-1].copy()
                flow[:, 0] *= -1
        if rgb is not None:
            self._photometric.set_random_seed(int(rng.integers(2**31)))
            rgb = self._photometric(images=np.ascontiguousarray(rgb))["images"]
        return rgb, flow
