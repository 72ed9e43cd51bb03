"""ttdf import: metadata from a manifest or the layout, copy/hardlink/symlink, safety, CLI."""
from __future__ import annotations

import argparse
import errno
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

import ttdf.importing
from tests.tiny_dataset import write_tiny_dataset
from ttdf.cli import importing as cli_importing
from tofnet.train import TrainConfig
from ttdf.cli import main as ttdf_main
from ttdf.cli.options import run_command
from ttdf.errors import ManifestError, TTDFError
from ttdf.fsutil import sha256_file
from ttdf.importing import (AUTO_SPLIT_FRACTIONS, FolderSpec, auto_split, ids_from_name, import_dataset,
                            sanitise_id)
from ttdf.index import VideoIndex
from ttdf.manifest import read_manifest, write_manifest
from ttdf.records import VideoFilter
from ttdf.taxonomy import EXTENSION_FILE, load_taxonomy
from ttdf.video import encode_video


def _source(tmp_path: Path, **kwargs) -> tuple[Path, list]:
    src = tmp_path / "src"
    records = write_tiny_dataset(src, sources=2, methods=("magicanimate",), **kwargs)
    return src, records


def _indexed(root: Path) -> dict[str, str]:
    with VideoIndex.open(root) as index:
        return {v.path: v.record.label for v in index.query()}


def test_import_infers_metadata_from_the_layout(tmp_path):
    src, records = _source(tmp_path, manifest=False)
    (src / "README.md").write_text("about")
    (src / "fake/magicanimate/match/raw/train/noseparator.mp4").write_bytes(b"x")
    (src / "clips").mkdir()
    (src / "clips/x.mp4").write_bytes(b"x")
    (src / "real/raw/train/.s000.abc.tmp.mp4").write_bytes(b"x")  # leftover of an interrupted write: ignored
    root = tmp_path / "root"

    report = import_dataset(src, root, workers=2, progress=False)
    assert report.imported == sorted(r.path for r in records) and not report.failed and not report.skipped
    assert sorted(p for p, _ in report.unrecognised) == ["README.md", "clips/x.mp4",
                                                          "fake/magicanimate/match/raw/train/noseparator.mp4"]
    assert dict(report.unrecognised)["README.md"] == "not a video file"
    assert "fake/{method}" in dict(report.unrecognised)["clips/x.mp4"]

    manifest = {r.path: r for r in read_manifest(root / "manifest.csv")}
    for record in records:
        assert (root / record.path).read_bytes() == (src / record.path).read_bytes()
        assert manifest[record.path].sha256 == record.sha256
        assert manifest[record.path].label == record.label and manifest[record.path].method == record.method
    assert _indexed(root) == {r.path: r.label for r in records}
    assert not list(root.rglob(".*.tmp*"))

    again = import_dataset(src, root, workers=2, progress=False)
    assert not again.imported and again.skipped == sorted(r.path for r in records)


def test_import_uses_the_source_manifest_for_nonstandard_paths(tmp_path):
    src, records = _source(tmp_path, configs=("match",))
    moved = records[0].with_(path="clips/first.mp4")
    (src / "clips").mkdir()
    os.replace(src / records[0].path, src / moved.path)
    write_manifest(src / "manifest.csv", [moved, *records[1:]])
    (src / "extra.mp4").write_bytes(b"x")
    root = tmp_path / "root"

    report = import_dataset(src, root, progress=False)
    assert "clips/first.mp4" in report.imported and len(report.imported) == len(records)
    assert report.unrecognised == [("extra.mp4", f"not listed in {src / 'manifest.csv'}")]
    assert _indexed(root)["clips/first.mp4"] == records[0].label  # metadata from the manifest, not the path


def test_explicit_manifest_lists_missing_files(tmp_path):
    src, records = _source(tmp_path, configs=("match",), manifest=False)
    listing = tmp_path / "listing.jsonl"
    write_manifest(listing, [*records, records[0].with_(path="real/raw/train/gone.mp4", identity_id="gone",
                                                        pose_id="gone")])
    report = import_dataset(src, tmp_path / "root", manifest=listing, progress=False)
    assert len(report.imported) == len(records)
    assert [p for p, _ in report.unrecognised] == ["real/raw/train/gone.mp4"]


