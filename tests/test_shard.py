import argparse

import pytest

from ttdf.cli.options import shard_options
from ttdf.shard import check_shard, parse_shard, select_shard, shard_name


def test_shards_are_disjoint_cover_everything_and_are_balanced():
    items = [f"v{i:02d}.mp4" for i in range(11)]
    shuffled = items[5:] + items[:5]  # the order given must not matter, only the sort key
    parts = [select_shard(shuffled, (i, 3)) for i in range(3)]
    assert sorted(sum(parts, [])) == items
    assert [len(p) for p in parts] == [4, 4, 3]
    assert parts[1] == ["v01.mp4", "v04.mp4", "v07.mp4", "v10.mp4"]
    assert select_shard(shuffled, (0, 1)) == items


def test_select_shard_uses_the_key():
    records = [{"path": p} for p in ("b", "a", "c")]
    assert select_shard(records, (0, 2), key=lambda r: r["path"]) == [{"path": "a"}, {"path": "c"}]


@pytest.mark.parametrize("text", ["2/2", "1/0", "-1/2", "x", "1/2/3", ""])
def test_bad_shards_are_refused(text):
    with pytest.raises(ValueError):
        parse_shard(text)


def test_shard_names_and_cli_option(capsys):
    assert parse_shard("1/4") == (1, 4) and shard_name((1, 4)) == "1-of-4" and check_shard(("0", "1")) == (0, 1)
    parser = argparse.ArgumentParser(parents=[shard_options()])
    assert parser.parse_args([]).shard == (0, 1)
    assert parser.parse_args(["--shard", "2/3"]).shard == (2, 3)
    with pytest.raises(SystemExit):
        parser.parse_args(["--shard", "3/3"])
    assert "out of range: i must be 0..n-1 (for n=3: 0/3, 1/3, 2/3)" in capsys.readouterr().err


# -- sharded runs on one root: each shard writes only its own files; `ttdf index` merges them once -----------

import ttdf.index  # noqa: E402
from tests.tiny_dataset import write_tiny_dataset  # noqa: E402
from ttdf.compress import compress_dataset  # noqa: E402
from ttdf.fsutil import sha256_file  # noqa: E402
from ttdf.index import INDEX_FILE, VideoIndex, index_dataset  # noqa: E402
from ttdf.manifest import read_manifest  # noqa: E402
from ttdf.records import VideoFilter  # noqa: E402
from ttdf.shard import SHARDS_DIR  # noqa: E402


def _rows(root):
    with VideoIndex.open(root) as index:
        return {v.path: (v.status, v.record.frames, v.record.sha256, v.record.compression)
                for v in index.query(status=None)}


def test_sharded_compress_registers_nothing_until_index_merges(tmp_path):
    records = write_tiny_dataset(tmp_path, sources=2, methods=("magicanimate",), configs=("same",))
    index_dataset(tmp_path, workers=1, progress=False)
    manifest_before = (tmp_path / "manifest.csv").read_bytes()
    indexed_before = _rows(tmp_path)
    reports = [compress_dataset(tmp_path, [40], preset="ultrafast", workers=1, shard=(i, 2), progress=False)
               for i in range(2)]
    written = sorted(reports[0].written + reports[1].written)
    assert len(written) == len(records) and not set(reports[0].written) & set(reports[1].written)
    assert all(r.index is None for r in reports)
    assert (tmp_path / "manifest.csv").read_bytes() == manifest_before and _rows(tmp_path) == indexed_before
    assert len(list((tmp_path / SHARDS_DIR).rglob("compress-*.csv"))) == 2

    rerun = compress_dataset(tmp_path, [40], preset="ultrafast", workers=1, shard=(0, 2), progress=False)
    assert rerun.skipped == reports[0].written and not rerun.written  # a rerun of a shard resumes

    report = index_dataset(tmp_path, workers=1, progress=False)
    assert report.added == len(written) and not report.bad
    manifest = {r.path: r for r in read_manifest(tmp_path / "manifest.csv")}
    assert all(manifest[p].sha256 == sha256_file(tmp_path / p) for p in written)
    with VideoIndex.open(tmp_path) as index:
        assert sorted(v.path for v in index.query(VideoFilter(compressions=("c40",)))) == written
    assert not list((tmp_path / SHARDS_DIR).rglob("*.csv"))


def test_sharded_index_writes_fragments_and_the_merge_probes_nothing_again(tmp_path, monkeypatch):
    records = write_tiny_dataset(tmp_path, sources=2, methods=("magicanimate",), configs=("same",))
    (tmp_path / records[0].path).write_bytes(b"not a video")
    reports = [index_dataset(tmp_path, workers=1, shard=(i, 2), progress=False) for i in range(2)]
    assert sum(r.added for r in reports) == len(records) and not (tmp_path / INDEX_FILE).exists()
    assert sum(len(r.bad) for r in reports) == 1
    again = index_dataset(tmp_path, workers=1, shard=(1, 2), progress=False)  # resumes from its fragment
    assert again.added == 0 and again.unchanged == reports[1].added

    def no_probing(job):
        raise AssertionError(f"probed {job[1]} again")

    monkeypatch.setattr(ttdf.index, "_probe_file", no_probing)
    merged = index_dataset(tmp_path, workers=1, progress=False)
    monkeypatch.undo()
    assert merged.added == len(records) and [p for p, _ in merged.bad] == [records[0].path]
    assert not list((tmp_path / SHARDS_DIR).rglob("*.jsonl"))

    reference = tmp_path.parent / "reference"
    write_tiny_dataset(reference, sources=2, methods=("magicanimate",), configs=("same",))
    (reference / records[0].path).write_bytes(b"not a video")
    index_dataset(reference, workers=1, progress=False)
    assert _rows(tmp_path) == _rows(reference)
