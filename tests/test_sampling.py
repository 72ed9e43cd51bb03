from __future__ import annotations

import json

import numpy as np
import pytest

from tofnet.sampling import ClipSampling


def test_uniform_is_evenly_spread_and_deterministic():
    sampling = ClipSampling(clip_len=4, stride=2, clips_per_video=3)
    clips = sampling.clip_indices(20)  # last valid index 18; a clip spans 7 frames -> starts 0, 6, 12
    assert clips == [[0, 2, 4, 6], [6, 8, 10, 12], [12, 14, 16, 18]]
    assert sampling.clip_indices(20) == clips
    assert ClipSampling(clip_len=4, clips_per_video=1).clip_indices(21) == [[8, 9, 10, 11]]  # the middle


def test_random_needs_rng_and_is_reproducible_with_a_seed():
    sampling = ClipSampling(clip_len=4, clips_per_video=5, mode="random")
    with pytest.raises(ValueError, match="rng"):
        sampling.clip_indices(100)
    first = sampling.clip_indices(100, rng=np.random.default_rng(7))
    assert first == sampling.clip_indices(100, rng=np.random.default_rng(7))
    assert first != sampling.clip_indices(100, rng=np.random.default_rng(8))
    assert all(clip == list(range(clip[0], clip[0] + 4)) for clip in first)


@pytest.mark.parametrize("mode", ["uniform", "random"])
@pytest.mark.parametrize("clip_len,stride,clips", [(1, 1, 1), (8, 1, 4), (4, 3, 2), (16, 2, 3)])
def test_indices_stay_within_flow_pairs(mode, clip_len, stride, clips):
    sampling = ClipSampling(clip_len=clip_len, stride=stride, clips_per_video=clips, mode=mode)
    rng = np.random.default_rng(0)
    for num_frames in range(2, 60):
        result = sampling.clip_indices(num_frames, rng=rng)
        assert len(result) == clips
        for clip in result:
            assert len(clip) == clip_len
            assert all(0 <= i <= num_frames - 2 for i in clip)  # frame i is paired with flow i -> i+1
            assert clip == sorted(clip)
            if num_frames - 1 >= sampling.span:
                assert all(b - a == stride for a, b in zip(clip, clip[1:]))


def test_short_videos_repeat_the_last_valid_index():
    assert ClipSampling(clip_len=4, clips_per_video=2).clip_indices(3) == [[0, 1, 1, 1], [0, 1, 1, 1]]
    assert ClipSampling(clip_len=3, stride=4, clips_per_video=1).clip_indices(2) == [[0, 0, 0]]
    rng = np.random.default_rng(0)
    assert ClipSampling(clip_len=3, mode="random").clip_indices(2, rng=rng) == [[0, 0, 0]] * 4


@pytest.mark.parametrize("kwargs", [dict(clip_len=0), dict(stride=-1), dict(clips_per_video=0),
                                    dict(clip_len=2.5), dict(mode="dense")])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError, match="ClipSampling"):
        ClipSampling(**kwargs)


def test_too_few_frames():
    with pytest.raises(ValueError, match="at least 2 frames"):
        ClipSampling().clip_indices(1)


def test_round_trip_through_a_run_config():
    sampling = ClipSampling(clip_len=np.int64(6), stride=2, clips_per_video=3, mode="random")
    text = json.dumps(sampling.to_dict())
    assert ClipSampling.from_dict(json.loads(text)) == sampling
    assert json.loads(text) == {"clip_len": 6, "stride": 2, "clips_per_video": 3, "mode": "random"}
    with pytest.raises(ValueError, match="unknown ClipSampling field"):
        ClipSampling.from_dict({"clip_len": 4, "frames": 9})
