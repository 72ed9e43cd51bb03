from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

import tofnet.frame_cache as frame_cache
from tests.test_flow_cache import video  # noqa: F401  (fixture: a 5-frame 24x32 lossless video)
from tests.test_train import _config, dataset  # noqa: F401  (module fixture: the tiny indexed dataset)
from tofnet.cli.common import train_config_from_args
from tofnet.cli import build_parser
from tofnet.data import ClipDataset, DataConfig, videos_from_index
from tofnet.frame_cache import FrameCache, frame_cache_key, read_frames_cached
from tofnet.run_folder import config_diff
from tofnet.train import TrainConfig, train
from ttdf.errors import VideoError
from ttdf.fsutil import sha256_file
from ttdf.video import read_frames


def test_cached_frames_are_the_frames_read_directly_and_a_hit_decodes_nothing(video, tmp_path, monkeypatch):  # noqa: F811
    cache = FrameCache(tmp_path / "cache")
    wanted = [4, 1, 1, 3, 0]
    first = read_frames_cached(video, wanted, cache=cache, size=(12, 16), frames=5)
    np.testing.assert_array_equal(first, read_frames(video, wanted, size=(12, 16)))
    entry = cache.path_for(sha256_file(video), frame_cache_key((12, 16)))
    assert entry.is_file() and np.load(entry).shape == (5, 12, 16, 3)
    assert [p.name for p in entry.parent.iterdir()] == [entry.name]  # no temporary file left behind

    def no_decoding(*args, **kwargs):
        raise AssertionError("a cache hit decoded the video")

    monkeypatch.setattr(frame_cache, "read_frames", no_decoding)
    again = read_frames_cached(video, [2, 3, 4], cache=cache, size=(12, 16), frames=5)
    np.testing.assert_array_equal(again, read_frames(video, [2, 3, 4], size=(12, 16)))
    assert again.flags.writeable and again.flags.c_contiguous  # a copy, not a view of the read-only memmap


def test_keys_and_no_cache(video, tmp_path):  # noqa: F811
    assert frame_cache_key((12, 16), "opencv") == "rgb-12x16-opencv-upright" != frame_cache_key(None, "opencv")
    assert frame_cache_key(None) == "rgb-native-pyav-upright"  # auto names the reader it resolves to
    plain = read_frames_cached(video, [1, 2], cache=None)
    np.testing.assert_array_equal(plain, read_frames(video, [1, 2]))
    assert FrameCache.for_root(tmp_path).cache_dir == tmp_path / ".ttdf" / "frames"


def test_a_corrupt_entry_is_decoded_again(video, tmp_path):  # noqa: F811
    cache = FrameCache(tmp_path / "cache")
    entry = cache.path_for(sha256_file(video), frame_cache_key(None))
    entry.parent.mkdir(parents=True)
    entry.write_bytes(b"\x93NUMPY truncated")
    got = read_frames_cached(video, [3], cache=cache)
    np.testing.assert_array_equal(got, read_frames(video, [3]))
    assert np.load(entry).shape == (5, 24, 32, 3)
    with pytest.raises(ValueError, match="not a valid frame cache entry"):
        cache.put("ab" * 32, "rgb-native-pyav", np.zeros((2, 4, 4, 3), np.float32))


def test_a_full_disk_costs_the_entry_not_the_frames(video, tmp_path, monkeypatch, caplog):  # noqa: F811
    cache = FrameCache(tmp_path / "cache")

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "put", full)
    np.testing.assert_array_equal(read_frames_cached(video, [2, 3], cache=cache), read_frames(video, [2, 3]))
    assert "No space left" in caplog.text and str(video) in caplog.text


def test_a_video_too_long_for_one_entry_is_read_clip_by_clip(video, tmp_path, monkeypatch):  # noqa: F811
    cache = FrameCache(tmp_path / "cache")
    monkeypatch.setattr(frame_cache, "MAX_ENTRY_BYTES", 5 * 24 * 32 * 3 - 1)  # one byte short of the video
    np.testing.assert_array_equal(read_frames_cached(video, [1, 4], cache=cache), read_frames(video, [1, 4]))
    assert not cache.cache_dir.exists()  # nothing written
    np.testing.assert_array_equal(read_frames_cached(video, [2], cache=cache, size=(12, 16), frames=5),
                                  read_frames(video, [2], size=(12, 16)))
    assert any(cache.cache_dir.rglob("*.npy"))  # smaller frames fit


def test_bad_reads_name_the_file(video, tmp_path):  # noqa: F811
    cache = FrameCache(tmp_path / "cache")
    with pytest.raises(VideoError, match="out of range") as out_of_range:
        read_frames_cached(video, [5], cache=cache)
    assert str(video) in str(out_of_range.value)
    with pytest.raises(VideoError, match="index says 30 frames.*re-run `ttdf index`"):
        read_frames_cached(video, [0], cache=cache, frames=30)
    with pytest.raises(VideoError, match="file not found"):
        read_frames_cached(tmp_path / "gone.mp4", [0], cache=cache)


def test_dataset_items_are_the_same_with_the_cache(dataset, tmp_path):  # noqa: F811
    config = DataConfig(size=(32, 32), clip_len=3, train_clips_per_video=2)
    videos = videos_from_index(dataset)
    plain = ClipDataset(videos, config, inputs=("rgb", "residual"), train=True, seed=3)
    cached = ClipDataset(videos, config, inputs=("rgb", "residual"), train=True, seed=3,
                         frame_cache=FrameCache(tmp_path / "frames"))
    for index in range(len(plain)):
        a, b = plain[index], cached[index]
        for key in ("rgb", "residual", "label"):
            assert np.array_equal(a[key].numpy(), b[key].numpy()), (index, key)
    assert len(list((tmp_path / "frames").rglob("*.npy"))) == len(videos)  # one entry per video, not per clip


def test_training_with_the_cache_trains_the_same_model(dataset, tmp_path):  # noqa: F811
    plain = train(_config(dataset, tmp_path / "plain", epochs=1))
    cached = train(_config(dataset, tmp_path / "cached", epochs=1, frame_cache=True))
    assert cached["auc"] == pytest.approx(plain["auc"]) and cached["threshold"] == pytest.approx(plain["threshold"])
    assert any((dataset / ".ttdf" / "frames").rglob("*.npy"))
    # how the frames are read is not what is trained: a resume may switch the cache on or off
    saved = json.loads((tmp_path / "plain" / "run_config.json").read_text())
    assert config_diff(saved, replace(TrainConfig.from_dict(saved), frame_cache=True).to_dict()) == []


def test_cli_flag():
    parser = build_parser()
    assert train_config_from_args(parser.parse_args(["train", "--root", "r", "--frame-cache"])).frame_cache is True
    assert train_config_from_args(parser.parse_args(["train", "--root", "r"])).frame_cache is False
