"""`ttdf index`, `ttdf ls` and `ttdf stats` through their argparse front ends."""
from __future__ import annotations

import argparse
import csv
import io
import json

import pytest

from ttdf.cli import index as index_cli
from ttdf.cli import query as query_cli
from ttdf.cli.options import run_command
from ttdf.index import INDEX_FILE
from ttdf.taxonomy import DEFAULT_TAXONOMY
from tests.tiny_dataset import write_tiny_dataset

N_VIDEOS = 21


def _ttdf(capsys, *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="ttdf")
    sub = parser.add_subparsers(dest="command", required=True)
    index_cli.register(sub)
    query_cli.register(sub)
    code = run_command(parser, list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture()
def root(tmp_path, capsys):
    write_tiny_dataset(tmp_path)
    (tmp_path / "real/raw/val/junk.mp4").write_bytes(b"junk")
    code, out, _ = _ttdf(capsys, "index", "--root", str(tmp_path), "--workers", "2", "--no-progress")
    assert code == 0
    return tmp_path


def test_index_prints_counts_and_bad_files(root, capsys):
    code, out, _ = _ttdf(capsys, "index", "--root", str(root), "--workers", "1", "--no-progress", "--no-checksums")
    assert code == 0
    assert f"0 added, 0 updated, {N_VIDEOS + 1} unchanged, 0 removed, 1 bad" in out
    assert any(line.split()[:2] == ["BAD", "real/raw/val/junk.mp4"] for line in out.splitlines())


def test_ls_json_csv_and_table(root, capsys):
    code, out, _ = _ttdf(capsys, "ls", "--root", str(root), "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == N_VIDEOS
    assert list(rows[0]) == list(query_cli.LS_COLUMNS)
    assert {(r["frames"], r["fps"], r["width"], r["height"]) for r in rows} == {(6, 10.0, 32, 32)}

    code, out, _ = _ttdf(capsys, "ls", "--root", str(root), "--format", "csv", "--label", "real", "--split", "train")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["path"] for r in rows] == ["real/raw/train/s000.mp4"]
    assert rows[0]["method"] == ""

    code, out, _ = _ttdf(capsys, "ls", "--root", str(root), "--method", "magicdance", "--config", "mismatch")
    lines = out.splitlines()
    assert lines[0].split() == list(query_cli.LS_COLUMNS)
    assert len(lines) == 1 + 3 + 3  # header, the reals (method filters fakes only), magicdance/mismatch fakes
    assert lines[1].split()[:4] == ["fake/magicdance/mismatch/raw/test/s002__x002.mp4", "fake", "magicdance", "mismatch"]
    assert lines[4].split()[:4] == ["real/raw/test/s002.mp4", "real", "-", "-"]


def test_ls_bad_shows_reasons(root, capsys):
    code, out, _ = _ttdf(capsys, "ls", "--root", str(root), "--bad", "--format", "json")
    assert code == 0
    [row] = json.loads(out)
    assert row["path"] == "real/raw/val/junk.mp4" and "not a readable video" in row["error"]

    (root / "misc").mkdir()
    (root / "misc/clip.mp4").write_bytes((root / "real/raw/val/s001.mp4").read_bytes())
    _ttdf(capsys, "index", "--root", str(root), "--workers", "1", "--no-progress")
    code, out, _ = _ttdf(capsys, "ls", "--root", str(root), "--bad")
    lines = out.splitlines()
    assert lines[0].split() == list(query_cli.BAD_COLUMNS)
    assert lines[1].split()[:7] == ["misc/clip.mp4", "?", "-", "-", "?", "?", "cannot"]


def test_stats_json_csv_and_table(root, capsys):
    code, out, _ = _ttdf(capsys, "stats", "--root", str(root), "--format", "json")
    assert code == 0
    rows = json.loads(out)
    groups, total = rows[:-1], rows[-1]
    assert len(groups) == N_VIDEOS  # junk.mp4 falls in the real/raw/val group as a bad one
    assert total["label"] == "total"
    assert (total["videos"], total["frames"], total["bad"]) == (N_VIDEOS, N_VIDEOS * 6, 1)
    assert sum(r["videos"] for r in groups) == total["videos"]

    code, out, _ = _ttdf(capsys, "stats", "--root", str(root), "--by", "label", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["label"], r["videos"], r["frames"]) for r in rows] == [
        ("real", "3", "18"), ("fake", "18", "108"), ("total", "21", "126")]

    code, out, _ = _ttdf(capsys, "stats", "--root", str(root), "--by", "compression", "--label", "fake")
    lines = out.splitlines()
    assert lines[0].split() == ["compression", "videos", "frames", "hours", "size_gb", "bad"]
    assert lines[1].split()[:3] == ["raw", "18", "108"]
    assert lines[-1].split()[:3] == ["total", "18", "108"]
    assert "published" not in out  # the tiny copy does not look like a full TT-DF


