from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

import numpy as np
import pytest

from tests.tiny_dataset import write_tiny_dataset
from tofnet import flow_cache
from tofnet.cli import flow as flow_cli
from tofnet.flow import FlowEstimator, create_flow_estimator, flow_cache_key
from tofnet.flow_cache import FlowCache, FlowNotCachedError, compute_flow_for_index, load_or_compute_flow
from ttdf.cli.options import run_command
from ttdf.errors import VideoError
from ttdf.fsutil import sha256_file
from ttdf.index import index_dataset
from ttdf.records import VideoFilter
from ttdf.video import encode_video

SHA = "ab" + "0" * 62


@dataclass
class CountingDIS(FlowEstimator):
    """DIS that counts its calls, to prove a cache hit computes nothing."""

    preset: str = "ultrafast"
    calls: int = 0
    name = "dis"

    def params(self):
        return {"preset": self.preset}

    def _compute(self, frames):
        self.calls += 1
        return create_flow_estimator("dis", preset=self.preset)(frames)


@pytest.fixture
def video(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, size=(5, 24, 32, 3), dtype=np.uint8)
    path = tmp_path / "v.mp4"
    encode_video(path, frames, fps=10, crf=0, preset="ultrafast")
    return path


def test_put_get_round_trip_float16(tmp_path):
    cache = FlowCache(tmp_path / "cache")
    flow = np.random.default_rng(0).normal(0, 3, size=(4, 2, 6, 8)).astype(np.float32)
    path = cache.put(SHA, "dis-12345678", flow)
    assert path == tmp_path / "cache" / "dis-12345678" / "ab" / f"{SHA}.npy" == cache.path_for(SHA, "dis-12345678")
    assert np.load(path).dtype == np.float16
    got = cache.get(SHA, "dis-12345678")
    assert got.dtype == np.float16 and got.shape == flow.shape
    assert isinstance(got, np.memmap)  # clips read only the frames they sample
    np.testing.assert_allclose(got, flow, atol=0.01)
    assert cache.get(SHA, "dis-87654321") is None
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    assert FlowCache.for_root(tmp_path).cache_dir == tmp_path / ".ttdf" / "flow"
    with pytest.raises(ValueError, match="invalid flow cache entry"):
        cache.path_for("../../etc", "dis-1")
    with pytest.raises(ValueError, match="shape"):
        cache.put(SHA, "dis-1", np.zeros((2, 3, 4, 4)))


def test_corrupt_entry_is_deleted_and_missed(tmp_path):
    cache = FlowCache(tmp_path)
    path = cache.put(SHA, "k", np.zeros((1, 2, 4, 4), np.float32))
    path.write_bytes(path.read_bytes()[:20])
    assert cache.get(SHA, "k") is None
    assert not path.exists()


def test_cache_hit_returns_the_same_array_without_recomputing(tmp_path, video):
    cache = FlowCache(tmp_path / "cache")
    estimator = CountingDIS()
    first = load_or_compute_flow(video, None, estimator=estimator, size=(16, 16), cache=cache)
    assert first.shape == (4, 2, 16, 16) and first.dtype == np.float16 and estimator.calls == 1
    assert cache.path_for(sha256_file(video), flow_cache_key(estimator, (16, 16))).is_file()  # sha from the file
    again = load_or_compute_flow(video, sha256_file(video), estimator=estimator, size=(16, 16), cache=cache)
    np.testing.assert_array_equal(again, first)
    assert estimator.calls == 1
    # A cached video need not be on disk any more when its sha256 is known.
    moved = video.rename(video.with_name("gone.mp4"))
    assert load_or_compute_flow(video, sha256_file(moved), estimator=estimator, size=(16, 16), cache=cache) is not None
    assert estimator.calls == 1


def test_key_changes_recompute(tmp_path, video):
    cache = FlowCache(tmp_path / "cache")
    estimator = CountingDIS()
    load_or_compute_flow(video, None, estimator=estimator, size=(16, 16), cache=cache)
    assert load_or_compute_flow(video, None, estimator=estimator, size=(12, 16), cache=cache).shape == (4, 2, 12, 16)
    assert estimator.calls == 2
    load_or_compute_flow(video, None, estimator=CountingDIS(preset="fast"), size=(16, 16), cache=cache)
    assert len(list((tmp_path / "cache").iterdir())) == 3  # one folder per key


def test_corrupt_cache_file_is_recomputed(tmp_path, video):
    cache = FlowCache(tmp_path / "cache")
    estimator = CountingDIS()
    first = load_or_compute_flow(video, None, estimator=estimator, size=(16, 16), cache=cache)
    entry = cache.path_for(sha256_file(video), flow_cache_key(estimator, (16, 16)))
    entry.write_bytes(b"PK\x03\x04 truncated")
    again = load_or_compute_flow(video, None, estimator=estimator, size=(16, 16), cache=cache)
    assert estimator.calls == 2
    np.testing.assert_array_equal(again, first)
    assert cache.get(sha256_file(video), flow_cache_key(estimator, (16, 16))) is not None


