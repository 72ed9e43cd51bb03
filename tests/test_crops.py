"""Motion-centred crops find the moving region and follow it into the dataset's RGB."""
from __future__ import annotations

import numpy as np

from tofnet.crops import crop_frames, motion_crop_origin


def _flow_with_motion_at(top: int, left: int, size=(24, 32), box=(6, 8)) -> np.ndarray:
    flow = np.zeros((3, 2, *size), np.float32)
    flow[:, 0, top:top + box[0], left:left + box[1]] = 2.0
    return flow


def test_crop_lands_on_the_moving_region_at_the_rgb_scale():
    flow = _flow_with_motion_at(12, 20)  # flow at 24x32, frames at 96x128: scale 4
    top, left = motion_crop_origin(flow, (96, 128), (24, 32))
    assert (top, left) == (48, 80)
    frames = np.zeros((3, 96, 128, 3), np.uint8)
    frames[:, 48:72, 80:112] = 255
    assert crop_frames(frames, (top, left), (24, 32)).min() == 255


def test_static_clip_is_centred_and_training_jitter_stays_inside():
    still = np.zeros((2, 2, 24, 32), np.float32)
    assert motion_crop_origin(still, (96, 128), (32, 64)) == (32, 32)
    rng = np.random.default_rng(0)
    origins = {motion_crop_origin(_flow_with_motion_at(0, 0), (96, 128), (48, 64), rng=rng) for _ in range(50)}
    assert len(origins) > 5  # jittered
    assert all(0 <= t <= 48 and 0 <= l <= 64 for t, l in origins)  # never leaves the frame
    assert motion_crop_origin(_flow_with_motion_at(0, 0), (96, 128), (200, 300)) == (0, 0)  # crop > frame


def test_dataset_crops_rgb_at_full_resolution_and_keeps_whole_frame_flow(tmp_path):
    from tofnet.data import ClipDataset, DataConfig, VideoSource
    from tofnet.flow_cache import FlowCache
    from ttdf.video import encode_video

    frames = np.full((6, 48, 64, 3), 40, np.uint8)
    for t in range(6):  # a bright square moving right through the lower-right quarter
        frames[t, 28:40, 36 + 2 * t:48 + 2 * t] = 220
    encode_video(tmp_path / "v.mp4", frames, fps=10, crf=0, preset="ultrafast")
    config = DataConfig(size=(24, 32), clip_len=3, eval_clips_per_video=1, crop=(24, 24), rgb_size=(48, 64))
    rgb_only = ClipDataset([VideoSource(tmp_path / "v.mp4")], config, inputs=("rgb",), flow_cache=FlowCache(tmp_path / "c"))
    item = rgb_only[0]
    assert item["rgb"].shape == (3, 3, 24, 24) and "flow" not in item
    both = ClipDataset([VideoSource(tmp_path / "v.mp4")], config, inputs=("rgb", "flow"),
                       flow_cache=FlowCache(tmp_path / "c"))[0]
    assert both["flow"].shape == (3, 2, 24, 32) and torch_equal(both["rgb"], item["rgb"])
    # the crop holds the bright square: its mean is far above the dark background's
    assert float(item["rgb"].mean()) > float(ClipDataset([VideoSource(tmp_path / "v.mp4")],
                                                         DataConfig(size=(48, 64), clip_len=3, eval_clips_per_video=1),
                                                         inputs=("rgb",))[0]["rgb"].mean()) + 0.3


def torch_equal(a, b) -> bool:
    import torch
    return bool(torch.equal(a, b))


def test_training_crops_move_only_with_crop_jitter(tmp_path):
    from tofnet.data import ClipDataset, DataConfig, VideoSource
    from tofnet.transforms import AugmentConfig, ClipAugment
    from ttdf.video import encode_video

    frames = np.random.default_rng(0).integers(0, 255, (3, 48, 64, 3), dtype=np.uint8)  # one clip start
    frames[:, 20:28] = 128  # still background; a textured band moves down the frame
    encode_video(tmp_path / "v.mp4", frames, fps=10, crf=0, preset="ultrafast")
    video = [VideoSource(tmp_path / "v.mp4")] * 12
    config = DataConfig(size=(24, 32), clip_len=2, train_clips_per_video=1, eval_clips_per_video=1, crop=(24, 24),
                        rgb_size=(48, 64))
    still = AugmentConfig(hflip=0.0, color=0.0, jpeg=0.0, blur=0.0)

    def crops(augment: AugmentConfig) -> set[bytes]:
        data = ClipDataset(video, config, inputs=("rgb",), train=True, augment=ClipAugment(augment))
        return {data[i]["rgb"][0].numpy().tobytes() for i in range(len(data))}

    evaluation = ClipDataset(video[:1], config, inputs=("rgb",))[0]["rgb"][0].numpy().tobytes()
    assert crops(still) == {evaluation}  # the default: training crops where evaluation does
    assert len(crops(AugmentConfig(hflip=0.0, color=0.0, jpeg=0.0, blur=0.0, crop_jitter=0.4))) > 3
