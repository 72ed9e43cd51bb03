"""Training, resume, evaluation, prediction and DDP on a tiny indexed dataset (CPU, random weights)."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tests.tiny_dataset import write_tiny_dataset
import tofnet.train
from tofnet.calibrate import calibrate_on_videos
from tofnet.checkpoint import load_checkpoint
from tofnet.cli import main as tofnet_main
from tofnet.cli.common import train_config_from_args, training_options
from tofnet.data import DataConfig
from tofnet.evaluate import EvalOptions, evaluate_checkpoint
from tofnet.predict import predict_videos
from tofnet.train import TrainConfig, train
from ttdf.errors import TTDFError
from ttdf.index import VideoIndex, index_dataset
from ttdf.records import VideoFilter
from ttdf.taxonomy import load_taxonomy

REPO = Path(__file__).resolve().parent.parent
TINY_MODEL = {"backbone": "mobilenetv3_small_050", "embed_dim": 32}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    write_tiny_dataset(root, sources=6, frames=6, size=(32, 32))
    index_dataset(root, workers=1, progress=False)
    return root


def _config(root: Path, out: Path, **changes) -> TrainConfig:
    base = TrainConfig(root=str(root), out=str(out), model="tofnet", model_kwargs=dict(TINY_MODEL), epochs=2,
                       batch_size=4, lr=1e-3, warmup_steps=1, seed=0, progress=False,
                       data=DataConfig(size=(32, 32), clip_len=3, train_clips_per_video=1, eval_clips_per_video=2))
    return replace(base, **changes)


def _count(root: Path, filt: VideoFilter) -> int:
    with VideoIndex.open(root) as index:
        return len(index.query(filt))


def test_train_writes_checkpoints_metrics_and_run_config(dataset, tmp_path):
    best = train(_config(dataset, tmp_path / "run"))
    run = tmp_path / "run"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]
    assert {r["val_n"] for r in rows} == {_count(dataset, VideoFilter(splits=("val",)))}  # every val video scored
    assert all(r["train_seconds"] > 0 and r["val_seconds"] > 0 for r in rows)  # where an epoch's time goes
    for folder in ("best", "last"):
        config = json.loads((run / folder / "config.json").read_text())
        assert config["model"]["name"] == "tofnet" and config["data"]["clip_len"] == 3
        assert config["pretrained_cfg"]["input_size"] == config["data"]["size"] == [32, 32]  # one size, not two
        assert config["pretrained_cfg"]["clip_len"] == 3
        assert (run / folder / "model.safetensors").exists()
    resolved = json.loads((run / "run_config.json").read_text())
    assert resolved["data"]["size"] == [32, 32] and resolved["seed"] == 0 and resolved["data"]["flow_backend"] == "dis"
    # the saved validation metrics and threshold are those of the best checkpoint, recomputed from scratch
    saved = json.loads((run / "best" / "config.json").read_text())
    again = evaluate_checkpoint(run / "best", dataset, VideoFilter(splits=("val",)), options=EvalOptions(progress=False))
    assert saved["threshold"] == best["threshold"] == again["meta"]["threshold"]
    for key in ("auc", "acc", "eer", "n"):
        assert again["video"][key] == pytest.approx(best[key]), key


@pytest.mark.parametrize("budget", [1 << 30, 1])
def test_validation_clips_are_read_once_while_they_fit_in_memory(dataset, tmp_path, monkeypatch, budget):
    from tofnet.data import ClipDataset
    loads: list[bool] = []
    original = ClipDataset._load

    def counting(self, *args, **kwargs):
        loads.append(self.train)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ClipDataset, "_load", counting)
    monkeypatch.setattr(tofnet.train, "VAL_CACHE_BYTES", budget)
    train(_config(dataset, tmp_path / "run"))  # 2 epochs, 2 clips per val video, workers=0: loads seen here
    val_clips = 2 * _count(dataset, VideoFilter(splits=("val",)))
    if budget > 1:  # kept from the first validation for the second
        assert loads.count(False) == val_clips
    else:  # over budget: the first batch (4 clips) is read in vain, then each epoch reads them all
        assert loads.count(False) == 4 + 2 * val_clips
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(r["val_n"] == val_clips // 2 for r in rows)


def test_resume_continues_the_same_run(dataset, tmp_path, monkeypatch):
    train(_config(dataset, tmp_path / "straight", epochs=2))
    real_epoch = tofnet.train.train_one_epoch

    def interrupted(*args, epoch, **kwargs):
        if epoch == 1:
            raise KeyboardInterrupt
        return real_epoch(*args, epoch=epoch, **kwargs)

    monkeypatch.setattr(tofnet.train, "train_one_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(_config(dataset, tmp_path / "resumed", epochs=2))
    monkeypatch.setattr(tofnet.train, "train_one_epoch", real_epoch)
    train(_config(dataset, tmp_path / "resumed", epochs=2, resume=True))
    straight = load_file(tmp_path / "straight" / "last" / "model.safetensors")
    resumed = load_file(tmp_path / "resumed" / "last" / "model.safetensors")
    assert straight.keys() == resumed.keys()
    for key in straight:
        torch.testing.assert_close(straight[key], resumed[key], msg=key)
    rows = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in rows] == [0, 1]

    # a rerun never clobbers nor silently continues a run: it names the way out
    finished = tmp_path / "straight"
    before = (finished / "metrics.jsonl").read_bytes()
    with pytest.raises(TTDFError, match=r"same settings \(finished\); pass --resume"):
        train(_config(dataset, finished, epochs=2))
    with pytest.raises(TTDFError, match=r"different settings \(data.clip_len, epochs\); pass --out elsewhere or "
                                        r"--overwrite"):
        train(_config(dataset, finished, epochs=3, resume=True,
                      data=DataConfig(size=(32, 32), clip_len=2, train_clips_per_video=1, eval_clips_per_video=2)))
    assert (finished / "metrics.jsonl").read_bytes() == before
    assert train(_config(dataset, finished, epochs=2, resume=True)) == \
        json.loads((finished / "best" / "config.json").read_text())["metrics"]  # finished: nothing retrained
    assert (finished / "metrics.jsonl").read_bytes() == before
    train(_config(dataset, finished, epochs=1, overwrite=True))
    assert [json.loads(r)["epoch"] for r in (finished / "metrics.jsonl").read_text().splitlines()] == [0]


def test_identity_leak_between_splits_is_refused_unless_allowed(tmp_path):
    root = tmp_path / "leaky"
    write_tiny_dataset(root, sources=3, frames=4, methods=("magicdance",), leak=True)
    index_dataset(root, workers=1, progress=False)
    with pytest.raises(TTDFError, match=r"3 video\(s\) use a source of another split .*--allow-split-leak"):
        train(_config(root, tmp_path / "run", epochs=1))
    assert not (tmp_path / "run").exists()


def test_holdout_leaving_no_method_is_refused(dataset, tmp_path):
    from ttdf.errors import TTDFError
    with pytest.raises(TTDFError, match="no training method"):
        train(_config(dataset, tmp_path / "x", train_methods=("magicdance",), holdout_methods=("magicdance",)))


def test_evaluate_and_predict(dataset, tmp_path, capsys):
    train(_config(dataset, tmp_path / "run", epochs=1, model="rgb_frame", model_kwargs={"backbone": "mobilenetv3_small_050"}))
    checkpoint = tmp_path / "run" / "best"
    report = evaluate_checkpoint(checkpoint, dataset, VideoFilter(splits=("test",)), out_dir=tmp_path / "eval")
    assert report["video"]["n"] == report["video"]["n_real"] + report["video"]["n_fake"] > 0
    assert report["clip"]["n"] == 2 * report["video"]["n"]  # eval_clips_per_video == 2
    assert {"report.json", "report.md", "roc.png"} <= {p.name for p in (tmp_path / "eval").iterdir()}
    calibrated = json.loads((checkpoint / "config.json").read_text())["threshold"]
    assert report["meta"]["threshold"] == calibrated  # ACC uses the validation-picked threshold
    # the CLI prints one line per forgery method, with that method's fakes against every real video
    assert tofnet_main(["evaluate", str(checkpoint), "--root", str(dataset), "--no-progress"]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("video, ")]
    methods = [g for g in report["groups"] if g["method"] != "*" and g["config"] == g["compression"] == "*"]
    assert len(methods) > 1 and len(printed) == len(methods)
    for group, line in zip(methods, printed):
        assert line.startswith(f"video, {group['method']}: n_real={group['n_real']} n_fake={group['n_fake']}")
        assert f"auc={group['auc']:.3f}" in line

    outside = tmp_path / "outside.mp4"
    outside.write_bytes((dataset / f"real/raw/test/{_stem(dataset)}.mp4").read_bytes())
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    good, bad = predict_videos([outside, corrupt], checkpoint)
    assert len(good.clip_probs) == 2 and good.error is None
    assert bad.prob_fake is None and "corrupt.mp4" in bad.error
    # predict scores a file as evaluate scores the same video in the index
    evaluated = {Path(v["path"]).name: v["prob"] for v in report["videos"]}
    assert good.prob_fake == pytest.approx(evaluated[outside.name.replace("outside", _stem(dataset))], abs=1e-6)
    # a failure inside a DataLoader worker still reaches the verdict, with its reason
    _, in_worker = predict_videos([outside, corrupt], checkpoint, options=EvalOptions(workers=2, progress=False))
    assert in_worker.error == bad.error


def test_calibrate_sets_the_threshold_that_calls_a_share_of_real_videos_forged(dataset, tmp_path, capsys):
    train(_config(dataset, tmp_path / "run", epochs=1, model="rgb_frame",
                  model_kwargs={"backbone": "mobilenetv3_small_050"}))
    checkpoint = tmp_path / "run" / "best"
    trained_threshold = json.loads((checkpoint / "config.json").read_text())["threshold"]
    scored = evaluate_checkpoint(checkpoint, dataset, VideoFilter(splits=("val",)), options=EvalOptions(progress=False))
    reals = [v["prob"] for v in scored["videos"] if v["label"] == 0]
    assert len(reals) >= 2 and any(v["label"] == 1 for v in scored["videos"])  # forgeries are there, and ignored
    assert tofnet_main(["calibrate", str(checkpoint), "--root", str(dataset), "--false-alarm-rate", "0.25",
                        "--no-progress"]) == 0
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["threshold"] == pytest.approx(np.quantile(reals, 0.75))
    assert config["calibration"]["n_real"] == len(reals) and config["calibration"]["false_alarm_rate"] == 0.25
    assert config["calibration"]["previous_threshold"] == trained_threshold
    assert f"calibrated {checkpoint}: threshold {config['threshold']:.4f} (was {trained_threshold:.4f}): " \
           f"{len(reals)} real video(s)" in capsys.readouterr().out
    assert evaluate_checkpoint(checkpoint, dataset, VideoFilter(splits=("test",)),
                               options=EvalOptions(progress=False))["meta"]["threshold"] == config["threshold"]
    load_checkpoint(checkpoint)  # still a checkpoint
    # one line naming the fix, never a traceback
    for argv, says in ((["--false-alarm-rate", "0"], "between 0 and 1, exclusive (got 0.0)"),
                       (["--compression", "c40"], "no indexed videos match")):
        assert tofnet_main(["calibrate", str(checkpoint), "--root", str(dataset), "--no-progress", *argv]) == 2
        assert says in capsys.readouterr().err
    assert json.loads((checkpoint / "config.json").read_text())["threshold"] == config["threshold"]  # untouched
    assert tofnet_main(["calibrate", "someone/detector", "--root", str(dataset), "--no-progress"]) == 2
    assert "someone/detector: not a local checkpoint folder" in capsys.readouterr().err
    # the same real videos given as files (your own camera's, no root): the same threshold; a bad file is named
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    files = [v["path"] for v in scored["videos"] if v["label"] == 0]
    assert tofnet_main(["calibrate", str(checkpoint), "--videos", *files, str(corrupt), "--false-alarm-rate", "0.25",
                        "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert f"SKIPPED  {corrupt}" in printed
    assert f"note: {len(files)} real video(s) are fewer than the 4 a false-alarm rate of 0.25 needs" in printed
    again = json.loads((checkpoint / "config.json").read_text())
    assert again["threshold"] == pytest.approx(config["threshold"], abs=1e-6)
    assert again["calibration"]["n_real"] == len(files) and list(again["calibration"]["unreadable"]) == [str(corrupt)]
    with pytest.raises(TTDFError, match="none of the 1 video"):
        calibrate_on_videos(checkpoint, [corrupt], options=EvalOptions(progress=False))


def test_train_then_calibrate_in_one_command(dataset, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--root", str(dataset), "--out", str(out), "--model", "rgb_frame", "--backbone",
            "mobilenetv3_small_050", "--epochs", "1", "--size", "32x32", "--clip-len", "3", "--clips-per-video", "1",
            "--eval-clips-per-video", "2", "--batch-size", "4", "--no-progress", "--false-alarm-rate", "0.5"]
    assert tofnet_main([*argv[:-2], "--false-alarm-rate", "0"]) == 2 and not out.exists()  # refused before training
    capsys.readouterr()
    assert tofnet_main(argv) == 0
    config = json.loads((out / "best" / "config.json").read_text())
    scored = evaluate_checkpoint(out / "best", dataset, VideoFilter(splits=("val",), labels=("real",)),
                                 options=EvalOptions(progress=False))
    assert config["threshold"] == pytest.approx(np.median([v["prob"] for v in scored["videos"]]))
    assert config["calibration"]["false_alarm_rate"] == 0.5
    assert f"threshold calibrated on {len(scored['videos'])} validation real video(s)" in capsys.readouterr().out


def test_false_alarm_threshold_is_the_quantile_of_real_scores():
    from tofnet.calibrate import false_alarm_threshold

    scores = [0.1 * k for k in range(11)]
    assert false_alarm_threshold(scores, 0.1) == pytest.approx(0.9)
    assert sum(s >= false_alarm_threshold(scores, 0.3) for s in scores) == 4  # 0.7, 0.8, 0.9, 1.0: about 30 %
    with pytest.raises(TTDFError, match="no real video"):
        false_alarm_threshold([], 0.05)
    with pytest.raises(TTDFError, match="between 0 and 1"):
        false_alarm_threshold(scores, 1.0)


def _stem(dataset: Path) -> str:
    return sorted(p.stem for p in dataset.glob("real/raw/test/*.mp4"))[0]


def test_predict_cli_json_and_exit_code(dataset, tmp_path, capsys):
    train(_config(dataset, tmp_path / "run", epochs=1, model="flow_only", model_kwargs={"backbone": "mobilenetv3_small_050"}))
    video = next(dataset.glob("fake/*/*/raw/test/*.mp4"))
    assert tofnet_main(["predict", str(video), "--checkpoint", str(tmp_path / "run" / "best"), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    [verdict] = predict_videos([video], tmp_path / "run" / "best", options=EvalOptions(progress=False))
    threshold = json.loads((tmp_path / "run" / "best" / "config.json").read_text())["threshold"]
    assert payload[0]["path"] == str(video) and payload[0]["prob_fake"] == pytest.approx(verdict.prob_fake)
    assert payload[0]["label"] == ("fake" if verdict.prob_fake >= threshold else "real")
    assert tofnet_main(["predict", str(tmp_path / "missing.mp4"), "--checkpoint", str(tmp_path / "run" / "best")]) == 1
    assert "file not found" in capsys.readouterr().out


def test_cli_rejects_bad_arguments(capsys):
    assert tofnet_main(["train", "--holdout-methods", "sora", "--root", "/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert "unknown method 'sora'" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as info:
        tofnet_main(["train", "--configs", "swap"])
    assert info.value.code == 2 and "invalid choice" in capsys.readouterr().err
    assert tofnet_main(["evaluate", "runs/does-not-exist", "--root", "/nonexistent"]) == 2
    assert "error" in capsys.readouterr().err


def test_old_config_names_become_match_and_mismatch():
    """Run configs written before the rename, and `--configs same cross`, name the canonical configurations."""
    old = TrainConfig(root="r", out="o", configs=("cross",)).to_dict()
    assert TrainConfig.from_dict(old).configs == ("mismatch",)
    assert TrainConfig(root="r", out="o", configs=("same", "match", "cross")).filter("test").configs == \
        ("match", "mismatch")
    parser = argparse.ArgumentParser(parents=[training_options()])
    parser.add_argument("--root", default="r")
    parser.add_argument("--out", default="o")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--progress", default=False)
    assert train_config_from_args(parser.parse_args(["--configs", "same", "cross"])).configs == ("match", "mismatch")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ddp_two_processes_gloo(dataset, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(dataset, root)
    # one unreadable training video: with one clip per batch, exactly one rank's batch fails at some step,
    # and both ranks must still run the same collectives (old code: one rank skipped, the other hung or crashed)
    broken = sorted(root.glob("fake/*/*/raw/train/*.mp4"))[0]
    broken.write_bytes(b"\x00" * 64)
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), "-m", "tofnet.cli", "train", "--root", str(root), "--out",
               str(out), "--model", "rgb_frame", "--backbone", "mobilenetv3_small_050", "--epochs", "1",
               "--batch-size", "1", "--clips-per-video", "1", "--size", "32x32", "--clip-len", "2", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["world_size"] == 2 and rows[0]["failed_videos"] == 1
    # each rank scored half of the validation videos; the gathered predictions cover all of them
    assert rows[0]["val_n"] == _count(root, VideoFilter(splits=("val",)))
    assert (out / "best" / "model.safetensors").exists()


def test_generalisation_protocols(tmp_path, monkeypatch):
    import tofnet.loo
    from ttdf.compress import compress_dataset
    from tofnet.loo import PROTOCOLS, run_protocols

    root = tmp_path / "ds"
    write_tiny_dataset(root, sources=6, frames=6, size=(32, 32))
    index_dataset(root, workers=1, progress=False)
    compress_dataset(root, [23, 40], workers=1, progress=False)
    trained = []
    real_train = tofnet.loo.train
    monkeypatch.setattr(tofnet.loo, "train", lambda config: trained.append(config.out) or real_train(config))
    base = _config(root, tmp_path / "loo", epochs=1, model="rgb_frame",
                   model_kwargs={"backbone": "mobilenetv3_small_050"})
    summary = run_protocols(base, PROTOCOLS)

    for method in ("magicanimate", "animateanyone", "magicdance"):
        assert f"| {method} |" in summary
        assert (tmp_path / "loo" / f"method-{method}" / "eval" / "report.json").exists()
    assert "| mean |" in summary and "| raw -> c40 |" in summary
    assert trained.count(str(tmp_path / "loo" / "compression-raw")) == 1  # one model, three test sets
    reports = {c: json.loads((tmp_path / "loo" / "compression-raw" / f"eval-{c}" / "report.json").read_text())
               for c in ("raw", "c23", "c40")}
    assert {c: {g["compression"] for g in r["groups"]} - {"*"} for c, r in reports.items()} == \
        {"raw": {"raw"}, "c23": {"c23"}, "c40": {"c40"}}
    held_out = json.loads((tmp_path / "loo" / "method-magicdance" / "run_config.json").read_text())
    assert held_out["holdout_methods"] == ["magicdance"] and "magicdance" not in held_out["train_methods"]
    assert json.loads((tmp_path / "loo" / "summary.json").read_text()).keys() == set(PROTOCOLS)

    # held-out configuration: each cell trains on the other configurations and is tested on the held-out one only
    configs = load_taxonomy().configs
    for held in configs:
        rest = [c for c in configs if c != held]
        assert f"| {'+'.join(rest)} -> {held} |" in summary
        cell = tmp_path / "loo" / f"config-{held}"
        assert json.loads((cell / "run_config.json").read_text())["configs"] == rest
        report = json.loads((cell / "eval" / "report.json").read_text())
        assert {g["config"] for g in report["groups"]} - {"*"} == {held}
        assert {v["config"] for v in report["videos"] if v["label"] == 1} == {held}

    # a rerun with other settings refuses the old cells instead of continuing them
    trained.clear()
    with pytest.raises(TTDFError, match=r"method-magicanimate: holds a run with different settings \(epochs\)"):
        run_protocols(replace(base, epochs=2), ("method",))
    assert trained == [str(tmp_path / "loo" / "method-magicanimate")]  # refused before any training
    weights = {p: p.stat().st_mtime_ns for p in (tmp_path / "loo").glob("method-*/*/model.safetensors")}
    run_protocols(base, ("method",))  # the same settings: every cell is finished, nothing is retrained
    assert {p: p.stat().st_mtime_ns for p in weights} == weights


def test_oversampling_balances_real_and_fake_clips_and_bad_modes_are_refused(tmp_path):
    from tofnet.data import VideoSource
    from tofnet.train import oversample_reals
    from ttdf.errors import TTDFError
    videos = [VideoSource(tmp_path / f"r{i}.mp4", _record(False)) for i in range(2)]
    videos += [VideoSource(tmp_path / f"f{i}.mp4", _record(True)) for i in range(8)]
    balanced = oversample_reals(videos)
    labels = [v.label for v in balanced]
    assert labels.count(0) == labels.count(1) == 8
    assert {v.path.name for v in balanced} == {v.path.name for v in videos}  # nothing dropped
    with pytest.raises(TTDFError, match="balance"):
        TrainConfig(root=str(tmp_path), out=str(tmp_path / "o"), balance="undersample")
    saved = TrainConfig(root=str(tmp_path), out=str(tmp_path / "o")).to_dict()
    del saved["balance"]  # a run saved before --balance existed trained with a weighted loss
    assert TrainConfig.from_dict(saved).balance == "weight"


def _record(fake: bool):
    from ttdf.records import VideoRecord
    return VideoRecord(path="x.mp4", label="fake" if fake else "real", method="m" if fake else None,
                       config="match" if fake else None, identity_id="a", pose_id="a", split="train", compression="raw")