def test_hardlink_and_symlink(tmp_path):
    src, records = _source(tmp_path, configs=("match",))
    hard, soft = tmp_path / "hard", tmp_path / "soft"
    import_dataset(src, hard, mode="hardlink", progress=False)
    import_dataset(src, soft, mode="symlink", progress=False)
    for record in records:
        assert (hard / record.path).stat().st_ino == (src / record.path).stat().st_ino
        link = soft / record.path
        assert link.is_symlink() and Path(os.readlink(link)).is_absolute()
        assert Path(os.readlink(link)) == (src / record.path).resolve()
    assert len(_indexed(soft)) == len(records)


def test_hardlink_falls_back_to_copy_across_filesystems(tmp_path, monkeypatch):
    src, records = _source(tmp_path, configs=("match",))

    def cross_device(a, b):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(ttdf.importing.os, "link", cross_device)
    report = import_dataset(src, tmp_path / "root", mode="hardlink", progress=False)
    assert len(report.imported) == len(records) and not report.failed
    assert len(report.notes) == 1 and "copied instead" in report.notes[0]
    first = tmp_path / "root" / records[0].path
    assert first.stat().st_ino != (src / records[0].path).stat().st_ino and sha256_file(first) == records[0].sha256


def test_unsafe_manifest_is_refused_before_writing(tmp_path):
    src, _ = _source(tmp_path, configs=("match",))
    text = (src / "manifest.csv").read_text().splitlines()
    text[1] = "../evil.mp4" + text[1][text[1].index(","):]
    (src / "manifest.csv").write_text("\n".join(text) + "\n")
    root = tmp_path / "root"
    with pytest.raises(ManifestError, match=r"\.\."):
        import_dataset(src, root, progress=False)
    assert not root.exists()


