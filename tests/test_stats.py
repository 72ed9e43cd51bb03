"""Stats per taxonomy group, read from the index of the tiny dataset."""
from __future__ import annotations

import json

import pytest

from ttdf.index import VideoIndex, index_dataset
from ttdf.records import VideoFilter
from ttdf.stats import compare_to_published, dataset_stats, totals
from ttdf.taxonomy import DEFAULT_TAXONOMY, Taxonomy
from tests.tiny_dataset import write_tiny_dataset


@pytest.fixture()
def indexed(tmp_path):
    records = write_tiny_dataset(tmp_path)  # 3 sources, 6 frames at 10 fps, all "raw"
    (tmp_path / "real/raw/train/junk.mp4").write_bytes(b"not a video")
    index_dataset(tmp_path, workers=1, progress=False)
    with VideoIndex.open(tmp_path) as index:
        yield index, records, tmp_path


def test_grouping_by_label_matches_the_tiny_dataset(indexed):
    index, records, root = indexed
    rows = dataset_stats(index, by=("label",))
    assert [r["label"] for r in rows] == ["real", "fake"]
    real, fake = rows
    assert (real["videos"], real["frames"], real["bad"]) == (3, 18, 1)
    assert (fake["videos"], fake["frames"], fake["bad"]) == (18, 108, 0)
    assert fake["hours"] == pytest.approx(18 * 6 / 10 / 3600)
    fake_bytes = sum((root / r.path).stat().st_size for r in records if r.is_fake)
    assert fake["size_gb"] == pytest.approx(fake_bytes / 1e9)


def test_default_grouping_has_one_row_per_group_and_reals_have_no_method(indexed):
    index, records, _ = indexed
    rows = dataset_stats(index)
    assert len(rows) == len(records)  # every tiny video is alone in its (label, method, config, comp., split)
    reals = [r for r in rows if r["label"] == "real"]
    assert [r["split"] for r in reals] == ["train", "val", "test"]
    assert all(r["method"] is None and r["config"] is None for r in reals)
    assert rows[0] == {"label": "real", "method": None, "config": None, "compression": "raw", "split": "train",
                       "videos": 1, "frames": 6, "hours": pytest.approx(6 / 10 / 3600), "size_gb": rows[0]["size_gb"],
                       "bad": 1}
    json.dumps(rows)  # plain data


def test_filters_and_totals(indexed):
    index, _, _ = indexed
    rows = dataset_stats(index, VideoFilter(methods=("magicanimate",)), by=("label", "config"))
    assert [(r["label"], r["config"], r["videos"]) for r in rows] == [
        ("real", None, 3), ("fake", "match", 3), ("fake", "mismatch", 3)]
    total = totals(rows, by=("label", "config"))
    assert (total["label"], total["config"], total["videos"], total["frames"], total["bad"]) == (
        "total", None, 9, 54, 1)
    with pytest.raises(ValueError, match="cannot group by"):
        dataset_stats(index, by=("colour",))


def test_compare_to_published(indexed):
    index, _, _ = indexed
    comparison = compare_to_published(index)
    assert comparison["per_compression"] == {"raw": {"fake_videos": 18, "fake_frames": 108}}
    assert (comparison["fake_videos"], comparison["fake_frames"], comparison["source_videos"]) == (18, 108, 3)
    assert comparison["published"]["fake_videos"] == 6120
    assert comparison["published"]["fake_frames"] == 1378857
    assert not comparison["looks_full"] and not comparison["matches"]

    data = json.loads(DEFAULT_TAXONOMY.read_text())
    data["compressions"] = {"raw": {"crf": None}}
    data["published_totals"] = {"fake_videos": 18, "fake_frames": 108, "source_videos": 3}
    small = Taxonomy.from_dict(data)
    comparison = compare_to_published(index, small)
    assert comparison["looks_full"] and comparison["matches"]
