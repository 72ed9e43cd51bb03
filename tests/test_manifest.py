import json

import pytest

from ttdf.errors import ManifestError, TaxonomyError
from ttdf.manifest import read_manifest, write_manifest
from ttdf.records import VideoFilter, VideoRecord, parse_relative_path, relative_path
from ttdf.taxonomy import DEFAULT_TAXONOMY, Taxonomy, load_taxonomy

HEADER = "path,label,method,config,identity_id,pose_id,split,compression\n"


def _fake(**changes) -> VideoRecord:
    base = dict(path="fake/magicanimate/mismatch/raw/test/a__b.mp4", label="fake", method="magicanimate",
                config="mismatch", identity_id="a", pose_id="b", split="test", compression="raw")
    return VideoRecord(**{**base, **changes})


def test_taxonomy_defaults_fit_published_totals():
    taxonomy = load_taxonomy()
    totals = taxonomy.published_totals
    # 340 sources x methods x configs x compression versions = published forged videos
    assert totals["source_videos"] * len(taxonomy.methods_of("paper")) * len(taxonomy.configs) * len(taxonomy.compressions) \
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
    ("x.mp4,fake,sora,match,a,a,test,raw", "unknown method"),
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
    rel = relative_path(taxonomy, label="fake", method="magicdance", config="mismatch", split="val",
                        compression="c23", identity_id="src001", pose_id="src004")
    assert rel == "fake/magicdance/mismatch/c23/val/src001__src004.mp4"
    record = parse_relative_path(taxonomy, rel)
    assert (record.method, record.config, record.identity_id, record.pose_id, record.compression) == \
        ("magicdance", "mismatch", "src001", "src004", "c23")
    real = parse_relative_path(taxonomy, "real/raw/train/src002.mp4")
    assert real.label == "real" and real.method is None and real.identity_id == "src002"
    assert parse_relative_path(taxonomy, "fake/unknown/mismatch/c23/val/a__b.mp4") is None
    assert parse_relative_path(taxonomy, "notes/readme.txt") is None


def test_filter_semantics():
    real = VideoRecord(path="real/raw/test/a.mp4", label="real", method=None, config=None, identity_id="a",
                       pose_id="a", split="test", compression="raw")
    fake = _fake()
    by_method = VideoFilter(methods=("magicdance",))
    assert by_method.matches(real) and not by_method.matches(fake)  # reals pass method filters
    assert not VideoFilter(labels=("fake",), methods=("magicdance",)).matches(real)
    assert VideoFilter(configs=("mismatch",), splits=("test",)).matches(fake)
    assert not VideoFilter(compressions=("c23",)).matches(fake)
    with pytest.raises(ManifestError, match="unknown method"):
        VideoFilter(methods=("sora",)).validate(load_taxonomy())


def test_old_config_names_are_read_as_match_and_mismatch(tmp_path):
    taxonomy = load_taxonomy()
    assert taxonomy.configs == ("match", "mismatch")
    assert taxonomy.canonical_config("same") == "match" and taxonomy.canonical_config("cross") == "mismatch"
    assert taxonomy.canonical_config("sora") == "sora" and taxonomy.canonical_config(None) is None
    old = tmp_path / "manifest.csv"  # written before the rename
    old.write_text(HEADER + "fake/magicanimate/same/raw/test/a__a.mp4,fake,magicanimate,same,a,a,test,raw\n"
                            "b.mp4,fake,magicdance,cross,a,b,test,raw\n")
    records = read_manifest(old, taxonomy)
    assert [(r.path, r.config) for r in records] == [("fake/magicanimate/same/raw/test/a__a.mp4", "match"),
                                                     ("b.mp4", "mismatch")]
    write_manifest(old, records)
    assert ",match," in old.read_text() and ",same," not in old.read_text()
    record = parse_relative_path(taxonomy, "fake/magicdance/cross/c23/val/a__b.mp4")  # an old root's folder
    assert (record.path, record.config) == ("fake/magicdance/cross/c23/val/a__b.mp4", "mismatch")
    assert VideoFilter(configs=("cross", "mismatch", "same")).validate(taxonomy).configs == ("mismatch", "match")
    with pytest.raises(ManifestError, match="unknown configuration 'swap'"):
        _fake(config="swap").validate(taxonomy)


def test_alias_to_an_unknown_configuration_is_refused(tmp_path):
    data = json.loads(DEFAULT_TAXONOMY.read_text())
    data["config_aliases"] = {"same": "self"}
    with pytest.raises(TaxonomyError, match="config_aliases"):
        Taxonomy.from_dict(data, source="t.json")
