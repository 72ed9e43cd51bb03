"""Bad inputs through ``tofnet``: corrupt flow caches, checkpoints, broken videos and model arguments.

One tiny indexed dataset and one small checkpoint (flow statistics only: no image backbone) per module.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.fuzz_inputs import VIDEO_CASES, good_video
from tests.test_fuzz import _tiny
from tofnet.checkpoint import save_checkpoint
from tofnet.cli import main as tofnet_main
from tofnet.data import DataConfig
from tofnet.models import create_model
from ttdf.index import index_dataset

FLOW_ARGS = ["--flow-backend", "dis", "--size", "32x32"]


def run_tofnet(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = tofnet_main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tofnet-fuzz")
    _tiny(root, frames=8)
    index_dataset(root, workers=1, progress=False)
    return root


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = create_model("flow_stats_only", embed_dim=16)
    data = DataConfig(size=(32, 32), clip_len=4, eval_clips_per_video=3, flow_backend="dis")
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "best", model, extra_config={"data": data.to_dict()})


def _evaluate(root: Path, checkpoint: Path, out: Path) -> tuple[int, dict, str]:
    code, _, err = run_tofnet(["evaluate", str(checkpoint), "--root", str(root), "--out", str(out), "--device",
                               "cpu", "--no-progress", "--split", "train", "val", "test"])
    report = json.loads((out / "report.json").read_text()) if code == 0 else {}
    return code, report, err


def test_nan_flow_cache_is_computed_again(root, checkpoint, tmp_path):
    code, _, err = run_tofnet(["flow", "--root", str(root), *FLOW_ARGS, "--workers", "1", "--no-progress"])
    assert code == 0, err
    code, clean, err = _evaluate(root, checkpoint, tmp_path / "clean")
    assert code == 0, err
    entries = sorted((root / ".ttdf/flow").glob("**/*.npy"))
    assert entries
    for entry in entries:  # a damaged cache: right header, NaN payload
        np.save(entry, np.full(np.load(entry).shape, np.nan, np.float16))
    code, damaged, err = _evaluate(root, checkpoint, tmp_path / "damaged")
    assert code == 0 and "Traceback" not in err, err
    assert damaged["video"] == clean["video"] and damaged["meta"]["failures"] == {}
    assert all(np.isfinite(np.load(entry)).all() for entry in entries)  # healed, not just tolerated


@pytest.mark.parametrize("damage", ["truncated", "wrong-shape", "not-npy"])
def test_other_damaged_flow_cache_entries_are_recomputed(root, damage):
    assert run_tofnet(["flow", "--root", str(root), *FLOW_ARGS, "--workers", "1", "--no-progress"])[0] == 0
    entry = sorted((root / ".ttdf/flow").glob("**/*.npy"))[0]
    if damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:200])
    elif damage == "wrong-shape":
        np.save(entry, np.zeros((3, 3), np.float16))
    else:
        entry.write_bytes(b"not a numpy file")
    code, out, err = run_tofnet(["flow", "--root", str(root), *FLOW_ARGS, "--workers", "1", "--no-progress"])
    assert code == 0 and "Traceback" not in err
    assert np.load(entry).ndim == 4


def test_predict_names_a_broken_video_once(root, checkpoint, tmp_path, caplog):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    good = next(root.glob("real/raw/test/*.mp4"))
    with caplog.at_level(logging.WARNING):
        code, out, err = run_tofnet(["predict", str(good), str(broken), "--checkpoint", str(checkpoint),
                                     "--device", "cpu"])
    assert code == 1 and "Traceback" not in err
    mentions = [r for r in caplog.records if "broken.mp4" in r.getMessage()]
    assert len(mentions) == 1, [r.getMessage() for r in mentions]  # not once per clip
    assert mentions[0].getMessage().count(str(broken)) == 1  # and the path once in it
    lines = out.splitlines()
    assert any(line.startswith(str(broken)) and "error" in line for line in lines)
    assert any(line.startswith(str(good)) and "error" not in line for line in lines)


@pytest.mark.parametrize("case", [c for c in VIDEO_CASES if c.name in ("one-frame", "two-frames", "odd-size",
                                                                        "tiny-size", "empty", "text-file")],
                         ids=lambda c: c.name)
def test_predict_on_odd_videos(checkpoint, tmp_path, case):
    good = good_video(tmp_path / "good.mp4")
    target = tmp_path / Path(case.rel).name
    case.make(target, good)
    code, out, err = run_tofnet(["predict", str(target), str(good), "--checkpoint", str(checkpoint),
                                 "--device", "cpu"])
    assert "Traceback" not in err
    verdict = next(line for line in out.splitlines() if line.startswith(str(target)))
    if case.name == "one-frame" or case.expect[0] == "bad":
        assert code == 1 and "\terror\t" in verdict  # named, with why
    else:
        assert code == 0 and verdict.split("\t")[2] in ("real", "fake")


def test_model_arg_that_is_not_json_is_one_line(root, tmp_path):
    code, out, err = run_tofnet(["train", "--root", str(root), "--out", str(tmp_path / "run"), "--model",
                                 "flow_stats_only", "--model-arg", "embed_dim=notjson", "--epochs", "1",
                                 "--device", "cpu", "--no-progress"])
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1, err
    assert "embed_dim" in err and "notjson" in err


CHECKPOINT_CASES = ["config-not-json", "config-missing", "weights-truncated", "weights-missing", "bad-model-kwarg",
                    "unknown-model"]


@pytest.mark.parametrize("command", ["evaluate", "predict"])
@pytest.mark.parametrize("damage", CHECKPOINT_CASES)
def test_corrupt_checkpoint(root, checkpoint, tmp_path, damage, command):
    broken = tmp_path / "ckpt"
    shutil.copytree(checkpoint, broken)
    config_path, weights = broken / "config.json", broken / "model.safetensors"
    if damage == "config-not-json":
        config_path.write_text("{ not json")
    elif damage == "config-missing":
        config_path.unlink()
    elif damage == "weights-truncated":
        weights.write_bytes(weights.read_bytes()[:64])
    elif damage == "weights-missing":
        weights.unlink()
    else:
        config = json.loads(config_path.read_text())
        if damage == "bad-model-kwarg":
            config["model"]["kwargs"]["embed_dim"] = "notjson"
        else:
            config["model"]["name"] = "no_such_model"
        config_path.write_text(json.dumps(config))
    video = next(root.glob("real/raw/test/*.mp4"))
    argv = ["evaluate", str(broken), "--root", str(root)] if command == "evaluate" else \
        ["predict", str(video), "--checkpoint", str(broken)]
    code, out, err = run_tofnet(argv)
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1, err
    assert str(broken) in err