def test_queries_without_or_with_a_corrupt_index_fail_cleanly(tmp_path, capsys):
    write_tiny_dataset(tmp_path, sources=1)
    code, _, err = _ttdf(capsys, "ls", "--root", str(tmp_path))
    assert code == 2 and "no index at" in err and "ttdf index --root" in err

    (tmp_path / INDEX_FILE).parent.mkdir()
    (tmp_path / INDEX_FILE).write_bytes(b"garbage" * 50)
    code, _, err = _ttdf(capsys, "stats", "--root", str(tmp_path))
    assert code == 2 and "corrupt" in err and "--rebuild" in err and "Traceback" not in err

    code, out, _ = _ttdf(capsys, "index", "--root", str(tmp_path), "--rebuild", "--workers", "1", "--no-progress")
    assert code == 0 and "7 added" in out
    code, out, _ = _ttdf(capsys, "ls", "--root", str(tmp_path), "--format", "json")
    assert len(json.loads(out)) == 7


def test_stats_compares_a_full_looking_copy_with_the_published_totals(root, tmp_path_factory, monkeypatch, capsys):
    data = json.loads(DEFAULT_TAXONOMY.read_text())
    data["compressions"] = {"raw": {"crf": None}}  # a "TT-DF" whose paper published exactly the tiny copy
    data["published_totals"] = {"fake_videos": 18, "fake_frames": 108, "source_videos": 3}
    taxonomy = tmp_path_factory.mktemp("taxonomy") / "taxonomy.json"
    taxonomy.write_text(json.dumps(data))
    monkeypatch.setenv("TTDF_TAXONOMY", str(taxonomy))
    code, out, _ = _ttdf(capsys, "stats", "--root", str(root), "--by", "label")
    assert code == 0
    assert out.splitlines()[-1] == ("fake videos/frames: 18 / 108 (raw 18/108); matches the published TT-DF "
                                    "totals 18 / 108")


def test_a_root_laid_out_before_the_rename_loads_and_old_names_select(tmp_path, capsys):
    """Folders fake/<method>/same|cross/... with no manifest, and `--config cross` on the command line."""
    records = write_tiny_dataset(tmp_path, sources=2, methods=("magicdance",), manifest=False)
    for record in records:
        if record.is_fake:
            old = {"match": "same", "mismatch": "cross"}[record.config]
            target = tmp_path / record.path.replace(f"/{record.config}/", f"/{old}/")
            target.parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / record.path).rename(target)
    assert _ttdf(capsys, "index", "--root", str(tmp_path), "--workers", "1", "--no-progress")[0] == 0
    code, out, _ = _ttdf(capsys, "ls", "--root", str(tmp_path), "--label", "fake", "--config", "cross",
                         "--format", "json")
    assert code == 0
    assert [(r["path"], r["config"]) for r in json.loads(out)] == [
        ("fake/magicdance/cross/raw/train/s000__x000.mp4", "mismatch"),
        ("fake/magicdance/cross/raw/val/s001__x001.mp4", "mismatch")]
    code, out, _ = _ttdf(capsys, "stats", "--root", str(tmp_path), "--label", "fake", "--by", "config",
                         "--format", "json")
    assert {r["config"]: r["videos"] for r in json.loads(out)} == {"match": 2, "mismatch": 2, "total": 4}
