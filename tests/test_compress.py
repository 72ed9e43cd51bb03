"""ttdf compress: c23/c40 outputs, resume after interruption, bad sources, registration, CLI."""
from __future__ import annotations

import argparse
from pathlib import Path

import av
import numpy as np
import pytest

import ttdf.compress
from tests.tiny_dataset import encode_with_pyav, write_tiny_dataset
from ttdf.cli import compress as cli_compress
from ttdf.cli.options import run_command
from ttdf.compress import compress_dataset
from ttdf.errors import IndexDatabaseError, TTDFError
from ttdf.fsutil import sha256_file
from ttdf.index import VideoIndex, index_dataset
from ttdf.manifest import read_manifest
from ttdf.records import VideoFilter, relative_path
from ttdf.taxonomy import load_taxonomy
from ttdf.video import probe_video

TAXONOMY = load_taxonomy()


def _dataset(root: Path, **kwargs):
    records = write_tiny_dataset(root, sources=2, methods=("magicanimate",), **kwargs)
    index_dataset(root, workers=1, progress=False)
    return records


def _output(record, compression: str) -> str:
    return relative_path(TAXONOMY, label=record.label, split=record.split, compression=compression,
                         identity_id=record.identity_id, pose_id=record.pose_id, method=record.method,
                         config=record.config)


def _temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*.tmp*")]


def test_compress_writes_c23_and_c40_registers_and_indexes(tmp_path):
    records = _dataset(tmp_path)
    report = compress_dataset(tmp_path, [23, 40], workers=2, progress=False)

    expected = sorted(_output(r, c) for r in records for c in ("c23", "c40"))
    assert report.written == expected and not report.skipped and not report.failed
    for record in records:
        c23, c40 = tmp_path / _output(record, "c23"), tmp_path / _output(record, "c40")
        assert probe_video(c23, decode=True).frames == record.frames == probe_video(c40, decode=True).frames
        assert probe_video(c40).fps == pytest.approx(10.0)
    size = {c: sum((tmp_path / _output(r, c)).stat().st_size for r in records) for c in ("c23", "c40")}
    assert size["c40"] < size["c23"]

    manifest = {r.path: r for r in read_manifest(tmp_path / "manifest.csv")}
    assert set(manifest) == {r.path for r in records} | set(expected)  # merged, the raw rows kept
    for path in expected:
        row = manifest[path]
        assert row.compression == path.split("/")[-3] and row.compression in ("c23", "c40")
        assert row.sha256 == sha256_file(tmp_path / path) and (row.frames, row.width, row.height) == (6, 32, 32)
    with VideoIndex.open(tmp_path) as index:
        indexed = {v.path: v.record.compression for v in index.query(VideoFilter(compressions=("c23", "c40")))}
    assert indexed == {p: manifest[p].compression for p in expected}
    assert not _temp_files(tmp_path)


def test_rerun_skips_everything(tmp_path):
    _dataset(tmp_path)
    first = compress_dataset(tmp_path, [40], workers=1, progress=False)
    mtimes = {p: (tmp_path / p).stat().st_mtime_ns for p in first.written}
    second = compress_dataset(tmp_path, [40], workers=1, progress=False)
    assert not second.written and second.skipped == first.written and not second.failed
    assert mtimes == {p: (tmp_path / p).stat().st_mtime_ns for p in first.written}


def test_interrupted_compress_resumes_and_leaves_no_temp_files(tmp_path, monkeypatch):
    records = _dataset(tmp_path)
    real_frames = ttdf.compress._decoded_frames
    calls = []

    def interrupted_frames(source, container, stream):
        calls.append(source)
        frames = real_frames(source, container, stream)
        if len(calls) == 3:  # Ctrl-C in the middle of the third file
            yield next(frames)
            raise KeyboardInterrupt
        yield from frames

    monkeypatch.setattr(ttdf.compress, "_decoded_frames", interrupted_frames)
    with pytest.raises(KeyboardInterrupt):
        compress_dataset(tmp_path, [23, 40], workers=1, progress=False)
    assert not _temp_files(tmp_path)
    outputs = sorted(_output(r, c) for r in records for c in ("c23", "c40"))
    written = [p for p in outputs if (tmp_path / p).exists()]
    assert len(written) == 2  # the interrupted third output is not left half-written
    registered = {r.path for r in read_manifest(tmp_path / "manifest.csv")}
    assert set(written) <= registered  # finished work kept

    monkeypatch.setattr(ttdf.compress, "_decoded_frames", real_frames)
    report = compress_dataset(tmp_path, [23, 40], workers=1, progress=False)
    expected = sorted(_output(r, c) for r in records for c in ("c23", "c40"))
    assert len(report.skipped) == 2 and len(report.written) == len(expected) - 2
    assert all((tmp_path / p).is_file() for p in expected) and not _temp_files(tmp_path)
    assert set(expected) <= {r.path for r in read_manifest(tmp_path / "manifest.csv")}