def test_checksum_mismatch_is_not_imported(tmp_path):
    src, records = _source(tmp_path, configs=("match",))
    victim = src / records[1].path
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")
    root = tmp_path / "root"
    report = import_dataset(src, root, progress=False)
    assert [p for p, _ in report.failed] == [records[1].path] and "sha256" in report.failed[0][1]
    assert not (root / records[1].path).exists() and not list(root.rglob(".*.tmp*"))
    assert records[1].path not in {r.path for r in read_manifest(root / "manifest.csv")}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ttdf")
    cli_importing.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli(tmp_path, capsys):
    src, records = _source(tmp_path, configs=("match",))
    root = tmp_path / "root"
    assert run_command(_parser(), ["import", str(src), "--root", str(root), "--mode", "symlink",
                                   "--no-progress"]) == 0
    assert f"{len(records)} imported" in capsys.readouterr().out

    for argv in (["import"], ["import", str(src), "--mode", "teleport"]):
        with pytest.raises(SystemExit) as exc:
            _parser().parse_args(argv)
        assert exc.value.code == 2
    assert "SRC" in capsys.readouterr().err

    assert run_command(_parser(), ["import", str(tmp_path / "nope"), "--root", str(root), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a directory" in err and "Traceback" not in err


# -- a plain folder described by --label/--method/--config ------------------------------------------------


def _clip(path: Path, seed: int, frames: int = 3) -> Path:
    video = np.random.default_rng(seed).integers(0, 256, size=(frames, 16, 16, 3), dtype=np.uint8)
    encode_video(path, video, fps=10, crf=0, preset="ultrafast")
    return path


def _ttdf(capsys, *argv: str) -> tuple[int, str, str]:
    code = ttdf_main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_plain_folder_of_real_clips(tmp_path):
    src, root = tmp_path / "clips", tmp_path / "root"
    _clip(src / "clip one.mp4", 0)
    _clip(src / "a/b.avi", 1)
    (src / "notes.txt").write_text("not a video")
    (src / "a/thumb.jpg").write_bytes(b"jpg")

    report = import_dataset(src, root, folder=FolderSpec(label="real"), workers=1, progress=False)
    expected = {f"real/raw/{auto_split('clip_one')}/clip_one.mp4": "clip one.mp4",
                f"real/raw/{auto_split('b')}/b.avi": "a/b.avi"}
    assert report.imported == sorted(expected) and not report.unrecognised and not report.failed
    assert report.ignored == ["a/thumb.jpg", "notes.txt"] and not report.registered
    for rel, original in expected.items():
        assert (root / rel).read_bytes() == (src / original).read_bytes()
    manifest = {r.path: r for r in read_manifest(root / "manifest.csv")}
    assert {(r.label, r.method, r.config, r.identity_id, r.pose_id, r.compression) for r in manifest.values()} == \
        {("real", None, None, "clip_one", "clip_one", "raw"), ("real", None, None, "b", "b", "raw")}
    assert _indexed(root) == {rel: "real" for rel in expected}
    assert not (root / EXTENSION_FILE).exists()
    again = import_dataset(src, root, folder=FolderSpec(label="real"), workers=1, progress=False)
    assert not again.imported and again.skipped == sorted(expected)


def test_folder_of_fakes_from_a_new_method_registers_it_in_the_root(tmp_path, capsys):
    src, root = tmp_path / "champ", tmp_path / "root"
    _clip(src / "s1__s2.mp4", 0)
    _clip(src / "deep/s3__s4.mp4", 1)
    (src / "s5__s6.mp4").write_bytes(b"not a video")  # broken: imported, listed bad with the reason
    spec = FolderSpec(label="fake", method="champ", config="mismatch", compression="c23", split="auto")
    report = import_dataset(src, root, folder=spec, workers=1, progress=False)

    paths = {f"fake/champ/mismatch/c23/{auto_split(i)}/{i}__{p}.mp4" for i, p in (("s1", "s2"), ("s3", "s4"), ("s5", "s6"))}
    assert set(report.imported) == paths and report.registered == ["champ"]
    assert [p for p, _ in report.index.bad] == [f"fake/champ/mismatch/c23/{auto_split('s5')}/s5__s6.mp4"]
    assert "champ" not in load_taxonomy().methods  # the installed package is untouched
    assert "champ" in load_taxonomy(root=root).methods
    assert json.loads((root / EXTENSION_FILE).read_text()) == {"methods": {"champ": {"display": "champ"}}}
    assert {r.method for r in read_manifest(root / "manifest.csv", load_taxonomy(root=root))} == {"champ"}

    code, out, _ = _ttdf(capsys, "ls", "--root", str(root), "--method", "champ", "--label", "fake", "--format", "json")
    assert code == 0 and {r["path"] for r in json.loads(out)} == paths - {next(p for p in paths if "s5" in p)}
    code, out, _ = _ttdf(capsys, "stats", "--root", str(root), "--method", "champ", "--by", "method", "--format", "json")
    assert code == 0 and json.loads(out)[0] == {**json.loads(out)[0], "method": "champ", "videos": 2, "bad": 1}
    code, _, err = _ttdf(capsys, "ls", "--root", str(tmp_path / "other"), "--method", "champ")
    assert code == 2 and "unknown method 'champ'" in err  # another root never heard of it


def test_auto_split_is_stable_by_identity_and_near_the_documented_fractions():
    ids = [f"id{i}" for i in range(3000)]
    splits = [auto_split(i) for i in ids]
    assert splits == [auto_split(i) for i in ids]
    for split, fraction in zip(("train", "val", "test"), AUTO_SPLIT_FRACTIONS):
        assert abs(splits.count(split) / len(ids) - fraction) < 0.03
    assert auto_split("id1", ("a", "b"), (0.0, 1.0)) == "b"


def test_identity_real_and_fakes_share_a_split(tmp_path):
    src = tmp_path / "src"
    for i in range(8):
        _clip(src / "real" / f"p{i}.mp4", i, frames=2)
        _clip(src / "fake" / f"p{i}__p{(i + 1) % 8}.mp4", 10 + i, frames=2)
    root = tmp_path / "root"
    import_dataset(src / "real", root, folder=FolderSpec("real"), workers=1, progress=False)
    import_dataset(src / "fake", root, folder=FolderSpec("fake", "magicdance", "match"), workers=1, progress=False)
    splits: dict[str, set[str]] = {}
    for record in read_manifest(root / "manifest.csv"):
        splits.setdefault(record.identity_id, set()).add(record.split)
    assert len(splits) == 8 and all(len(s) == 1 for s in splits.values())
    assert len({s for v in splits.values() for s in v}) > 1  # auto really spreads identities


def test_ids_from_names_and_collisions_are_reported_not_merged(tmp_path):
    assert sanitise_id("clip one (final)") == "clip_one_final" and sanitise_id("..x y") == "x_y"
    assert sanitise_id("a__b") == "a_b" and sanitise_id("!!!") == ""
    assert ids_from_name("ann__bob", "fake") == ("ann", "bob") and ids_from_name("ann__bob", "real") == ("ann_bob",) * 2
    assert ids_from_name("solo", "fake") == ("solo", "solo")
    src, root = tmp_path / "src", tmp_path / "root"
    _clip(src / "a/clip.mp4", 0)
    _clip(src / "b/clip.mp4", 1)
    _clip(src / "clip!.mov", 2)
    _clip(src / "###.mp4", 3)
    report = import_dataset(src, root, folder=FolderSpec("real", split="test"), workers=1, progress=False)
    assert report.imported == ["real/raw/test/clip.mp4"]
    assert (root / report.imported[0]).read_bytes() == (src / "a/clip.mp4").read_bytes()
    reasons = dict(report.unrecognised)
    assert sorted(reasons) == ["###.mp4", "b/clip.mp4", "clip!.mov"]
    assert "a/clip.mp4" in reasons["b/clip.mp4"] and "a/clip.mp4" in reasons["clip!.mov"]
    assert "rename" in reasons["###.mp4"]

    other = tmp_path / "other"
    _clip(other / "clip.mp4", 4, frames=5)  # another video under an id the root already holds
    report = import_dataset(other, root, folder=FolderSpec("real", split="test"), workers=1, progress=False)
    assert not report.imported and "another video with the same id" in dict(report.unrecognised)["clip.mp4"]


@pytest.mark.parametrize("spec, message", [
    (FolderSpec("real", method="champ"), "no --method"),
    (FolderSpec("fake", method="champ"), "--config"),
    (FolderSpec("fake", config="match"), "--method"),
    (FolderSpec("fake", method="Champ!", config="match"), "lowercase"),
    (FolderSpec("fake", method="champ", config="swap"), "--config 'swap'"),
    (FolderSpec("real", compression="zip"), "--compression"),
    (FolderSpec("real", split="holdout"), "--split"),
    (FolderSpec("sometimes"), "--label"),
])
def test_folder_spec_errors_name_the_option(tmp_path, spec, message):
    _clip(tmp_path / "src/x.mp4", 0, frames=2)
    with pytest.raises(TTDFError, match=re.escape(message)):
        import_dataset(tmp_path / "src", tmp_path / "root", folder=spec, progress=False)
    assert not (tmp_path / "root").exists()


def test_cli_imports_a_plain_folder_with_old_config_name(tmp_path, capsys):
    src, root = tmp_path / "src", tmp_path / "root"
    _clip(src / "x__y.mp4", 0, frames=2)
    code, out, _ = _ttdf(capsys, "import", str(src), "--root", str(root), "--label", "fake", "--method", "champ",
                         "--config", "cross", "--split", "val", "--no-progress")
    assert code == 0 and "1 imported" in out and "registered the new method 'champ'" in out
    assert (root / "fake/champ/mismatch/raw/val/x__y.mp4").is_file()

    code, _, err = _ttdf(capsys, "import", str(src), "--root", str(root), "--method", "champ", "--no-progress")
    assert code == 2 and "add --label" in err and err.count("\n") == 1
    code, out, _ = _ttdf(capsys, "import", str(src), "--root", str(tmp_path / "r2"), "--no-progress")
    assert code == 0 and "0 imported" in out  # without --label a plain folder is listed, with the way out
    assert any(line.split()[:2] == ["SKIPPED", "x__y.mp4"] and "pass --label real|fake" in line
               for line in out.splitlines())


def test_holdout_of_an_imported_method_is_accepted(tmp_path):
    src, root = tmp_path / "src", tmp_path / "root"
    _clip(src / "x__y.mp4", 0, frames=2)
    import_dataset(src, root, folder=FolderSpec("fake", "champ", "match", split="test"), workers=1, progress=False)
    config = TrainConfig(root=str(root), out=str(tmp_path / "run"), holdout_methods=("champ",))
    assert config.methods() == load_taxonomy().methods  # every packaged method trains, champ is held out
    test = VideoFilter(methods=("champ",), splits=("test",)).validate(load_taxonomy(root=root))
    assert test.methods == ("champ",)
    with pytest.raises(TTDFError, match="unknown method 'champ'"):
        TrainConfig(root=str(tmp_path / "elsewhere"), out="o", holdout_methods=("champ",)).methods()
