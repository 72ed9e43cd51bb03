import json

import pytest

from ttdf.errors import ManifestError, TaxonomyError
from ttdf.manifest import read_manifest, write_manifest
from ttdf.records import VideoFilter, VideoRecord, parse_relative_path, relative_path
from ttdf.taxonomy import Taxonomy, load_taxonomy

HEADER = "path,label,method,config,identity_id,pose_id,split,compression\n"


def _fake(**changes) -> VideoRecord:
    base = dict(path="fake/magicanimate/cross/raw/test/a__b.mp4", label="fake", method="magicanimate",
                config="cross", identity_id="a", pose_id="b", split="test", compression="raw")
    return VideoRecord(**{**base, **changes})


def test_taxonomy_defaults_fit_published_totals():
    taxonomy = load_taxonomy()
    totals = taxonomy.published_totals
    # 340 sources x methods x configs x compression versions = published forged videos
    assert totals["source_videos"] * len(taxonomy.methods) * len(taxonomy.configs) * len(taxonomy.compressions) \
        == totals["fake_videos"] == 6120
    assert taxonomy.compression_for_crf(23) == "c23" and taxonomy.compression_for_crf(30) == "crf30"
    assert taxonomy.crf_for("c40") == 40 and taxonomy.crf_for("crf18") == 18 and taxonomy.crf_for("raw") is None


def test_malformed_taxonomy_is_refused(tmp_path):
    bad = tmp_path / "t.json"
    bad.write_text(json.dumps({"name": "x"}))
    with pytest.raises(TaxonomyError, match="malformed"):
        load_taxonomy(bad)
    with pytest.raises(TaxonomyError, match="not found"):
        load_taxonomy(tmp_path / "missing.json")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_manifest_round_trip(tmp_path, suffix):
    records = [_fake(frames=10, fps=15.0, width=96, height=128, sha256="ab" * 32),
               VideoRecord(path="real/raw/test/a.mp4", label="real", method=None, config=None, identity_id="a",
                           pose_id="a", split="test", compression="raw")]
    path = write_manifest(tmp_path / f"manifest{suffix}", records)
    assert read_manifest(path) == sorted(records, key=lambda r: r.path)


@pytest.mark.parametrize("row, message", [
    ("../escape.mp4,real,,,a,a,test,raw", "'..'"),
    ("/abs/x.mp4,real,,,a,a,test,raw", "relative"),
    ("x.mp4,fake,sora,same,a,a,test,raw", "unknown method"),
    ("x.mp4,fake,magicanimate,sideways,a,a,test,raw", "unknown configuration"),
    ("x.mp4,real,magicanimate,,a,a,test,raw", "no method"),
    ("x.mp4,real,,,a,a,holdout,raw", "unknown split"),
    ("x.mp4,real,,,a,a,test,c99x", "unknown compression"),
    ("x.mp4,maybe,,,a,a,test,raw", "label"),
])
def test_bad_manifest_rows_are_refused_with_line_number(tmp_path, row, message):
    path = tmp_path / "manifest.csv"
    path.write_text(HEADER + row + "\n")
    with pytest.raises(ManifestError, match=message) as info:
        read_manifest(path)
    assert f"{path}:2" in str(info.value)


def test_duplicate_paths_and_missing_columns(tmp_path):
    path = tmp_path / "manifest.csv"
    path.write_text(HEADER + "a.mp4,real,,,a,a,test,raw\n" + "a.mp4,real,,,a,a,test,raw\n")
    with pytest.raises(ManifestError, match="duplicate path"):
        read_manifest(path)
    path.write_text("path,label\na.mp4,real\n")
    with pytest.raises(ManifestError, match="missing column"):
        read_manifest(path)
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "nope.csv")


def test_layout_round_trip():
    taxonomy = load_taxonomy()
    rel = relative_path(taxonomy, label="fake", method="magicdance", config="cross", split="val",
                        compression="c23", identity_id="src001", pose_id="src004")
    assert rel == "fake/magicdance/cross/c23/val/src001__src004.mp4"
    record = parse_relative_path(taxonomy, rel)
    assert (record.method, record.config, record.identity_id, record.pose_id, record.compression) == \
        ("magicdance", "cross", "src001", "src004", "c23")
    real = parse_relative_path(taxonomy, "real/raw/train/src002.mp4")
    assert real.label == "real" and real.method is None and real.identity_id == "src002"
    assert parse_relative_path(taxonomy, "fake/unknown/cross/c23/val/a__b.mp4") is None
    assert parse_relative_path(taxonomy, "notes/readme.txt") is None


def test_filter_semantics():
    real = VideoRecord(path="real/raw/test/a.mp4", label="real", method=None, config=None, identity_id="a",
                       pose_id="a", split="test", compression="raw")
    fake = _fake()
    by_method = VideoFilter(methods=("magicdance",))
    assert by_method.matches(real) and not by_method.matches(fake)  # reals pass method filters
    assert not VideoFilter(labels=("fake",), methods=("magicdance",)).matches(real)
    assert VideoFilter(configs=("cross",), splits=("test",)).matches(fake)
    assert not VideoFilter(compressions=("c23",)).matches(fake)
    with pytest.raises(ManifestError, match="unknown method"):
        VideoFilter(methods=("sora",)).validate(load_taxonomy())