def test_corrupt_source_is_reported_and_others_are_written(tmp_path):
    records = _dataset(tmp_path)
    bad = records[0]
    (tmp_path / bad.path).write_bytes(np.random.default_rng(1).bytes(2000))  # broken after indexing
    report = compress_dataset(tmp_path, [23], workers=2, progress=False)
    assert [path for path, _ in report.failed] == [bad.path]
    assert report.failed[0][1]  # a reason, not an empty string
    assert report.written == sorted(_output(r, "c23") for r in records[1:])
    assert not (tmp_path / _output(bad, "c23")).exists() and not _temp_files(tmp_path)


def test_filters_and_arguments(tmp_path):
    records = _dataset(tmp_path)
    report = compress_dataset(tmp_path, [30], filt=VideoFilter(labels=("real",)), workers=1, progress=False)
    assert report.written == sorted(_output(r, "crf30") for r in records if r.label == "real")
    with pytest.raises(TTDFError, match="0..51"):
        compress_dataset(tmp_path, [99], progress=False)
    with pytest.raises(TTDFError, match="--from"):
        compress_dataset(tmp_path, [23], filt=VideoFilter(compressions=("c40",)), progress=False)
    with pytest.raises(TTDFError, match="preset"):
        compress_dataset(tmp_path, [23], preset="warp", progress=False)


def test_missing_index_says_what_to_do(tmp_path):
    write_tiny_dataset(tmp_path, sources=1, methods=("magicanimate",), configs=("match",))
    with pytest.raises(IndexDatabaseError, match="ttdf index"):
        compress_dataset(tmp_path, [23], progress=False)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ttdf")
    cli_compress.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli(tmp_path, capsys):
    _dataset(tmp_path, configs=("match",))
    assert run_command(_parser(), ["compress", "--root", str(tmp_path), "--crf", "40", "--preset", "ultrafast",
                                   "--workers", "1", "--no-progress"]) == 0
    assert "4 written" in capsys.readouterr().out

    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(["compress", "--crf", "99"])
    assert exc.value.code == 2 and "0..51" in capsys.readouterr().err

    assert run_command(_parser(), ["compress", "--root", str(tmp_path / "nowhere"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ttdf: error:") and "ttdf index" in err


def test_odd_frame_size_is_cropped_to_even(tmp_path):
    rel = relative_path(TAXONOMY, label="real", split="test", compression="raw", identity_id="odd", pose_id="odd")
    (tmp_path / rel).parent.mkdir(parents=True)
    with av.open(str(tmp_path / rel), mode="w") as container:  # yuv444p allows an odd size, yuv420p does not
        stream = container.add_stream("libx264", rate=10)
        stream.pix_fmt, stream.height, stream.width = "yuv444p", 33, 31
        for array in np.random.default_rng(0).integers(0, 256, (6, 33, 31, 3), dtype=np.uint8):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode())
    index_dataset(tmp_path, workers=1, progress=False)
    report = compress_dataset(tmp_path, [23], workers=1, progress=False)
    assert report.written == [rel.replace("/raw/", "/c23/")] and not report.failed
    info = probe_video(tmp_path / report.written[0], decode=True)
    assert (info.height, info.width, info.frames) == (32, 30, 6)


def test_a_phone_video_keeps_its_display_rotation_when_compressed(tmp_path):
    from ttdf.compress import transcode
    from ttdf.video import read_frames

    frames = np.random.default_rng(0).integers(0, 256, (4, 32, 48, 3), dtype=np.uint8)
    encode_with_pyav(tmp_path / "phone.mp4", frames, "libx264", {"crf": "0"}, display_rotation=90)
    assert transcode(tmp_path / "phone.mp4", tmp_path / "c23.mp4", crf=23) == 4
    info = probe_video(tmp_path / "c23.mp4")
    assert (info.rotation, info.height, info.width) == (90, 48, 32)  # shown portrait, as its source
    raw, c23 = (read_frames(tmp_path / name, [0]).astype(np.float32) for name in ("phone.mp4", "c23.mp4"))
    assert np.abs(raw - c23).mean() < np.abs(raw - np.rot90(c23, 2, axes=(1, 2))).mean()
