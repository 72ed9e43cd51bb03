"""`tofnet benchmark`: several models under one leave-one-method-out protocol, one table."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tests.tiny_dataset import write_tiny_dataset
from tofnet.benchmark import heldout_metrics, mean_rows, model_kwargs_for, write_benchmark
from tofnet.cli import main as tofnet_main
from tofnet.evaluate import EvalOptions, evaluate_checkpoint
from ttdf.index import index_dataset
from ttdf.records import VideoFilter


def _report(reals, fakes, threshold):
    videos = [{"label": 0, "prob": p} for p in reals] + [{"label": 1, "prob": p} for p in fakes]
    video = {"n_real": len(reals), "n_fake": len(fakes), "auc": 0.9, "acc": 0.8, "eer": 0.1, "ap": 0.95}
    return {"video": video, "meta": {"threshold": threshold}, "videos": videos}


def test_per_class_accuracy_uses_the_saved_threshold():
    row = heldout_metrics(_report([0.1, 0.2, 0.6, 0.3], [0.7, 0.55, 0.5], threshold=0.55))
    assert row["real_acc"] == 0.75  # 0.6 >= 0.55 is called forged
    assert row["fake_acc"] == pytest.approx(2 / 3)  # 0.5 < 0.55 is called real
    assert (row["n_real"], row["n_fake"], row["auc"], row["threshold"]) == (4, 3, 0.9, 0.55)


def test_auc_of_each_generative_configuration_against_all_real_videos():
    videos = [{"label": 0, "prob": p} for p in (0.2, 0.4)]
    videos += [{"label": 1, "prob": p, "config": "match"} for p in (0.1, 0.3)]  # below or between the reals
    videos += [{"label": 1, "prob": p, "config": "mismatch"} for p in (0.5, 0.9)]  # above both
    videos.append({"label": 1, "prob": 0.3})  # a forgery with no configuration recorded
    row = heldout_metrics({"video": {"n_real": 2, "n_fake": 5}, "meta": {"threshold": 0.5}, "videos": videos})
    assert row["auc_by_config"] == {"match": 0.25, "mismatch": 1.0, "any": 0.5}
    second = {**row, "auc_by_config": {"match": 0.75}}
    mean = mean_rows([{"model": "m", "held_out": "x", **row}, {"model": "m", "held_out": "y", **second}])[0]
    assert mean["auc_by_config"] == {"match": 0.5, "mismatch": 1.0, "any": 0.5}


def test_mean_rows_and_model_specific_kwargs():
    rows = [{"model": "a", "held_out": "x", "auc": 0.6, "acc": None}, {"model": "a", "held_out": "y", "auc": 1.0},
            {"model": "b", "held_out": "x", "auc": 0.5}]
    means = {r["model"]: r for r in mean_rows(rows)}
    assert means["a"]["auc"] == pytest.approx(0.8) and means["a"]["acc"] is None and means["b"]["auc"] == 0.5
    kwargs = {"embed_dim": 8, "tofnet:temporal": "gru", "rgb_frame:backbone": "resnet18"}
    assert model_kwargs_for("tofnet", kwargs) == {"embed_dim": 8, "temporal": "gru"}
    assert model_kwargs_for("rgb_frame", kwargs) == {"embed_dim": 8, "backbone": "resnet18"}


def test_write_benchmark_tables_and_chart(tmp_path):
    rows = [{"model": m, "held_out": h, **heldout_metrics(_report([0.1, 0.4], [0.6, 0.9], 0.5))}
            for m in ("tofnet", "rgb_frame") for h in ("magicdance", "magicanimate")]
    paths = write_benchmark({"protocol": "p", "models": ["tofnet", "rgb_frame"],
                             "held_out": ["magicdance", "magicanimate"], "rows": rows}, tmp_path)
    text = paths["markdown"].read_text()
    # the report's AUC, with the bootstrap interval of the cell's own scores (perfectly separated: 1.00 to 1.00)
    assert "| model | magicdance | magicanimate | mean |" in text
    assert "| rgb_frame | 0.900 [1.00, 1.00] | 0.900 [1.00, 1.00] | 0.900 |" in text
    assert "| rgb_frame | 0.000 | 0.000 | 0.000 | within the test set's noise |" in text  # same scores as tofnet
    assert "| model | held_out | any |" in text and "| tofnet | mean | 1.000 |" in text  # by configuration
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(json.loads(paths["json"].read_text())["rows"]) == 4


def test_benchmark_cli_trains_each_model_once_and_resumes(tmp_path, capsys, monkeypatch):
    import tofnet.loo

    root, out = tmp_path / "ds", tmp_path / "bench"
    write_tiny_dataset(root, sources=6, frames=6, size=(32, 32))
    index_dataset(root, workers=1, progress=False)
    argv = ["benchmark", "--root", str(root), "--out", str(out), "--models", "rgb_frame", "flow_stats_only",
            "--methods", "magicdance", "--epochs", "1", "--size", "32x32", "--clip-len", "3", "--clips-per-video", "1",
            "--eval-clips-per-video", "2", "--batch-size", "4", "--model-arg", "rgb_frame:backbone=mobilenetv3_small_050",
            "--model-arg", "flow_stats_only:embed_dim=16", "--pseudo-fakes", "1", "--no-progress"]
    assert tofnet_main(argv) == 0
    table = json.loads((out / "benchmark.json").read_text())
    assert [(r["model"], r["held_out"]) for r in table["rows"]] == [("rgb_frame", "magicdance"),
                                                                     ("flow_stats_only", "magicdance")]
    for model in ("rgb_frame", "flow_stats_only"):
        run = json.loads((out / model / "method-magicdance" / "run_config.json").read_text())
        assert run["model"] == model and run["holdout_methods"] == ["magicdance"]
        assert run["pseudo_fakes"] == (1 if model == "rgb_frame" else 0)  # flow statistics never see pixels
    assert json.loads((out / "rgb_frame" / "method-magicdance" / "best" / "config.json").read_text()
                      )["model"]["kwargs"]["backbone"] == "mobilenetv3_small_050"
    assert "| flow_stats_only |" in capsys.readouterr().out

    trained = []
    monkeypatch.setattr(tofnet.train, "train_one_epoch", lambda *a, **k: trained.append(1) or 0.0)
    assert tofnet_main(argv) == 0 and trained == []  # finished cells are not retrained
    assert json.loads((out / "benchmark.json").read_text())["rows"] == table["rows"]

    # thresholds calibrated on the validation real videos: same cells, no retraining, checkpoints left as trained
    assert tofnet_main([*argv, "--false-alarm-rate", "0.5"]) == 0 and trained == []
    calibrated = json.loads((out / "benchmark.json").read_text())
    assert calibrated["threshold"] == "calibrated on validation real videos, false-alarm rate 0.5"
    assert "at the threshold calibrated on validation real videos, false-alarm rate 0.5" in capsys.readouterr().out
    for before, row in zip(table["rows"], calibrated["rows"]):
        best = out / row["model"] / "method-magicdance" / "best"
        val = evaluate_checkpoint(best, root, VideoFilter(splits=("val",), labels=("real",)),
                                  options=EvalOptions(progress=False))
        assert row["threshold"] == pytest.approx(np.median([v["prob"] for v in val["videos"]]))
        assert json.loads((best / "config.json").read_text())["threshold"] == before["threshold"]
        assert row["auc"] == before["auc"]


def test_benchmark_refuses_a_false_alarm_rate_of_zero_before_training(tmp_path, capsys):
    assert tofnet_main(["benchmark", "--root", str(tmp_path), "--out", str(tmp_path / "b"), "--models", "rgb_frame",
                        "--false-alarm-rate", "0"]) == 2
    assert "false-alarm rate must be between 0 and 1, exclusive (got 0.0)" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_benchmark_refuses_a_shared_backbone(tmp_path, capsys):
    assert tofnet_main(["benchmark", "--root", str(tmp_path), "--backbone", "resnet18"]) != 0
    assert "--model-arg MODEL:backbone=NAME" in capsys.readouterr().err


def test_goal_lines_name_every_miss_and_compare_with_baselines():
    from tofnet.benchmark import goal_lines

    good = {**heldout_metrics(_report([0.1, 0.2], [0.8, 0.9], 0.5)), "auc": 0.95}
    bad = {**heldout_metrics(_report([0.6, 0.2], [0.8, 0.3], 0.5)), "auc": 0.7}
    table = {"rows": [{"model": "tofnet", "held_out": "a", **good}, {"model": "tofnet", "held_out": "b", **bad},
                      {"model": "rgb_frame", "held_out": "a", **bad}, {"model": "rgb_frame", "held_out": "b", **bad}]}
    lines = goal_lines(table)
    assert lines[0] == "tofnet, held out a: auc 0.950 [1.00, 1.00] (ok), real_acc 1.000 (ok), fake_acc 1.000 (ok)"
    assert lines[1] == ("tofnet, held out b: auc 0.700 [0.00, 1.00] (goal >= 0.90), real_acc 0.500 (goal >= 0.85), "
                        "fake_acc 0.500 (goal >= 0.80)")
    assert lines[2] == ("tofnet mean AUC 0.825: above every baseline (best baseline rgb_frame: 0.700); paired "
                        "difference +0.125, 95% CI +0.000 to +0.500: within the test set's noise")  # from the scores


def _cells(model, reals, fakes_by_method):
    rows = []
    for method, fakes in fakes_by_method.items():
        videos = [{"label": 0, "prob": p, "path": f"real{i}"} for i, p in enumerate(reals)]
        videos += [{"label": 1, "prob": p, "path": f"{method}{i}"} for i, p in enumerate(fakes)]
        video = {"n_real": len(reals), "n_fake": len(fakes),
                 "auc": roc_auc_score([0] * len(reals) + [1] * len(fakes), [*reals, *fakes])}
        rows.append({"model": model, "held_out": method,
                     **heldout_metrics({"video": video, "meta": {"threshold": 0.5}, "videos": videos})})
    return rows


def test_scores_are_keyed_inside_the_root_so_runs_on_another_root_path_pair_up(tmp_path):
    from tofnet.benchmark import paired_auc_difference

    def cell(root, probs):
        videos = [{"label": label, "prob": p, "path": f"{root}/{'real' if label == 0 else 'fake'}/{i}.mp4"}
                  for i, (label, p) in enumerate(probs)]
        video = {"n_real": 2, "n_fake": 2, "auc": 1.0}
        return [{"model": "m", "held_out": "a",
                 **heldout_metrics({"video": video, "meta": {"threshold": 0.5, "root": root}, "videos": videos})}]

    probs = [(0, 0.1), (0, 0.2), (1, 0.8), (1, 0.9)]
    relative, absolute = cell("data/detector", probs), cell(str(tmp_path / "data/detector"), probs)
    assert set(relative[0]["scores"]["real"]) == set(absolute[0]["scores"]["real"]) == {"real/0.mp4", "real/1.mp4"}
    assert paired_auc_difference(relative, absolute)["diff"] == 0.0
    outside = heldout_metrics({"video": {"n_real": 1, "n_fake": 0}, "meta": {"threshold": 0.5, "root": "data"},
                               "videos": [{"label": 0, "prob": 0.1, "path": "/v/a.mp4"}]})
    assert outside["scores"]["real"] == {"/v/a.mp4": 0.1}  # a video outside the root keeps its whole path


def test_paired_difference_separates_a_real_gap_from_the_draw_of_the_test_set():
    from tofnet.benchmark import goal_lines, paired_auc_difference

    rng = np.random.default_rng(0)
    reals = list(rng.uniform(0, 1, 40))
    good = _cells("tofnet", reals, {m: list(rng.uniform(0.5, 1.5, 40)) for m in ("a", "b")})
    chance = _cells("rgb_frame", reals, {m: list(rng.uniform(0, 1, 40)) for m in ("a", "b")})
    paired = paired_auc_difference(good, chance)
    assert paired["diff"] == pytest.approx(np.mean([g["auc"] for g in good]) - np.mean([c["auc"] for c in chance]))
    assert 0 < paired["lo"] < paired["diff"] < paired["hi"]
    assert paired_auc_difference(good, good) == {"diff": 0.0, "lo": 0.0, "hi": 0.0, "held_out": ["a", "b"],
                                                 "seeds": 1}
    # four videos a side: the same kind of gap cannot be told from the draw of the test videos
    small = paired_auc_difference(_cells("x", reals[:4], {"a": [0.6, 0.9, 0.3, 0.8]}),
                                  _cells("y", reals[:4], {"a": [0.5, 0.2, 0.7, 0.4]}))
    assert small["lo"] < 0 < small["diff"] < small["hi"]
    line = goal_lines({"rows": [*good, *chance]})[-1]
    assert "above every baseline" in line and "higher beyond the test set's noise" in line
    assert goal_lines({"rows": [*good, *chance]})[0].startswith("tofnet, held out a: auc ")
    renamed = [{**r, "model": "tofnet_residual"} for r in good]  # the first model listed is the one judged
    assert goal_lines({"models": ["tofnet_residual", "rgb_frame"], "rows": [*renamed, *chance]})[0].startswith(
        "tofnet_residual, held out a: auc ")
    assert paired_auc_difference(good, [{**r, "scores": None} for r in chance]) is None  # an old table: no scores


def test_several_seeds_give_each_cell_a_mean_and_spread_and_widen_the_paired_interval(tmp_path):
    from tofnet.benchmark import goal_lines, paired_auc_difference, seed_means

    rng = np.random.default_rng(1)
    reals = list(rng.uniform(0, 1, 40))
    lucky = _cells("x", reals, {"a": list(rng.uniform(1.0, 2.0, 40))})  # AUC 1: every forgery above every real
    unlucky = _cells("x", reals, {"a": list(rng.uniform(-1.0, 0.0, 40))})  # the same recipe, AUC 0 at another seed
    chance = _cells("y", reals, {"a": list(rng.uniform(0, 1, 40))})
    both = [{**lucky[0], "seed": 0}, {**unlucky[0], "seed": 1}]
    cell = seed_means(both)[0]
    assert (cell["seeds"], cell["auc"], cell["auc_sd"]) == (2, 0.5, pytest.approx(np.sqrt(0.5)))
    assert seed_means(lucky)[0]["auc_sd"] is None  # one seed: the row as it is, with its bootstrap interval
    # one lucky seed looks like a clear win; both seeds of the recipe cannot be told from chance
    assert paired_auc_difference(lucky, chance)["lo"] > 0
    two_seeds = paired_auc_difference(both, chance)
    assert two_seeds["lo"] < 0 < two_seeds["hi"] and two_seeds["seeds"] == 2
    table = {"protocol": "p", "models": ["x", "y"], "held_out": ["a"], "seeds": [0, 1], "rows": [*both, *chance]}
    assert goal_lines(table)[0].startswith("x, held out a: auc 0.500 ± 0.707 over 2 seeds (goal >= 0.90)")
    assert goal_lines(table)[-1].endswith("within the noise of the test set and the seeds")
    text = write_benchmark(table, tmp_path)["markdown"].read_text()
    assert "| x | 0.500 ± 0.707 over 2 seeds | 0.500 ± 0.707 over 2 seeds |" in text  # cell and mean
    assert "| model | held_out | seed | auc |" in text and "| x | a | 1 | 0.000 |" in text  # every seed's own row


def test_benchmark_cli_trains_each_seed_in_its_own_folder(tmp_path, capsys, monkeypatch):
    import tofnet.loo

    root, out = tmp_path / "ds", tmp_path / "bench"
    write_tiny_dataset(root, sources=6, frames=6, size=(32, 32))
    index_dataset(root, workers=1, progress=False)
    argv = ["benchmark", "--root", str(root), "--out", str(out), "--models", "flow_stats_only", "--methods",
            "magicdance", "--epochs", "1", "--size", "32x32", "--clip-len", "3", "--clips-per-video", "1",
            "--eval-clips-per-video", "2", "--batch-size", "4", "--model-arg", "embed_dim=16", "--no-progress",
            "--seed", "3", "--seeds", "3", "5"]
    assert tofnet_main(argv) == 0
    cells = out / "flow_stats_only" / "method-magicdance", out / "flow_stats_only" / "seed-5" / "method-magicdance"
    assert [json.loads((c / "run_config.json").read_text())["seed"] for c in cells] == [3, 5]
    table = json.loads((out / "benchmark.json").read_text())
    assert table["seeds"] == [3, 5] and [r["seed"] for r in table["rows"]] == [3, 5]
    assert "over 2 seeds" in capsys.readouterr().out
    trained = []
    monkeypatch.setattr(tofnet.train, "train_one_epoch", lambda *a, **k: trained.append(1) or 0.0)
    assert tofnet_main(argv[:-1]) == 0 and trained == []  # the base seed's cell is the one-seed benchmark's
    assert tofnet_main([*argv[:-2], "3", "3"]) != 0 and "lists a seed twice" in capsys.readouterr().err
