from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from tests.tiny_dataset import encode_with_pyav, write_truncated_faststart
from ttdf.errors import VideoError
from ttdf.video import (DEFAULT_READER, READER_BACKENDS, count_frames, encode_video, probe_video, read_frames,
                        stream_frames)
from ttdf.video.backends import SEEK_FRAME_THREADS_MIN_PIXELS, _PyAVHandle

FRAMES, HEIGHT, WIDTH = 8, 48, 64


def _gradient_frames(n: int = FRAMES, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """Smooth frames (compress well, so decoders agree) that differ from one frame to the next."""
    y, x = np.mgrid[0:height, 0:width]
    frames = [np.stack([(x * 3 + 20 * i) % 256, (y * 4 + 10 * i) % 256, np.full_like(x, 40 * i % 256)], axis=-1)
              for i in range(n)]
    return np.asarray(frames, dtype=np.uint8)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("reader") / "clip.mp4"
    encode_video(path, _gradient_frames(), fps=10, crf=0, preset="ultrafast")
    return path


@pytest.mark.parametrize("backend", ["auto", *READER_BACKENDS])
def test_read_frames_shapes_with_repeats_and_resize(video, backend):
    frames = read_frames(video, [0, 3, 3, 7], backend=backend)
    assert frames.shape == (4, HEIGHT, WIDTH, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames[1], frames[2])  # a repeated index yields the same frame
    small = read_frames(video, [1, 0], size=(24, 40), backend=backend)
    assert small.shape == (2, 24, 40, 3) and small.dtype == np.uint8
    assert read_frames(video, backend=backend).shape == (FRAMES, HEIGHT, WIDTH, 3)
    assert count_frames(video, backend=backend) == FRAMES


def test_backends_agree_on_pixels(video):
    expected = _gradient_frames().astype(np.float32)
    decoded = {b: read_frames(video, backend=b).astype(np.float32) for b in ("decord", "pyav", "opencv")}
    assert np.abs(decoded["decord"] - decoded["pyav"]).mean() < 2.0
    assert np.abs(decoded["opencv"] - decoded["pyav"]).mean() < 2.0
    assert np.abs(decoded["pyav"] - expected).mean() < 8.0  # RGB -> YUV420 -> RGB loses a little chroma
    assert np.abs(decoded["pyav"][:, :, :, 0].mean(axis=(1, 2)) - expected[:, :, :, 0].mean(axis=(1, 2))).max() < 4


def test_indices_order_is_kept(video):
    frames = read_frames(video, backend="pyav")
    np.testing.assert_array_equal(read_frames(video, [5, 2, 5], backend="decord"), frames[[5, 2, 5]])


def test_resize_uses_inter_area(video):
    import cv2

    full = read_frames(video, [2], backend="pyav")[0]
    small = read_frames(video, [2], size=(12, 16), backend="pyav")[0]
    np.testing.assert_array_equal(small, cv2.resize(full, (16, 12), interpolation=cv2.INTER_AREA))


def test_auto_is_the_default_backend(video):
    assert DEFAULT_READER in READER_BACKENDS
    np.testing.assert_array_equal(read_frames(video, [0, 5]), read_frames(video, [0, 5], backend=DEFAULT_READER))


def test_auto_reads_a_width_that_decord_mangles(tmp_path):
    path = tmp_path / "w48.mp4"  # decord 0.6 fails on some frame widths (row stride); PyAV does not
    encode_video(path, _gradient_frames(4, 32, 48), fps=10, crf=0, preset="ultrafast")
    assert read_frames(path).shape == (4, 32, 48, 3)


@pytest.mark.parametrize("case", ["missing", "empty", "garbage", "no_header", "truncated_data"])
@pytest.mark.parametrize("backend", ["auto", *READER_BACKENDS])
def test_bad_files_raise_video_error_naming_the_file(tmp_path, video, case, backend):
    path = tmp_path / f"{case}.mp4"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "garbage":
        path.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif case == "no_header":  # cut before the moov atom, as an interrupted download leaves it
        data = video.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif case == "truncated_data":
        write_truncated_faststart(path)
    with pytest.raises(VideoError) as info:
        read_frames(path, [0, 9] if case == "truncated_data" else None, backend=backend)
    assert str(path) in str(info.value)
    if case != "truncated_data":  # a truncated stream still has a header to count from
        with pytest.raises(VideoError, match=str(path)):
            count_frames(path, backend=backend)


@pytest.mark.parametrize("gray", [False, True])
@pytest.mark.parametrize("ahead", [0, 2])  # 2 < FRAMES: the decoding thread waits on a full queue
@pytest.mark.parametrize("backend", ["auto", *READER_BACKENDS])
def test_stream_frames_hands_over_what_read_frames_returns(video, backend, ahead, gray):
    streamed = []
    total = stream_frames(video, lambda rgb: streamed.append(rgb.copy()), size=(24, 32), backend=backend,
                          frames=FRAMES, ahead=ahead, gray=gray)
    assert total == FRAMES
    np.testing.assert_array_equal(np.stack(streamed), read_frames(video, size=(24, 32), backend=backend, gray=gray))
    with pytest.raises(VideoError, match="re-run `ttdf index`"):  # the index's length is checked as in read_frames
        stream_frames(video, lambda rgb: None, backend=backend, frames=FRAMES + 2, ahead=ahead)


@pytest.mark.parametrize("backend", READER_BACKENDS)
def test_gray_reads_are_the_luma_of_the_rgb_frames(video, backend):
    """Grey frames (what flow reads; PyAV takes the decoder's Y plane in video range) match RGB -> grey."""
    for indices in (None, [0, 3, 3, 7]):  # whole video, and a seeking clip read
        gray = read_frames(video, indices, backend=backend, gray=True)
        rgb = read_frames(video, indices, backend=backend)
        assert gray.shape == rgb.shape[:3] and gray.dtype == np.uint8
        expected = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in rgb]).astype(np.float32)
        assert np.abs(gray.astype(np.float32) - expected).mean() < 2.0  # 5.2 without the range stretch
    assert read_frames(video, [], backend=backend, gray=True).shape == (0, HEIGHT, WIDTH)


