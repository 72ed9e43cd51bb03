from __future__ import annotations

import json

import pytest

from tofnet.metrics import ClipPrediction, aggregate_videos, binary_metrics
from tofnet.report import evaluation_report, group_name, markdown_table, summary_table, write_report

METHODS = ("animateanyone", "magicanimate")
CONFIGS = ("match", "mismatch")
COMPRESSIONS = ("c40", "raw")
N_REAL = {"raw": 3, "c40": 4}  # different per compression so a wrong real pool shows up in the counts
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _clips() -> list[ClipPrediction]:
    """2 methods x 2 configs x 2 compressions, two fakes each, two clips per video; reals per compression."""
    clips = []
    for mi, method in enumerate(METHODS):
        for config in CONFIGS:
            for compression in COMPRESSIONS:
                for k in range(2):
                    path = f"fake/{method}/{config}/{compression}/test/id{k}__p{k}.mp4"
                    base = 0.55 + 0.3 * mi + 0.05 * k  # magicanimate easy, animateanyone harder
                    for clip in range(2):
                        clips.append(ClipPrediction(path, 1, base + (0.02 if clip else -0.02), clip,
                                                    method, config, compression, "test"))
    for compression, n in N_REAL.items():
        for k in range(n):
            path = f"real/{compression}/test/r{k}.mp4"
            for clip in range(2):
                clips.append(ClipPrediction(path, 0, 0.2 + 0.12 * k, clip, None, None, compression, "test"))
    return clips


def _group(report, method, config, compression):
    matches = [g for g in report["groups"] if (g["method"], g["config"], g["compression"]) == (method, config, compression)]
    assert len(matches) == 1, (method, config, compression)
    return matches[0]


def test_overall_levels():
    clips = _clips()
    report = evaluation_report(clips, meta={"checkpoint": "ckpt.pt"})
    assert report["meta"] == {"threshold": 0.5, "checkpoint": "ckpt.pt"}
    assert report["clip"]["n"] == len(clips) == 2 * (16 + 7)
    assert report["video"]["n_fake"] == 16 and report["video"]["n_real"] == 7
    videos = aggregate_videos(clips)
    assert report["video"] == binary_metrics([v.label for v in videos], [v.prob for v in videos])
    assert len(report["videos"]) == 23


def test_group_counts_and_marginals():
    report = evaluation_report(_clips())
    assert len(report["groups"]) == 8 + 2 + 2 + 2
    assert all(g["level"] == "video" for g in report["groups"])
    for method in METHODS:
        for config in CONFIGS:
            for compression in COMPRESSIONS:
                group = _group(report, method, config, compression)
                assert (group["n_fake"], group["n_real"]) == (2, N_REAL[compression])
    for method in METHODS:
        assert (_group(report, method, "*", "*")["n_fake"], _group(report, method, "*", "*")["n_real"]) == (8, 7)
    for config in CONFIGS:
        assert (_group(report, "*", config, "*")["n_fake"], _group(report, "*", config, "*")["n_real"]) == (8, 7)
    for compression in COMPRESSIONS:
        group = _group(report, "*", "*", compression)
        assert (group["n_fake"], group["n_real"]) == (8, N_REAL[compression])


def test_group_metrics_use_matching_fakes_and_same_compression_reals():
    report = evaluation_report(_clips())
    videos = aggregate_videos(_clips())
    members = [v for v in videos if v.compression == "c40" and (v.label == 0 or (v.method, v.config) == ("animateanyone", "match"))]
    expected = binary_metrics([v.label for v in members], [v.prob for v in members])
    group = _group(report, "animateanyone", "match", "c40")
    assert {k: group[k] for k in expected} == expected
    # Video scores: magicanimate fakes 0.85, 0.90; animateanyone fakes 0.55, 0.60;
    # raw reals 0.20, 0.32, 0.44; c40 reals add 0.56.
    easy = _group(report, "magicanimate", "match", "c40")
    assert easy["auc"] == 1.0 and easy["eer"] == 0.0
    assert easy["acc"] == pytest.approx(5 / 6)  # the 0.56 real is called fake at 0.5
    raw = _group(report, "animateanyone", "mismatch", "raw")
    assert raw["auc"] == 1.0 and raw["acc"] == 1.0
    hard = _group(report, "animateanyone", "mismatch", "c40")
    assert hard["auc"] == pytest.approx(7 / 8)  # 0.55 beats 3 of 4 reals, 0.60 beats all 4
    assert hard["acc"] == pytest.approx(5 / 6)


