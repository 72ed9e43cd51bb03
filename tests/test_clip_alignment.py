"""Clips pair frame t with the flow from t to t + 1, and a horizontal flip negates flow x (real DIS flow)."""
from __future__ import annotations

import numpy as np
import pytest

from tests.test_flow import _texture
from tofnet.data import ClipDataset, DataConfig, VideoSource
from tofnet.flow import create_flow_estimator
from tofnet.transforms import AugmentConfig, ClipAugment
from ttdf.video import encode_video

SIZE, FRAMES, START = 48, 8, 3
SHIFT = (2, -1)  # (x right, y down) pixels per frame, from frame START on


def _video(tmp_path, positions: list[tuple[int, int]]):
    """Lossless video whose frame k shows a texture moved by ``positions[k]``."""
    margin = 4 * FRAMES
    big = _texture(SIZE + 2 * margin, SIZE + 2 * margin)
    frames = np.stack([np.repeat(big[margin - y:margin - y + SIZE, margin - x:margin - x + SIZE, None], 3, axis=-1)
                       for x, y in positions])
    path = tmp_path / "moving.mp4"
    encode_video(path, frames, fps=10, crf=0, preset="ultrafast")
    return path


def _pixels(item: dict, config: DataConfig) -> np.ndarray:
    """The clip's frames back as (T, H, W, 3) uint8, undoing the normalisation."""
    mean, std = (np.asarray(v, np.float32).reshape(1, 3, 1, 1) for v in (config.mean, config.std))
    return np.round((item["rgb"].numpy() * std + mean) * 255).clip(0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def _median_motion(flow: np.ndarray) -> np.ndarray:
    """(T, 2) median (x, y) flow per frame, away from the borders that have nothing to match."""
    return np.median(flow[:, :, 8:-8, 8:-8].reshape(len(flow), 2, -1), axis=-1)


def test_frame_t_is_paired_with_the_flow_from_t_to_t_plus_1(tmp_path):
    # still until frame START, then moving by SHIFT per frame: only flow pairs (t, t+1) with t >= START move
    positions = [(max(0, k - START) * SHIFT[0], max(0, k - START) * SHIFT[1]) for k in range(FRAMES)]
    config = DataConfig(size=(SIZE, SIZE), clip_len=FRAMES - 1, eval_clips_per_video=1)
    dataset = ClipDataset([VideoSource(_video(tmp_path, positions))], config)
    item = dataset[0]
    indices = dataset.sampling.clip_indices(FRAMES)[0]
    assert list(indices) == list(range(FRAMES - 1))

    expected = np.array([SHIFT if t >= START else (0, 0) for t in indices], np.float32)
    np.testing.assert_allclose(_median_motion(item["flow"].numpy()), expected, atol=0.15)
    frames = _pixels(item, config)
    moved = [bool(np.abs(frames[i + 1].astype(int) - frames[i]).mean() > 1) for i in range(len(frames) - 1)]
    assert moved == [t >= START for t in indices[:-1]]  # the rgb frames move exactly where the flow says


def test_horizontal_flip_mirrors_frames_and_negates_flow_x(tmp_path):
    positions = [(k * SHIFT[0], k * SHIFT[1]) for k in range(FRAMES)]
    config = DataConfig(size=(SIZE, SIZE), clip_len=4, train_clips_per_video=1)
    video = [VideoSource(_video(tmp_path, positions))]
    flip = ClipAugment(AugmentConfig(hflip=1.0, color=0.0, jpeg=0.0, blur=0.0))
    plain = ClipDataset(video, config, train=True, augment=ClipAugment(AugmentConfig(hflip=0.0, color=0.0,
                                                                                    jpeg=0.0, blur=0.0)))
    flipped = ClipDataset(video, config, train=True, augment=flip)
    a, b = plain[0], flipped[0]

    np.testing.assert_array_equal(_pixels(b, config), _pixels(a, config)[:, :, ::-1])
    np.testing.assert_allclose(_median_motion(a["flow"].numpy()), [SHIFT] * 4, atol=0.15)
    np.testing.assert_allclose(_median_motion(b["flow"].numpy()), [(-SHIFT[0], SHIFT[1])] * 4, atol=0.15)
    # the augmented flow is the flow of the flipped frames, as if the video had been filmed mirrored
    frames = _pixels(b, config)
    recomputed = create_flow_estimator("dis")(frames)
    np.testing.assert_allclose(_median_motion(recomputed), _median_motion(b["flow"].numpy()[:-1]), atol=0.15)
    assert _median_motion(b["flow"].numpy())[:, 0] == pytest.approx([-SHIFT[0]] * 4, abs=0.15)