@pytest.mark.parametrize("backend", READER_BACKENDS)
def test_stream_frames_consumer_error_stops_the_decoding_thread(video, backend):
    """A consumer that raises gets its own exception back, and no decoder thread is left holding the file."""
    seen = []

    def consume(rgb):
        seen.append(1)
        if len(seen) == 2:
            raise RuntimeError("consumer failed")

    with pytest.raises(RuntimeError, match="consumer failed"):
        stream_frames(video, consume, backend=backend, ahead=1)
    assert len(seen) == 2
    assert not [t for t in threading.enumerate() if t.name.startswith("decode-")]


@pytest.mark.parametrize("case", ["missing", "empty", "garbage"])
def test_stream_frames_bad_files_raise_video_error(tmp_path, case):
    path = tmp_path / f"{case}.mp4"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "garbage":
        path.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(VideoError, match=str(path)):
        stream_frames(path, lambda rgb: None)


@pytest.mark.parametrize("backend", ["auto", *READER_BACKENDS])
def test_index_out_of_range(video, backend):
    with pytest.raises(VideoError, match="out of range"):
        read_frames(video, [0, FRAMES], backend=backend)
    with pytest.raises(VideoError, match="negative"):
        read_frames(video, [-1], backend=backend)


def test_empty_indices_and_bad_arguments(video):
    assert read_frames(video, []).shape == (0, HEIGHT, WIDTH, 3)
    assert read_frames(video, [], size=(8, 8)).shape == (0, 8, 8, 3)
    with pytest.raises(ValueError, match="unknown reader backend"):
        read_frames(video, [0], backend="ffmpeg")
    with pytest.raises(ValueError, match="size"):
        read_frames(video, [0], size=(0, 8))


