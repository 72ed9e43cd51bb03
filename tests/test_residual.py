"""Motion-compensated residuals: zero where motion explains the change, large where it does not."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from tofnet.residual import RESIDUAL_UNIT, motion_residual


def _texture(seed: int = 0, size: int = 96) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.uniform(0, 255, (size, size, 3)).astype(np.float32), (0, 0), 1.5)
    return np.clip((tex - 128) * 3 + 128, 0, 255).astype(np.uint8)


def _panning(frames: int = 6, step: int = 2) -> np.ndarray:
    tex = _texture()
    return np.stack([np.roll(tex, step * t, axis=1)[16:80, 16:80] for t in range(frames)])


def test_motion_explains_a_pan_but_not_per_frame_noise():
    pan = _panning()
    inner = (slice(1, None), slice(8, -8), slice(8, -8))  # skip frame 0 (borrowed) and the borders
    plain = np.abs(np.diff(pan.astype(np.float32), axis=0)).mean() / RESIDUAL_UNIT
    assert plain > 1.0  # the texture moves: frame differences are large...
    assert np.abs(motion_residual(pan)[inner]).mean() < 0.01 * plain  # ...its motion-compensated residual is not
    noisy = np.clip(pan + np.random.default_rng(1).normal(0, 6, pan.shape), 0, 255).astype(np.uint8)
    assert np.abs(motion_residual(noisy)[inner]).mean() > 20 * np.abs(motion_residual(pan)[inner]).mean()


def test_frame_zero_borrows_and_a_single_frame_is_zero():
    pan = _panning(frames=3)
    residual = motion_residual(pan)
    assert residual.shape == pan.shape and residual.dtype == np.float32
    assert np.array_equal(residual[0], residual[1])
    assert not motion_residual(pan[:1]).any()


def test_dataset_gives_the_residual_of_the_rgb_crop(tmp_path):
    from tofnet.data import ClipDataset, DataConfig, VideoSource
    from tofnet.flow_cache import FlowCache
    from ttdf.video import encode_video

    encode_video(tmp_path / "v.mp4", _panning(frames=6), fps=10, crf=0, preset="ultrafast")
    config = DataConfig(size=(32, 32), clip_len=3, eval_clips_per_video=1, crop=(32, 32), rgb_size=(64, 64))
    cache = FlowCache(tmp_path / "cache")
    both = ClipDataset([VideoSource(tmp_path / "v.mp4")], config, inputs=("rgb", "residual"), flow_cache=cache)[0]
    alone = ClipDataset([VideoSource(tmp_path / "v.mp4")], config, inputs=("residual",), flow_cache=cache)[0]
    assert both["residual"].shape == both["rgb"].shape == (3, 3, 32, 32) and "rgb" not in alone
    assert torch.equal(both["residual"], alone["residual"])
    with pytest.raises(ValueError, match="residual"):
        ClipDataset([VideoSource(tmp_path / "v.mp4")], config, inputs=("depth",))
