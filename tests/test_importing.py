"""ttdf import: metadata from a manifest or the layout, copy/hardlink/symlink, safety, CLI."""
from __future__ import annotations

import argparse
import errno
import os
from pathlib import Path

import pytest

import ttdf.importing
from tests.tiny_dataset import write_tiny_dataset
from ttdf.cli import importing as cli_importing
from ttdf.cli.options import run_command
from ttdf.errors import ManifestError
from ttdf.fsutil import sha256_file
from ttdf.importing import import_dataset
from ttdf.index import VideoIndex
from ttdf.manifest import read_manifest, write_manifest


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
