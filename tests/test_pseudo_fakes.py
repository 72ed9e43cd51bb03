"""Pseudo-fakes break temporal consistency, are reproducible, and enter training as labelled fakes."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tofnet.pseudo_fakes import PRIMITIVES, make_pseudo_fake, region_mask
from tofnet.residual import motion_residual


def _moving_texture(frames: int = 8, size: int = 64) -> np.ndarray:
    """A smooth random texture sliding right one pixel per frame: near-zero motion-compensated residual."""
    rng = np.random.default_rng(1)
    import cv2
    wide = cv2.GaussianBlur(rng.uniform(0, 255, (size, size + frames, 3)).astype(np.float32), (0, 0), 1.5)
    return np.stack([wide[:, frames - t:frames - t + size] for t in range(frames)]).clip(0, 255).astype(np.uint8)


def _residual_energy(frames: np.ndarray) -> float:
    return float(np.abs(motion_residual(frames)[1:, 8:-8, 8:-8]).mean())  # inner part: borders reflect


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_each_primitive_breaks_what_motion_explains(name):
    clip = _moving_texture()
    changed = PRIMITIVES[name](clip.astype(np.float32), np.random.default_rng(0), 1.0)
    assert changed.shape == clip.shape
    altered = np.clip(np.rint(changed), 0, 255).astype(np.uint8)
    assert _residual_energy(altered) > 1.3 * _residual_energy(clip), name


def test_pseudo_fake_is_uint8_reproducible_and_changes_the_clip():
    clip = _moving_texture()
    one = make_pseudo_fake(clip, np.random.default_rng(3))
    assert one.dtype == np.uint8 and one.shape == clip.shape
    assert np.array_equal(one, make_pseudo_fake(clip, np.random.default_rng(3)))
    fakes = [make_pseudo_fake(clip, np.random.default_rng(seed)) for seed in range(6)]
    assert all(np.abs(f.astype(int) - clip).mean() > 0.1 for f in fakes)
    assert len({f.tobytes() for f in fakes}) == 6


def test_region_mask_is_soft_and_partial():
    mask = region_mask(np.random.default_rng(0), 48, 64)
    assert mask.shape == (48, 64, 1) and 0.0 <= mask.min() and mask.max() <= 1.0
    assert 0.02 < mask.mean() < 0.9


def test_dataset_turns_a_pseudo_copy_of_a_real_video_into_a_labelled_fake(tmp_path):
    from tofnet.data import ClipDataset, DataConfig, VideoSource
    from ttdf.video import encode_video
    encode_video(tmp_path / "real.mp4", _moving_texture(10), fps=10, crf=0, preset="ultrafast")
    real = VideoSource(tmp_path / "real.mp4")
    config = DataConfig(size=(64, 64), clip_len=6, eval_clips_per_video=1)
    items = ClipDataset([real, replace(real, pseudo=True)], config, inputs=("rgb", "residual"))
    plain, pseudo = items[0], items[1]
    assert float(plain["label"]) == 0.0 and float(pseudo["label"]) == 1.0
    assert not np.allclose(plain["rgb"].numpy(), pseudo["rgb"].numpy())  # the same clip, made fake
    assert not np.allclose(plain["residual"].numpy(), pseudo["residual"].numpy())  # residual of the fake


def test_pseudo_copies_count_as_fakes_when_balancing(tmp_path):
    from tests.test_train import _record
    from tofnet.data import VideoSource
    from tofnet.train import oversample_reals, with_pseudo_fakes
    videos = [VideoSource(tmp_path / f"r{i}.mp4", _record(False)) for i in range(2)]
    videos += [VideoSource(tmp_path / f"f{i}.mp4", _record(True)) for i in range(4)]
    mixed = oversample_reals(with_pseudo_fakes(videos, 2))
    labels = [v.label for v in mixed]
    assert sum(v.pseudo for v in mixed) == 4 and labels.count(1) == 8 and labels.count(0) == 8
    assert all(v.record.label == "real" for v in mixed if v.pseudo)  # made from real videos only


def test_training_with_pseudo_fakes_and_its_refusals(tmp_path):
    from tests.test_train import _config
    from tests.tiny_dataset import write_tiny_dataset
    from tofnet.cli import main as tofnet_main
    from tofnet.train import TrainConfig, train
    from ttdf.errors import TTDFError
    from ttdf.index import index_dataset
    root = tmp_path / "tiny"
    write_tiny_dataset(root, sources=6, frames=6, size=(32, 32))
    index_dataset(root, workers=1, progress=False)
    best = train(_config(root, tmp_path / "run", pseudo_fakes=1, epochs=1))
    assert 0.0 <= best["auc"] <= 1.0
    assert '"pseudo_fakes": 1' in (tmp_path / "run" / "run_config.json").read_text()
    with pytest.raises(TTDFError, match="reads no RGB"):
        train(_config(root, tmp_path / "flow", model="flow_only", model_kwargs={"backbone": "mobilenetv3_small_050"},
                      pseudo_fakes=1, epochs=1))
    with pytest.raises(TTDFError, match="pseudo_fakes"):
        TrainConfig(root=str(root), out=str(tmp_path / "o"), pseudo_fakes=-1)
    saved = TrainConfig(root=str(root), out=str(tmp_path / "o")).to_dict()
    del saved["pseudo_fakes"]  # a run saved before pseudo-fakes existed trained without them
    assert TrainConfig.from_dict(saved).pseudo_fakes == 0
    with pytest.raises(SystemExit):
        tofnet_main(["train", "--root", str(root), "--pseudo-fakes", "-1"])
