"""One length per video: what the index stores is what every reader delivers, for RGB and flow alike."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.tiny_dataset import encode_with_pyav, write_tiny_dataset, write_truncated_faststart
from tofnet.data import ClipDataset, DataConfig, VideoSource
from tofnet.flow import create_flow_estimator, flow_cache_key
from tofnet.flow_cache import FlowCache, load_or_compute_flow
from ttdf.errors import VideoError
from ttdf.index import VideoIndex, index_dataset
from ttdf.taxonomy import load_taxonomy
from ttdf.video import READER_BACKENDS, encode_video, read_frames
from ttdf.video import backends as video_backends

HEIGHT, WIDTH = 32, 64


def _tiny_root(root: Path) -> None:
    taxonomy = load_taxonomy()
    write_tiny_dataset(root, sources=1, frames=6, methods=taxonomy.methods[:1], configs=taxonomy.configs[:1])


def _frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, HEIGHT, WIDTH, 3), dtype=np.uint8)


def test_index_frames_equal_what_every_reader_delivers(tmp_path):
    _tiny_root(tmp_path)
    real = tmp_path / "real/raw/train"
    encode_video(real / "bframes.mp4", _frames(23), fps=10, crf=20, gop=4)  # B-frames, several keyframes
    encode_video(real / "onegop.mp4", _frames(17), fps=25, crf=30, preset="ultrafast")
    encode_with_pyav(real / "mpeg4.avi", _frames(19), "mpeg4", {"bf": "2", "g": "5"})
    report = index_dataset(tmp_path, workers=1, progress=False)
    assert report.bad == []
    with VideoIndex.open(tmp_path) as index:
        videos = {v.path: v.record.frames for v in index.query()}
    assert {videos[f"real/raw/train/{n}"] for n in ("bframes.mp4", "onegop.mp4", "mpeg4.avi")} == {23, 17, 19}
    for rel, frames in videos.items():
        for backend in READER_BACKENDS:
            assert len(read_frames(tmp_path / rel, backend=backend, frames=frames)) == frames, (rel, backend)
            assert read_frames(tmp_path / rel, [frames - 1], backend=backend, frames=frames).shape[0] == 1


def test_still_image_and_truncated_file_are_indexed_bad_with_the_reason(tmp_path):
    _tiny_root(tmp_path)
    real = tmp_path / "real/raw/train"
    ok, png = cv2.imencode(".png", _frames(1)[0])
    (real / "photo.mp4").write_bytes(png.tobytes())  # a still image renamed .mp4 (FFmpeg opens it fine)
    write_truncated_faststart(real / "cut.mp4", frames=12)
    report = dict(index_dataset(tmp_path, workers=1, progress=False).bad)
    assert sorted(report) == ["real/raw/train/cut.mp4", "real/raw/train/photo.mp4"]
    assert report["real/raw/train/photo.mp4"].startswith("a still image, not a video")
    assert report["real/raw/train/cut.mp4"].startswith("truncated: container promises 12 frames, ")
    with VideoIndex.open(tmp_path) as index:
        assert {v.path for v in index.query(status="bad")} == set(report)


@pytest.mark.parametrize("backend", ["auto", *READER_BACKENDS])
def test_a_length_mismatch_names_the_file_and_says_to_reindex(tmp_path, backend):
    path = tmp_path / "v.mp4"
    encode_video(path, _frames(6), fps=10, crf=0, preset="ultrafast")
    for indices in (None, [2, 7]):  # the whole video, and a clip past the real end
        with pytest.raises(VideoError, match="the index says 8 frames but the .* reader decodes 6") as info:
            read_frames(path, indices, backend=backend, frames=8)
        assert str(path) in str(info.value) and "ttdf index" in str(info.value)
    assert len(read_frames(path, backend=backend, frames=6)) == 6


def test_cached_flow_of_another_length_is_a_clear_error(tmp_path):
    path = tmp_path / "v.mp4"
    encode_video(path, _frames(6), fps=10, crf=0, preset="ultrafast")
    estimator, cache = create_flow_estimator("dis", preset="ultrafast"), FlowCache(tmp_path / "cache")
    assert load_or_compute_flow(path, None, estimator=estimator, size=(16, 16), cache=cache, frames=6).shape[0] == 5
    with pytest.raises(VideoError, match="the index says 9 frames but its optical flow covers 6") as info:
        load_or_compute_flow(path, None, estimator=estimator, size=(16, 16), cache=cache, frames=9)
    assert str(path) in str(info.value) and "ttdf index" in str(info.value)


@pytest.mark.parametrize("backend", READER_BACKENDS)
def test_rgb_and_flow_are_read_with_the_configured_backend(tmp_path, monkeypatch, backend):
    path = tmp_path / "v.mp4"
    encode_video(path, _frames(7), fps=10, crf=0, preset="ultrafast")
    used = []
    for name, read in list(video_backends.READERS.items()):
        monkeypatch.setitem(video_backends.READERS, name,
                            lambda p, out, name=name, read=read: used.append((name, out.wanted is None)) or read(p, out))
    config = DataConfig(size=(16, 16), clip_len=3, eval_clips_per_video=1, reader_backend=backend,
                        flow_kwargs={"preset": "ultrafast"})
    dataset = ClipDataset([VideoSource(path)], config, inputs=("rgb", "flow"),
                          flow_cache=FlowCache(tmp_path / "cache"))
    item = dataset[0]
    assert item is not None and item["rgb"].shape == (3, 3, 16, 16) and item["flow"].shape == (3, 2, 16, 16)
    assert sorted(used) == [(backend, False), (backend, True)]  # a clip for RGB, the whole video for flow
    key = flow_cache_key(create_flow_estimator("dis", preset="ultrafast"), (16, 16), backend)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [key]  # a flow from another reader is another entry
    assert (key == flow_cache_key(create_flow_estimator("dis", preset="ultrafast"), (16, 16))) == (backend == "pyav")


def test_clip_dataset_reports_an_indexed_length_the_file_does_not_have(tmp_path):
    _tiny_root(tmp_path)
    index_dataset(tmp_path, workers=1, progress=False)
    with VideoIndex.open(tmp_path) as index:
        video = index.query()[0]
    wrong = video.record.__class__(**{**video.record.__dict__, "frames": 40})  # the index of an older file
    config = DataConfig(size=(16, 16), clip_len=4, eval_clips_per_video=2, flow_kwargs={"preset": "ultrafast"})
    dataset = ClipDataset([VideoSource(tmp_path / video.path, wrong)], config, inputs=("rgb", "flow"))
    assert "failure" in dataset[1]  # the last clip starts past the real end
    (reason,) = dataset.failures.values()
    assert video.path in reason and "the index says 40 frames" in reason and "ttdf index" in reason