def test_compute_missing_false_and_no_cache(tmp_path, video):
    estimator = CountingDIS()
    with pytest.raises(FlowNotCachedError, match="tofnet flow"):
        load_or_compute_flow(video, None, estimator=estimator, size=(16, 16), cache=FlowCache(tmp_path / "c"),
                             compute_missing=False)
    uncached = load_or_compute_flow(video, None, estimator=estimator, size=(16, 16), cache=None)
    assert uncached.dtype == np.float16 and estimator.calls == 1  # float16 either way: results never depend on it
    with pytest.raises(VideoError, match="not found"):
        load_or_compute_flow(tmp_path / "missing.mp4", None, estimator=estimator, size=(16, 16),
                             cache=FlowCache(tmp_path / "c"))


# -- batch job over the index ------------------------------------------------------------------------------


@pytest.fixture
def indexed_root(tmp_path):
    root = tmp_path / "ds"
    records = write_tiny_dataset(root, sources=2, frames=4, size=(24, 24), methods=("animateanyone",),
                                 configs=("match",))
    report = index_dataset(root, workers=1, progress=False)
    assert not report.bad
    return root, sorted(r.path for r in records)


def _cached_files(root):
    return sorted((root / ".ttdf" / "flow").rglob("*.npy"))


def test_shards_cover_every_video_once_and_rerun_is_all_cached(indexed_root):
    root, paths = indexed_root
    first = compute_flow_for_index(root, shard=(0, 2), size=(16, 16), progress=False)
    second = compute_flow_for_index(root, shard=(1, 2), size=(16, 16), workers=2, progress=False)  # process pool
    assert (first.computed, second.computed) == ((len(paths) + 1) // 2, len(paths) // 2)
    assert first.cached == second.cached == 0 and not first.failed and not second.failed
    assert len(_cached_files(root)) == len(paths)
    rerun = compute_flow_for_index(root, size=(16, 16), progress=False)
    assert (rerun.computed, rerun.cached, rerun.failed) == (0, len(paths), [])
    reals = compute_flow_for_index(root, VideoFilter(labels=("real",)), size=(16, 16), progress=False)
    assert reals.cached == sum(p.startswith("real/") for p in paths)


def test_a_corrupt_video_fails_alone(indexed_root):
    root, paths = indexed_root
    bad = paths[1]
    (root / bad).write_bytes(b"\x00garbage" * 100)  # corrupted after indexing: the index still says ok
    report = compute_flow_for_index(root, size=(16, 16), workers=1, progress=False)
    assert [path for path, _ in report.failed] == [bad]
    assert "not a readable video" in report.failed[0][1]
    assert report.computed == len(paths) - 1
    assert len(_cached_files(root)) == len(paths) - 1


_CRASH_ON = "fake/"  # a path prefix; every video whose path starts with it kills its worker


def _crash_on_fakes(job):
    """``_flow_job`` in a worker, except that it dies like a segfaulting decoder on the fake videos."""
    if job[0].startswith(_CRASH_ON):
        os._exit(1)
    return flow_cache._flow_job(job)


def test_a_crashing_worker_fails_only_its_videos(indexed_root, monkeypatch):
    root, paths = indexed_root
    monkeypatch.setattr(flow_cache, "_flow_job", _crash_on_fakes)  # picklable: spawned workers import this module
    report = compute_flow_for_index(root, size=(16, 16), workers=2, progress=False)
    crashed = [p for p in paths if p.startswith(_CRASH_ON)]
    assert crashed and [path for path, _ in report.failed] == crashed
    assert all("worker process crashed" in reason for _, reason in report.failed)
    assert report.computed == len(paths) - len(crashed)
    assert len(_cached_files(root)) == len(paths) - len(crashed)


# -- CLI ---------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tofnet")
    flow_cli.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli_shard_and_size_parsing(capsys):
    args = _parser().parse_args(["flow", "--shard", "0/2", "--size", "64x96"])
    assert args.shard == (0, 2) and args.size == (64, 96) and args.flow_backend == "dis"
    for bad in (["--shard", "2/2"], ["--shard", "1/0"], ["--shard", "x"], ["--size", "0x4"], ["--size", "big"]):
        with pytest.raises(SystemExit):
            _parser().parse_args(["flow", *bad])
    capsys.readouterr()
    with pytest.raises(SystemExit):
        _parser().parse_args(["flow", "--shard", "2/2"])
    assert "out of range: i must be 0..n-1 (for n=2: 0/2, 1/2)" in capsys.readouterr().err


def test_cli_runs_and_reports_failures(indexed_root, capsys):
    root, paths = indexed_root
    argv = ["flow", "--root", str(root), "--flow-backend", "dis", "--size", "16x16", "--workers", "1",
            "--no-progress"]
    assert run_command(_parser(), argv) == 0
    assert f"computed {len(paths)}, cached 0, failed 0" in capsys.readouterr().out
    (root / paths[0]).write_bytes(b"garbage")
    (root / ".ttdf" / "flow").rename(root / "old-flow")  # force recomputation
    assert run_command(_parser(), argv) == 1
    out, err = capsys.readouterr()
    assert f"computed {len(paths) - 1}, cached 0, failed 1" in out and f"failed {paths[0]}:" in err
    assert run_command(_parser(), argv + ["--flow-weights", "w.pth"]) == 2
    assert "--flow-weights is for the RAFT backends" in capsys.readouterr().err
