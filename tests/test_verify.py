"""verify: missing, checksum, undecodable, unindexed and bad videos; the CLI's exit codes."""
from __future__ import annotations

import argparse
import os
import shutil

import pytest

from ttdf.cli import verify as verify_cli
from ttdf.cli.options import run_command
from ttdf.errors import ManifestError
from ttdf.index import index_dataset
from ttdf.manifest import write_manifest
from ttdf.records import VideoFilter
from ttdf.verify import verify_dataset
from tests.tiny_dataset import write_tiny_dataset

N_VIDEOS = 21


def _kinds(report) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for problem in report.problems:
        found.setdefault(problem.path, set()).add(problem.kind)
    return found


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ttdf")
    verify_cli.register(parser.add_subparsers(dest="command", required=True))
    return parser


@pytest.fixture()
def damaged(tmp_path):
    """The tiny dataset, indexed, then damaged in every way verify knows."""
    records = write_tiny_dataset(tmp_path)
    index_dataset(tmp_path, workers=1, progress=False)
    real = [r.path for r in records if not r.is_fake]
    fake = [r.path for r in records if r.is_fake]
    (tmp_path / real[0]).unlink()                                           # missing
    data = (tmp_path / real[1]).read_bytes()
    (tmp_path / real[1]).write_bytes(data[:2048])                           # truncated: checksum + undecodable
    write_manifest(tmp_path / "manifest.csv",
                   [r.with_(sha256="ab" * 32) if r.path == fake[0] else r for r in records])  # checksum only
    shutil.copy(tmp_path / fake[1], tmp_path / "fake/magicdance/match/raw/train/new__new.mp4")  # unindexed
    return tmp_path, real, fake


def test_clean_copy_passes(tmp_path):
    write_tiny_dataset(tmp_path)
    report = verify_dataset(tmp_path, workers=2, progress=False)
    assert (report.ok, report.problems, report.passed) == (N_VIDEOS, [], True)


def test_every_kind_of_damage_is_found_and_the_run_goes_on(damaged):
    root, real, fake = damaged
    report = verify_dataset(root, workers=2, progress=False)
    assert _kinds(report) == {
        real[0]: {"missing"},
        real[1]: {"checksum", "undecodable"},
        fake[0]: {"checksum"},
        "fake/magicdance/match/raw/train/new__new.mp4": {"unindexed"},
    }
    assert report.ok == N_VIDEOS - 3
    details = {(p.path, p.kind): p.detail for p in report.problems}
    assert "not on disk" in details[(real[0], "missing")]
    assert "re-download" in details[(fake[0], "checksum")]


def test_cheap_checks_and_filters(damaged):
    root, real, fake = damaged
    report = verify_dataset(root, checksums=False, decode=False, progress=False)
    assert set(_kinds(report)) == {real[0], "fake/magicdance/match/raw/train/new__new.mp4"}
    reals = verify_dataset(root, VideoFilter(labels=("real",)), workers=1, progress=False)
    assert set(_kinds(reals)) == {real[0], real[1]}
    assert reals.ok == 1


def test_checksums_come_from_the_index_without_a_manifest(tmp_path):
    records = write_tiny_dataset(tmp_path, sources=1, manifest=False)
    index_dataset(tmp_path, workers=1, progress=False)
    target = tmp_path / records[2].path
    stat = target.stat()
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF  # silent bit rot: same size and mtime
    target.write_bytes(bytes(data))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    report = verify_dataset(tmp_path, decode=False, workers=1, progress=False)
    assert _kinds(report) == {records[2].path: {"checksum"}}


def test_index_bad_entries_are_reported(tmp_path):
    write_tiny_dataset(tmp_path, sources=1)
    (tmp_path / "real/raw/train/junk.mp4").write_bytes(b"junk")
    index_dataset(tmp_path, workers=1, progress=False)
    report = verify_dataset(tmp_path, checksums=False, decode=False, progress=False)
    assert [(p.path, p.kind) for p in report.problems] == [("real/raw/train/junk.mp4", "bad")]
    assert "not a readable video" in report.problems[0].detail


def test_nothing_to_verify_is_a_clear_error(tmp_path):
    with pytest.raises(ManifestError, match="nothing to verify"):
        verify_dataset(tmp_path, progress=False)


def test_cli_exit_codes_and_lines(damaged, tmp_path_factory, capsys):
    root, real, _ = damaged
    assert run_command(_parser(), ["verify", "--root", str(root), "--workers", "1", "--no-progress"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert any(line.split()[:2] == ["MISSING", real[0]] for line in out)
    assert any(line.split()[:2] == ["UNINDEXED", "fake/magicdance/match/raw/train/new__new.mp4"] for line in out)
    assert out[-1] == f"{N_VIDEOS - 3} video(s) ok, 5 problem(s)"

    clean = tmp_path_factory.mktemp("clean")
    write_tiny_dataset(clean, sources=1)
    assert run_command(_parser(), ["verify", "--root", str(clean), "--no-decode", "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == "7 video(s) ok, 0 problem(s)"

    empty = tmp_path_factory.mktemp("empty")
    assert run_command(_parser(), ["verify", "--root", str(empty), "--no-progress"]) == 2
    assert "nothing to verify" in capsys.readouterr().err


def test_identities_shared_between_splits_are_leaks(tmp_path, capsys):
    records = write_tiny_dataset(tmp_path, methods=("magicdance",), leak=True)  # cross poses from another split
    report = verify_dataset(tmp_path, checksums=False, decode=False, progress=False)
    borrowed = {r.path: r for r in records if r.pose_id != r.identity_id}
    assert len(borrowed) == 3 and _kinds(report) == {path: {"leak"} for path in borrowed}
    problem = next(p for p in report.problems if p.path == "fake/magicdance/mismatch/raw/train/s000__s001.mp4")
    assert problem.detail.startswith("uses the pose of s001, a val source, from the train split")
    assert set(_kinds(verify_dataset(tmp_path, VideoFilter(splits=("val",)), checksums=False, decode=False,
                                     progress=False))) == {p for p, r in borrowed.items() if r.split == "val"}
    assert run_command(_parser(), ["verify", "--root", str(tmp_path), "--no-decode", "--no-progress"]) == 1
    assert "LEAK" in capsys.readouterr().out