@pytest.mark.parametrize("height, width, threads", [(48, 64, "SLICE"), (480, 640, "AUTO")])
def test_pyav_clip_reads_use_frame_threads_only_on_large_streams(tmp_path, height, width, threads):
    """After a seek, frame threading refills its pipeline: it pays only on streams of 300k pixels or more."""
    assert 48 * 64 < SEEK_FRAME_THREADS_MIN_PIXELS <= 480 * 640
    path = tmp_path / "clip.mp4"
    encode_video(path, np.zeros((2, height, width, 3), np.uint8), fps=10, preset="ultrafast")
    handle = _PyAVHandle(path)
    try:
        assert handle.stream.thread_type.name == threads
    finally:
        handle.close()
    assert read_frames(path, [1], backend="pyav").shape == (1, height, width, 3)


@pytest.mark.parametrize("degrees", [90, 180, 270])
@pytest.mark.parametrize("backend", ["pyav", "opencv"])
def test_a_phone_video_with_a_display_rotation_is_read_upright(tmp_path, degrees, backend):
    # phones store portrait video landscape plus a display matrix; players (and OpenCV) turn it upright
    path, stored = tmp_path / "phone.mp4", _gradient_frames()
    encode_with_pyav(path, stored, "libx264", {"crf": "0"}, display_rotation=degrees)
    shown = np.rot90(stored, degrees // 90, axes=(1, 2)).astype(np.float32)
    info = probe_video(path)
    assert (info.rotation, info.height, info.width) == (degrees, *shown.shape[1:3])
    frames = read_frames(path, [0, 5], backend=backend)
    assert frames.shape == (2, *shown.shape[1:]) and np.abs(frames - shown[[0, 5]]).mean() < 8.0
    assert np.abs(np.rot90(frames, 2, axes=(1, 2)) - shown[[0, 5]]).mean() > 30  # the turn is not a no-op here
    gray = read_frames(path, [5], backend=backend, gray=True)[0]
    assert gray.shape == shown.shape[1:3]
    assert np.abs(gray - cv2.cvtColor(frames[1], cv2.COLOR_RGB2GRAY).astype(np.float32)).mean() < 2.0
    assert read_frames(path, size=(20, 30), backend=backend).shape == (FRAMES, 20, 30, 3)


@pytest.mark.parametrize("degrees", [90, 180])
def test_decord_refuses_a_display_rotation_it_would_read_wrongly(tmp_path, degrees):
    path = tmp_path / "phone.mp4"
    encode_with_pyav(path, _gradient_frames(), "libx264", {"crf": "0"}, display_rotation=degrees)
    for read in (lambda: read_frames(path, [0], backend="decord"), lambda: count_frames(path, backend="decord")):
        with pytest.raises(VideoError, match=f"{path}: has a display rotation.*backend 'pyav'"):
            read()


def test_a_codec_opencv_cannot_decode_is_named_with_the_reader_that_can(video, tmp_path, monkeypatch):
    # OpenCV's bundled FFmpeg has no AV1 decoder: it opens such a file and then grabs no frame
    import ttdf.video.backends as backends

    class NoDecoder:
        def __init__(self, *args):
            pass

        def isOpened(self):
            return True

        def grab(self):
            return False

        def set(self, *args):
            return True

        def release(self):
            pass

    monkeypatch.setattr(backends.cv2, "VideoCapture", NoDecoder)
    copy = tmp_path / "clip.mp4"
    copy.write_bytes(video.read_bytes())  # a path no pooled capture holds
    for read in (lambda: read_frames(copy, [0, 3], backend="opencv"), lambda: count_frames(copy, backend="opencv")):
        with pytest.raises(VideoError, match=rf"{copy}: OpenCV decodes no frame of it \(codec h264\).*backend .pyav."):
            read()
    copy.write_bytes(b"not a video")  # PyAV cannot read it either: the file's own error
    with pytest.raises(VideoError, match="not a readable video container"):
        count_frames(copy, backend="opencv")
