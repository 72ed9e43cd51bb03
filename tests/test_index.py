"""The index: cold and incremental runs, bad videos, checksums, corruption, interruption."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import ttdf.index as index_module
from ttdf.errors import IndexDatabaseError
from ttdf.index import INDEX_FILE, UNINFERABLE, IndexedVideo, VideoIndex, index_dataset
from ttdf.manifest import write_manifest
from ttdf.records import VideoFilter
from ttdf.video import encode_video
from tests.tiny_dataset import write_tiny_dataset

N_VIDEOS = 21  # 3 sources x (1 real + 3 methods x 2 configs)


def _noise_video(path: Path, frames: int = 4) -> None:
    video = np.random.default_rng(1).integers(0, 256, size=(frames, 16, 16, 3), dtype=np.uint8)
    encode_video(path, video, fps=5, crf=0, preset="ultrafast")


def test_cold_index_takes_metadata_from_manifest_and_probes(tmp_path):
    records = write_tiny_dataset(tmp_path)
    report = index_dataset(tmp_path, workers=2, progress=False)

    assert (report.added, report.updated, report.unchanged, report.removed, report.bad) == (N_VIDEOS, 0, 0, 0, [])
    assert report.total == N_VIDEOS
    with VideoIndex.open(tmp_path) as index:
        videos = index.query()
        assert [v.path for v in videos] == sorted(r.path for r in records)
        assert {v.record for v in videos} == set(records)  # frames/fps/size/sha256 probed == what was written
        first = videos[0]
        assert first.status == "ok" and first.error is None and first.codec == "h264"
        assert first.size == (tmp_path / first.path).stat().st_size
        assert first.duration == pytest.approx(0.6)
        assert index.get(first.path) == first
        assert index.get("nope.mp4") is None


def test_metadata_from_path_convention_and_manifest_for_off_layout_files(tmp_path):
    records = write_tiny_dataset(tmp_path, sources=2, methods=("magicanimate",), manifest=False)
    # A file off the layout is fine when the manifest says what it is.
    _noise_video(tmp_path / "incoming" / "clip.mp4")
    extra = records[1].with_(path="incoming/clip.mp4", identity_id="clip", pose_id="clip", sha256=None)
    write_manifest(tmp_path / "manifest.csv", [extra])

    report = index_dataset(tmp_path, workers=1, progress=False)

    assert report.added == len(records) + 1 and report.bad == []
    with VideoIndex.open(tmp_path) as index:
        by_path = {v.path: v.record for v in index.query()}
    for record in records:
        got = by_path[record.path]
        assert (got.label, got.method, got.config, got.identity_id, got.pose_id, got.split, got.compression) == (
            record.label, record.method, record.config, record.identity_id, record.pose_id, record.split,
            record.compression)
    clip = by_path["incoming/clip.mp4"]
    assert (clip.label, clip.method, clip.identity_id, clip.frames, clip.width) == (
        extra.label, extra.method, "clip", 4, 16)


def test_incremental_rerun_skips_unchanged_and_reprobes_changed(tmp_path):
    records = write_tiny_dataset(tmp_path)
    index_dataset(tmp_path, workers=1, progress=False)

    again = index_dataset(tmp_path, workers=1, progress=False)
    assert (again.added, again.updated, again.unchanged, again.removed) == (0, 0, N_VIDEOS, 0)

    touched, rewritten, deleted = records[0].path, records[1].path, records[2].path
    os.utime(tmp_path / touched, ns=(1_000_000_000, 1_000_000_000))
    _noise_video(tmp_path / rewritten, frames=9)
    (tmp_path / deleted).unlink()
    write_manifest(tmp_path / "manifest.csv", [r.with_(sha256=None) if r.path == rewritten else r
                                               for r in records if r.path != deleted])

    third = index_dataset(tmp_path, workers=1, progress=False)
    assert (third.added, third.updated, third.unchanged, third.removed) == (0, 2, N_VIDEOS - 3, 1)
    with VideoIndex.open(tmp_path) as index:
        assert index.get(deleted) is None
        assert index.get(rewritten).record.frames == 9
        assert index.get(touched).mtime_ns == 1_000_000_000
        assert len(index.query()) == N_VIDEOS - 1


def test_broken_and_unplaceable_videos_are_recorded_bad_and_the_rest_indexes(tmp_path):
    write_tiny_dataset(tmp_path)
    good = (tmp_path / "real/raw/train/s000.mp4").read_bytes()
    (tmp_path / "real/raw/train/empty.mp4").write_bytes(b"")
    (tmp_path / "real/raw/train/trunc.mp4").write_bytes(good[:2048])
    (tmp_path / "real/raw/val/garbage.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    _noise_video(tmp_path / "misc" / "clip.mp4")
    (tmp_path / "real/raw/train/.s009.abc.tmp.mp4").write_bytes(good)  # leftover of an interrupted write
    (tmp_path / ".ttdf").mkdir()
    (tmp_path / ".ttdf/cached.mp4").write_bytes(good)

    report = index_dataset(tmp_path, workers=2, progress=False)

    assert report.added == N_VIDEOS + 4
    reasons = dict(report.bad)
    assert sorted(reasons) == ["misc/clip.mp4", "real/raw/train/empty.mp4", "real/raw/train/trunc.mp4",
                               "real/raw/val/garbage.mp4"]
    assert "empty" in reasons["real/raw/train/empty.mp4"]
    assert "not a readable video" in reasons["real/raw/train/trunc.mp4"]
    assert "not a readable video" in reasons["real/raw/val/garbage.mp4"]
    assert reasons["misc/clip.mp4"] == UNINFERABLE
    with VideoIndex.open(tmp_path) as index:
        assert len(index.query()) == N_VIDEOS
        bad = index.query(status="bad")
        assert [v.path for v in bad] == sorted(reasons)
        assert all(v.error for v in bad)
        assert len(index.query(status=None)) == N_VIDEOS + 4
        # a bad video keeps its place in the taxonomy when the path says it
        trunc = index.get("real/raw/train/trunc.mp4")
        assert (trunc.record.label, trunc.record.split, trunc.record.frames) == ("real", "train", None)
    # bad files are reported again on an unchanged rerun
    assert dict(index_dataset(tmp_path, workers=1, progress=False).bad) == reasons


def test_checksum_mismatch_is_bad_until_the_manifest_or_file_is_fixed(tmp_path):
    records = write_tiny_dataset(tmp_path)
    victim = records[4]
    write_manifest(tmp_path / "manifest.csv", [r.with_(sha256="0" * 64) if r == victim else r for r in records])

    report = index_dataset(tmp_path, workers=1, progress=False)
    assert [p for p, _ in report.bad] == [victim.path]
    assert "checksum mismatch" in report.bad[0][1] and "re-download" in report.bad[0][1]

    write_manifest(tmp_path / "manifest.csv", records)  # manifest fixed, file untouched: re-checked anyway
    again = index_dataset(tmp_path, workers=1, progress=False)
    assert (again.updated, again.unchanged, again.bad) == (1, N_VIDEOS - 1, [])


def test_no_checksums_then_checksums_fills_them_in(tmp_path):
    write_tiny_dataset(tmp_path, sources=1)
    index_dataset(tmp_path, workers=1, checksums=False, progress=False)
    with VideoIndex.open(tmp_path) as index:
        assert all(v.record.sha256 is None for v in index.query())
    report = index_dataset(tmp_path, workers=1, progress=False)
    assert report.updated == 7
    with VideoIndex.open(tmp_path) as index:
        assert all(v.record.sha256 for v in index.query())


def test_paths_restricts_the_run_and_forgets_deleted_outputs(tmp_path):
    records = write_tiny_dataset(tmp_path)
    one, two = records[0].path, records[1].path
    report = index_dataset(tmp_path, paths=[one], workers=1, progress=False)
    assert (report.added, report.removed) == (1, 0)
    index_dataset(tmp_path, paths=[two], workers=1, progress=False)
    (tmp_path / two).unlink()
    report = index_dataset(tmp_path, paths=[two], workers=1, progress=False)
    assert report.removed == 1
    with VideoIndex.open(tmp_path) as index:
        assert [v.path for v in index.query()] == [one]


def test_missing_index_says_how_to_build_it(tmp_path):
    with pytest.raises(IndexDatabaseError, match=r"no index at .*run `ttdf index --root"):
        VideoIndex.open(tmp_path)


def test_corrupt_index_is_refused_then_rebuilt_keeping_the_old_file(tmp_path):
    write_tiny_dataset(tmp_path, sources=1)
    db = tmp_path / INDEX_FILE
    db.parent.mkdir()
    db.write_bytes(b"this is not sqlite" * 100)

    with pytest.raises(IndexDatabaseError, match=r"is corrupt .*ttdf index --rebuild --root"):
        VideoIndex.open(tmp_path)
    with pytest.raises(IndexDatabaseError, match="corrupt"):
        index_dataset(tmp_path, workers=1, progress=False)

    report = index_dataset(tmp_path, workers=1, rebuild=True, progress=False)
    assert report.added == 7
    aside = list(db.parent.glob("index.sqlite.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == b"this is not sqlite" * 100
    with VideoIndex.open(tmp_path) as index:
        assert len(index.query()) == 7


def test_broken_schema_and_future_versions_are_refused(tmp_path):
    db = tmp_path / INDEX_FILE
    db.parent.mkdir()
    with sqlite3.connect(db) as conn:
        conn.executescript("CREATE TABLE videos (path TEXT); PRAGMA user_version = 1;")
    conn.close()
    with pytest.raises(IndexDatabaseError, match="corrupt .*lacks column"):
        VideoIndex.open(tmp_path)
    db.unlink()
    VideoIndex.open(tmp_path, create=True).close()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(IndexDatabaseError, match="newer ttdf"):
        VideoIndex.open(tmp_path)


def test_rebuild_of_a_healthy_index_reprobes_everything(tmp_path):
    write_tiny_dataset(tmp_path, sources=1)
    index_dataset(tmp_path, workers=1, progress=False)
    report = index_dataset(tmp_path, workers=1, rebuild=True, progress=False)
    assert (report.added, report.unchanged) == (7, 0)
    assert not list((tmp_path / ".ttdf").glob("*.corrupt-*"))


def test_interrupted_index_keeps_finished_work_and_a_rerun_completes(tmp_path, monkeypatch):
    write_tiny_dataset(tmp_path)
    real_probe = index_module.probe_video
    calls = []

    def probe_then_interrupt(path, **kwargs):
        calls.append(path)
        if len(calls) == 8:
            raise KeyboardInterrupt
        return real_probe(path, **kwargs)

    monkeypatch.setattr(index_module, "probe_video", probe_then_interrupt)
    monkeypatch.setattr(index_module, "_BATCH_SIZE", 3)
    with pytest.raises(KeyboardInterrupt):
        index_dataset(tmp_path, workers=1, progress=False)
    with VideoIndex.open(tmp_path) as index:
        assert len(index.query()) == 7

    monkeypatch.setattr(index_module, "probe_video", real_probe)
    report = index_dataset(tmp_path, workers=1, progress=False)
    assert (report.added, report.unchanged, report.bad) == (N_VIDEOS - 7, 7, [])
    with VideoIndex.open(tmp_path) as index:
        assert len(index.query()) == N_VIDEOS


def test_batches_are_committed_while_running(tmp_path, monkeypatch):
    """A killed run (no cleanup at all) still keeps every committed batch."""
    write_tiny_dataset(tmp_path, sources=1)
    real_probe = index_module.probe_video
    seen = []

    def probe_then_check(path, **kwargs):
        seen.append(path)
        if len(seen) == 6:  # two batches of 2 are done: another connection must see them already
            with sqlite3.connect(tmp_path / INDEX_FILE) as conn:
                assert conn.execute("SELECT COUNT(*) FROM videos").fetchone()[0] == 4
        return real_probe(path, **kwargs)

    monkeypatch.setattr(index_module, "probe_video", probe_then_check)
    monkeypatch.setattr(index_module, "_BATCH_SIZE", 2)
    assert index_dataset(tmp_path, workers=1, progress=False).added == 7


def test_upsert_query_filter_and_remove(tmp_path):
    records = write_tiny_dataset(tmp_path, sources=1, manifest=False)
    with VideoIndex.open(tmp_path, create=True) as index:
        index.upsert(IndexedVideo(record=r, size=1, mtime_ns=2) for r in records)
        assert len(index.query()) == 7
        fakes = index.query(VideoFilter(labels=("fake",), methods=("magicdance",)))
        assert {v.record.method for v in fakes} == {"magicdance"} and len(fakes) == 2
        with_reals = index.query(VideoFilter(methods=("magicdance",)))
        assert len(with_reals) == 3  # methods constrain fakes only
        index.remove([records[0].path])
        assert index.get(records[0].path) is None
        with pytest.raises(ValueError):
            index.upsert([IndexedVideo(record=records[1], size=1, mtime_ns=2, status="weird")])
    # rows written by upsert carry no change key: the next run probes them for real
    report = index_dataset(tmp_path, workers=1, progress=False)
    assert (report.added, report.updated) == (1, 6)
