"""Random access is frame-exact: every backend's clips equal the same backend's sequential decode.

Seeking by timestamp is where readers go wrong (B-frames reorder timestamps; AVI counts them
differently), so the videos here have B-frames and several keyframes, from the project's encoder
and as AVI files.
"""
from __future__ import annotations

import av
import numpy as np
import pytest

from tests.tiny_dataset import encode_with_pyav
from ttdf.video import READER_BACKENDS, backends, count_frames, encode_video, frame_table, probe_video, read_frames

N, HEIGHT, WIDTH = 40, 32, 64  # decord 0.6 mangles some widths (48); 64 is safe
# backwards, forwards, repeats, strides, and clips that pick up where the previous one stopped
CLIPS = [[17, 18, 19, 20], [3], [N - 1], [25, 2, 25, 31], list(range(0, N, 7)), [12, 13, 14, 15, 36, 37],
         [5, 7], [8, 9, 10], [11, 12], [13, 14, 15, 16]]


def _frames() -> np.ndarray:
    """Frames that differ from each other everywhere, so a wrong frame cannot pass for the right one."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    return np.asarray([np.stack([(x * 5 + 11 * i) % 256, (y * 7 + 3 * i) % 256, np.full_like(x, 6 * i)], -1)
                       for i in range(N)], dtype=np.uint8)


@pytest.fixture(scope="module", params=["x264_gop6_bframes", "x264_default", "mpeg4_bframes.avi", "mjpeg.avi"])
def encoded(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("seek")
    name = request.param
    if name == "x264_gop6_bframes":  # the project's encoder: preset medium has B-frames; keyframes every <= 6
        path = folder / "gop6.mp4"
        encode_video(path, _frames(), fps=25, crf=18, gop=6)
    elif name == "x264_default":
        path = folder / "default.mp4"
        encode_video(path, _frames(), fps=25, crf=23)
    elif name == "mpeg4_bframes.avi":
        path = folder / "mpeg4.avi"
        encode_with_pyav(path, _frames(), "mpeg4", {"g": "8", "bf": "2", "qscale": "3"}, fps=25)
    else:
        path = folder / "mjpeg.avi"
        encode_with_pyav(path, _frames(), "mjpeg", {}, fps=25, pix_fmt="yuvj420p")
    return name, path


def test_the_test_videos_have_what_they_claim(encoded):
    name, path = encoded
    table = frame_table(path)
    if name in ("x264_gop6_bframes", "mpeg4_bframes.avi"):
        assert len(table.keyframes) >= N // 8 - 1  # several places to seek to
        assert table.pts is not None and len(table.pts) == N


def test_seeking_to_a_keyframe_lands_on_it(encoded):
    """Not before it (exact but slow: MP4 seeks by pts, so seeking by dts lands a whole GOP early)."""
    _, path = encoded
    table = frame_table(path)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for key in table.keyframes[1:6]:
            container.seek(table.pts[key], stream=stream, backward=True)
            assert table.index_of[next(iter(container.decode(stream))).pts] == key


@pytest.mark.parametrize("backend", READER_BACKENDS)
def test_clips_equal_the_sequential_decode(encoded, backend):
    _, path = encoded
    sequential = read_frames(path, backend=backend)
    assert len(sequential) == N
    for clip in CLIPS:
        np.testing.assert_array_equal(read_frames(path, clip, backend=backend), sequential[clip], err_msg=str(clip))


@pytest.mark.parametrize("backend", READER_BACKENDS)
def test_probed_length_is_what_every_backend_delivers(encoded, backend):
    _, path = encoded
    frames = probe_video(path).frames
    assert frames == N == len(read_frames(path, backend=backend)) == count_frames(path, backend=backend)
    assert probe_video(path, decode=True).frames == frames
    assert read_frames(path, [frames - 1], backend=backend).shape == (1, HEIGHT, WIDTH, 3)


def test_backends_deliver_the_same_picture_for_an_index(encoded):
    _, path = encoded
    clips = {b: read_frames(path, [9, 30], backend=b).astype(np.float32) for b in READER_BACKENDS}
    for backend in READER_BACKENDS:  # the decoders agree up to colour conversion; a wrong frame differs by far more
        assert np.abs(clips[backend] - clips["pyav"]).mean() < 3.0, backend


def test_pyav_clips_seek_instead_of_falling_back_to_a_full_decode(encoded, monkeypatch):
    def no_fallback(path, out):
        raise AssertionError(f"fell back to decoding {path} from frame 0 for {out.wanted}")

    _, path = encoded
    sequential = read_frames(path, backend="pyav")
    monkeypatch.setattr(backends, "_pyav_sequential", no_fallback)
    for clip in CLIPS:
        np.testing.assert_array_equal(read_frames(path, clip, backend="pyav"), sequential[clip])