def test_fake_only_groups_have_none_metrics():
    clips = [c for c in _clips() if c.label == 1 or c.compression == "raw"]
    report = evaluation_report(clips)
    group = _group(report, "magicanimate", "match", "c40")
    assert group["n_real"] == 0 and group["auc"] is None and group["acc"] is not None
    json.dumps(report)


def test_write_report_files(tmp_path):
    report = evaluation_report(_clips(), meta={"run": "unit"})
    paths = write_report(report, tmp_path / "out", title="Unit test")
    assert set(paths) == {"json", "markdown", "roc"}
    assert {p.name for p in paths.values()} == {"report.json", "report.md", "roc.png"}
    assert json.loads(paths["json"].read_text()) == report
    assert paths["roc"].read_bytes()[:8] == PNG_MAGIC
    text = paths["markdown"].read_text()
    assert text.startswith("# Unit test")
    assert "| group | n_real | n_fake | ACC | AUC | EER | AP |" in text
    assert "| magicanimate/match/c40 | 4 | 2 |" in text
    assert "| */*/raw | 3 | 8 |" in text
    assert "**clip level**" in text and "**video level**" in text
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_write_report_one_class_still_draws(tmp_path):
    report = evaluation_report([c for c in _clips() if c.label == 1])
    paths = write_report(report, tmp_path)
    assert paths["roc"].read_bytes()[:8] == PNG_MAGIC
    assert "n/a" in paths["markdown"].read_text()


def test_markdown_table_formatting():
    rows = [{"name": "a|b", "n": 3, "auc": 0.91234, "eer": None}, {"name": "c", "n": 0}]
    table = markdown_table(rows, ["name", "n", "auc", "eer"], floatfmt=".2f")
    assert table.splitlines() == [
        "| name | n | auc | eer |",
        "|---|---|---|---|",
        "| a\\|b | 3 | 0.91 | n/a |",
        "| c | 0 | n/a | n/a |",
    ]


def test_group_name():
    assert group_name({"method": "magicanimate", "config": "*", "compression": "c23"}) == "magicanimate/*/c23"


def test_summary_table_mean_row():
    def fake_report(acc, auc, eer, ap):
        return {"video": {"acc": acc, "auc": auc, "eer": eer, "ap": ap}}

    results = {
        "magicanimate": fake_report(0.9, 0.95, 0.1, 0.97),
        "animateanyone": fake_report(0.7, 0.75, 0.3, None),
        "magicdance": fake_report(0.8, None, 0.2, 0.87),
    }
    lines = summary_table(results).splitlines()
    assert lines[0] == "| held out | ACC | AUC | EER | AP |"
    assert lines[2] == "| magicanimate | 0.900 | 0.950 | 0.100 | 0.970 |"
    assert lines[4] == "| magicdance | 0.800 | n/a | 0.200 | 0.870 |"
    assert lines[-1] == "| mean | 0.800 | 0.850 | 0.200 | 0.920 |"
    assert summary_table(results, title_column="test set").startswith("| test set |")


def test_summary_table_from_real_reports():
    report = evaluation_report(_clips())
    table = summary_table({"a": report, "b": report})
    auc = f"{report['video']['auc']:.3f}"
    assert table.splitlines()[-1].startswith(f"| mean | {report['video']['acc']:.3f} | {auc} |")
