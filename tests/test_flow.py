from __future__ import annotations

import pickle
import socket
import urllib.error

import cv2
import numpy as np
import pytest
import torch

from tofnet import flow
from tofnet.flow import (FlowEstimator, compute_video_flow, create_flow_estimator, default_flow_backend,
                         flow_cache_key, list_flow_backends, register_flow_backend)
from ttdf.errors import DownloadError, TTDFError, VideoError
from ttdf.video import encode_video

SHIFT = (2, -1)  # (x, y) pixels between consecutive frames


def _texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth random texture: enough structure everywhere for flow to be well defined."""
    coarse = np.random.default_rng(seed).integers(0, 256, (height // 4 + 2, width // 4 + 2)).astype(np.float32)
    image = cv2.GaussianBlur(cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC), (0, 0), 1.0)
    return np.clip(image, 0, 255).astype(np.uint8)


def _translated_frames(n: int = 3, size: int = 48, shift: tuple[int, int] = SHIFT) -> np.ndarray:
    """Frame k shows the texture moved by k * shift (x right, y down)."""
    margin = 4 * n
    big = _texture(size + 2 * margin, size + 2 * margin)
    frames = []
    for k in range(n):
        top, left = margin - k * shift[1], margin - k * shift[0]
        crop = big[top:top + size, left:left + size]
        frames.append(np.repeat(crop[..., None], 3, axis=-1))
    return np.stack(frames)


@pytest.mark.parametrize("name,kwargs", [("dis", {}), ("dis", {"preset": "fast"}), ("dis", {"preset": "ultrafast"}),
                                         ("farneback", {})])
def test_opencv_backends_recover_a_known_translation(name, kwargs):
    estimator = create_flow_estimator(name, **kwargs)
    frames = _translated_frames(n=3)
    result = estimator(frames)
    assert result.shape == (2, 2, 48, 48) and result.dtype == np.float32
    inner = result[:, :, 8:-8, 8:-8]  # borders have no match for the pixels that moved in
    assert np.median(inner[:, 0]) == pytest.approx(SHIFT[0], abs=0.1)
    assert np.median(inner[:, 1]) == pytest.approx(SHIFT[1], abs=0.1)


def test_estimators_validate_their_input():
    estimator = create_flow_estimator("dis")
    with pytest.raises(ValueError, match="at least 2 frames"):
        estimator(np.zeros((1, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        estimator(np.zeros((2, 16, 16, 3), np.float32))
    with pytest.raises(ValueError, match="dis: unknown preset"):
        create_flow_estimator("dis", preset="slow")


def test_opencv_estimators_pickle_after_use():
    estimator = create_flow_estimator("dis")
    frames = _translated_frames()
    expected = estimator(frames)  # builds the cv2 object, which itself cannot be pickled
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(estimator))(frames), expected)


def test_registry(monkeypatch):
    assert list_flow_backends()[:4] == ["dis", "farneback", "raft_small", "raft_large"]
    monkeypatch.setattr(flow, "_FLOW_BACKENDS", dict(flow._FLOW_BACKENDS))

    @register_flow_backend("zero")
    class ZeroFlow(FlowEstimator):
        def params(self):
            return {}

        def _compute(self, frames):
            return np.zeros((len(frames) - 1, 2, *frames.shape[1:3]), np.float32)

    assert "zero" in list_flow_backends() and ZeroFlow.name == "zero"
    assert create_flow_estimator("zero")(np.zeros((3, 8, 8, 3), np.uint8)).shape == (2, 2, 8, 8)
    with pytest.raises(ValueError, match="already registered"):
        register_flow_backend("dis")(ZeroFlow)
    with pytest.raises(TTDFError, match="unknown flow backend 'nope'"):
        create_flow_estimator("nope")
    with pytest.raises(TTDFError, match="'dis' does not take these options"):
        create_flow_estimator("dis", weights="x.pth")


def test_default_backend_does_not_depend_on_cuda(monkeypatch):
    from tofnet.cli import build_parser
    from tofnet.cli.common import train_config_from_args

    defaults = []
    for cuda in (True, False):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        args = build_parser().parse_args(["train", "--root", "r"])
        defaults.append((default_flow_backend(), train_config_from_args(args).data.flow_backend))
    assert defaults == [("dis", "dis"), ("dis", "dis")]


def test_cache_key_is_stable_and_changes_with_params_and_size():
    key = flow_cache_key(create_flow_estimator("dis"), (112, 112))
    assert key.startswith("dis-") and len(key) == len("dis-") + 8
    assert flow_cache_key(create_flow_estimator("dis", preset="medium"), [112, 112]) == key
    assert flow_cache_key(create_flow_estimator("dis", preset="fast"), (112, 112)) != key
    assert flow_cache_key(create_flow_estimator("dis"), (112, 96)) != key
    assert flow_cache_key(create_flow_estimator("farneback", winsize=9), (112, 112)) != \
        flow_cache_key(create_flow_estimator("farneback"), (112, 112))


def test_compute_video_flow_resizes_then_estimates(tmp_path):
    path = tmp_path / "v.mp4"
    encode_video(path, _translated_frames(n=5, size=64), fps=10, crf=0, preset="ultrafast")
    result = compute_video_flow(path, estimator=create_flow_estimator("dis"), size=(32, 32))
    assert result.shape == (4, 2, 32, 32) and result.dtype == np.float32
    inner = result[:, :, 6:-6, 6:-6]  # half resolution: half the shift
    assert np.median(inner[:, 0]) == pytest.approx(SHIFT[0] / 2, abs=0.2)
    assert np.median(inner[:, 1]) == pytest.approx(SHIFT[1] / 2, abs=0.2)
    one = tmp_path / "one.mp4"
    encode_video(one, _translated_frames(n=1), fps=10, crf=0, preset="ultrafast")
    with pytest.raises(VideoError, match="at least 2"):
        compute_video_flow(one, estimator=create_flow_estimator("dis"), size=(32, 32))


@pytest.mark.parametrize("name", ["dis", "farneback"])
@pytest.mark.parametrize("reader", ["pyav", "opencv"])
def test_streamed_video_flow_equals_the_whole_clip_estimate(tmp_path, name, reader):
    """Pairwise backends get grey frames as they decode; the flow must be the one of the decoded clip."""
    path = tmp_path / "v.mp4"
    encode_video(path, _translated_frames(n=6, size=64), fps=10, crf=18, preset="ultrafast")
    estimator = create_flow_estimator(name)
    assert estimator.pairwise
    streamed = compute_video_flow(path, estimator=estimator, size=(40, 48), reader_backend=reader, frames=6)
    pairs = estimator.pairs()
    for grey in flow.read_frames(path, size=(40, 48), backend=reader, gray=True):
        pairs.push(grey)
    np.testing.assert_array_equal(streamed, pairs.result())
    half = compute_video_flow(path, estimator=estimator, size=(40, 48), reader_backend=reader, dtype=np.float16)
    assert half.dtype == np.float16  # what the cache stores, converted pair by pair
    assert streamed.flags.c_contiguous and half.flags.c_contiguous  # np.save writes other layouts 30x slower
    np.testing.assert_array_equal(half, streamed.astype(np.float16))
    from_rgb = estimator(flow.read_frames(path, size=(40, 48), backend=reader))  # RGB -> grey: the same motion
    assert np.abs(streamed - from_rgb)[:, :, 6:-6, 6:-6].mean() < 0.05
    with pytest.raises(VideoError, match="index says 7"):
        compute_video_flow(path, estimator=estimator, size=(40, 48), reader_backend=reader, frames=7)


# -- RAFT --------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny RAFT passes are ~50x slower with 2 intra-op threads on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("size", [(40, 56), (130, 140)])  # upsampled below 128 px; padded to /8 above
def test_raft_small_random_weights_shape(size):
    torch.manual_seed(0)
    estimator = create_flow_estimator("raft_small", weights="random", num_flow_updates=1, batch_size=2)
    frames = np.stack([np.repeat(_texture(*size, seed=i)[..., None], 3, -1) for i in range(4)])
    result = estimator(frames)
    assert result.shape == (3, 2, *size) and result.dtype == np.float32
    assert np.isfinite(result).all()
    assert estimator.params() == {"weights": "random", "num_flow_updates": 1, "fp16": False}
    assert not estimator.multiprocess


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_raft_loads_weights_from_a_file(tmp_path, suffix):
    torch.manual_seed(0)
    source = create_flow_estimator("raft_small", weights="random", num_flow_updates=1)
    state = source._model.state_dict()
    path = tmp_path / f"raft{suffix}"
    if suffix == ".pth":
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)  # a wrapped checkpoint
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    loaded = create_flow_estimator("raft_small", weights=path, num_flow_updates=1)
    frames = np.stack([np.repeat(_texture(32, 32, seed=i)[..., None], 3, -1) for i in range(2)])
    np.testing.assert_array_equal(loaded(frames), source(frames))
    assert loaded.params()["weights"].startswith("sha256:")
    assert flow_cache_key(loaded, (32, 32)) != flow_cache_key(source, (32, 32))


def test_raft_refuses_bad_weight_files(tmp_path):
    with pytest.raises(TTDFError, match="not found"):
        create_flow_estimator("raft_small", weights=tmp_path / "missing.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(TTDFError, match="cannot read flow weights"):
        create_flow_estimator("raft_small", weights=garbage)
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(1)}, wrong)
    with pytest.raises(TTDFError, match="not a torchvision RAFT-small state_dict"):
        create_flow_estimator("raft_small", weights=wrong)


def test_raft_default_weights_offline_raise_download_error(monkeypatch):
    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(DownloadError, match="--flow-weights FILE") as info:
        create_flow_estimator("raft_small")
    assert "cannot download RAFT weights" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(DownloadError, match="--flow-backend dis"):
        create_flow_estimator("raft_large", weights="default")


def _network_reachable() -> bool:
    try:
        socket.setdefaulttimeout(3)
        socket.getaddrinfo("download.pytorch.org", 443)
        return True
    except OSError:
        return False
    finally:
        socket.setdefaulttimeout(None)


@pytest.mark.timeout(60)
def test_raft_default_weights_real_download_path_fails_cleanly_offline():
    if _network_reachable():
        pytest.skip("the network is reachable: this would download RAFT weights")
    with pytest.raises(DownloadError, match="cannot download RAFT weights"):
        create_flow_estimator("raft_small")  # TORCH_HOME is an empty temporary folder (conftest)
