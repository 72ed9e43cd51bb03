import numpy as np
import pytest

from ttdf.errors import ManifestError, VideoError
from ttdf.fsutil import atomic_path, check_relative_path, is_temp_file
from ttdf.video import encode_video, iter_frames, probe_video


def test_encode_probe_decode(tmp_path):
    frames = np.zeros((7, 32, 48, 3), np.uint8)
    frames[:, :, :, 0] = np.arange(7)[:, None, None] * 30
    path = tmp_path / "v.mp4"
    assert encode_video(path, frames, fps=12.5, crf=0, preset="ultrafast") == 7
    info = probe_video(path, decode=True)
    assert (info.frames, info.width, info.height, info.codec) == (7, 48, 32, "h264")
    assert info.fps == pytest.approx(12.5)
    decoded = np.stack(list(iter_frames(path)))
    assert decoded.shape == frames.shape
    assert np.abs(decoded[..., 0].astype(int) - frames[..., 0]).mean() < 3
    assert not [p for p in tmp_path.iterdir() if is_temp_file(p)]


def test_lossless_presets_decode_to_the_same_pixels(tmp_path):
    """Raw videos are written with the fastest preset: at crf 0 the preset must change only speed and size."""
    from ttdf.generate import LOSSLESS_PRESET, LOSSY_PRESET
    frames = np.random.default_rng(0).integers(0, 255, (6, 32, 48, 3), dtype=np.uint8)
    frames[3:] = np.roll(frames[:3], 2, axis=2)  # motion, so inter prediction is used
    decoded = []
    for preset in (LOSSLESS_PRESET, LOSSY_PRESET, "medium"):
        encode_video(tmp_path / f"{preset}.mp4", frames, fps=10, crf=0, preset=preset, threads=1)
        decoded.append(np.stack(list(iter_frames(tmp_path / f"{preset}.mp4"))))
    assert LOSSLESS_PRESET != "medium" and (tmp_path / f"{LOSSLESS_PRESET}.mp4").read_bytes() != \
        (tmp_path / "medium.mp4").read_bytes()  # other bytes...
    for other in decoded[1:]:
        np.testing.assert_array_equal(decoded[0], other)  # ...the same pictures


@pytest.mark.parametrize("content, reason", [(b"", "empty"), (b"not a video" * 50, "not a readable video")])
def test_bad_videos_name_the_file(tmp_path, content, reason):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoError, match=reason) as info:
        probe_video(path)
    assert str(path) in str(info.value)


def test_truncated_video_is_an_error(tmp_path):
    path = tmp_path / "v.mp4"
    encode_video(path, np.random.default_rng(0).integers(0, 255, (20, 64, 64, 3), dtype=np.uint8), fps=10, crf=0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError):
        probe_video(path, decode=True)


def test_failed_encode_leaves_nothing(tmp_path):
    def frames():
        yield np.zeros((16, 16, 3), np.uint8)
        raise RuntimeError("generator died")

    with pytest.raises(RuntimeError):
        encode_video(tmp_path / "v.mp4", frames(), fps=10)
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(ZeroDivisionError):
        with atomic_path(target) as tmp:
            tmp.write_text("new")
            1 / 0
    assert target.read_text() == "old" and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("bad", ["", "/etc/passwd", "a/../../b", "C:/x", "a\\b", ".."])
def test_unsafe_relative_paths(bad):
    with pytest.raises(ManifestError):
        check_relative_path(bad)


def test_relative_paths_are_normalised():
    assert check_relative_path("./real//raw/a.mp4") == "real/raw/a.mp4"
