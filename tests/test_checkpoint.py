"""Checkpoints: config travels with weights, round-trips exactly, and fails with actionable errors."""
from __future__ import annotations

import json

import huggingface_hub
import pytest
import torch
from torch import nn

from tofnet.checkpoint import load_checkpoint, read_checkpoint_config, save_checkpoint
from tofnet.models import create_model, registry
from ttdf.errors import DownloadError, TTDFError


def _batch(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"rgb": torch.randn(2, 3, 3, 48, 48, generator=g), "flow": torch.randn(2, 3, 2, 48, 48, generator=g) * 2}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = create_model("tofnet", temporal="transformer", embed_dim=32, backbone="lcnet_050")
    model.train()
    with torch.no_grad():  # move BatchNorm running stats away from their defaults
        model(_batch(1))
    directory = save_checkpoint(tmp_path_factory.mktemp("ckpt") / "best", model, extra_config={"epoch": 3})
    return model.eval(), directory


def test_round_trip_gives_identical_outputs(saved):
    model, directory = saved
    loaded, config = load_checkpoint(directory)
    assert type(loaded) is type(model) and not loaded.training
    assert loaded.model_config == model.model_config
    with torch.no_grad():
        assert torch.equal(loaded(_batch()), model(_batch()))


def test_config_json_records_how_to_rebuild(saved):
    model, directory = saved
    assert sorted(p.name for p in directory.iterdir()) == ["config.json", "model.safetensors"]  # no temp files
    config = json.loads((directory / "config.json").read_text())
    assert config["model"]["name"] == "tofnet"
    assert config["model"]["kwargs"]["temporal"] == "transformer"
    assert config["model"]["kwargs"]["backbone"] == "lcnet_050"
    assert config["pretrained_cfg"]["input_size"] == [112, 112] and config["pretrained_cfg"]["clip_len"] == 8
    assert config["required_inputs"] == ["rgb", "flow"] and config["epoch"] == 3
    assert read_checkpoint_config(directory) == config


def test_tied_weights_are_saved(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))

    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)
            self.b.weight = self.a.weight

    registry.register_model(name="tied_test")(lambda pretrained=False: Tied())
    model = create_model("tied_test")
    loaded, _ = load_checkpoint(save_checkpoint(tmp_path, model))
    assert torch.equal(loaded.a.weight, model.a.weight) and loaded.b.weight is loaded.a.weight


def test_save_refuses_unbuildable_models_and_reserved_keys(tmp_path):
    with pytest.raises(TTDFError, match="create_model"):
        save_checkpoint(tmp_path, nn.Linear(2, 2))
    with pytest.raises(TTDFError, match="reserved"):
        save_checkpoint(tmp_path, create_model("flow_stats_only"), extra_config={"model": "x"})


def test_missing_and_corrupt_checkpoints_name_the_path(saved, tmp_path):
    _, directory = saved
    with pytest.raises(TTDFError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    with pytest.raises(TTDFError, match="config.json: missing"):
        load_checkpoint(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text((directory / "config.json").read_text())
    with pytest.raises(TTDFError, match="model.safetensors: missing"):
        load_checkpoint(bad)
    data = (directory / "model.safetensors").read_bytes()
    for garbage in (b"not a safetensors file", data[: len(data) // 2]):
        (bad / "model.safetensors").write_bytes(garbage)
        with pytest.raises(TTDFError, match="corrupt or truncated") as info:
            load_checkpoint(bad)
        assert str(bad / "model.safetensors") in str(info.value)
    (bad / "config.json").write_text("{not json")
    with pytest.raises(TTDFError, match="unreadable"):
        load_checkpoint(bad)


def test_config_that_does_not_match_the_weights(saved, tmp_path):
    _, directory = saved
    config = json.loads((directory / "config.json").read_text())
    (tmp_path / "model.safetensors").write_bytes((directory / "model.safetensors").read_bytes())
    config["model"]["name"] = "tofnet_v9"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(TTDFError, match="'tofnet_v9' is not registered.*rgb_frame"):
        load_checkpoint(tmp_path)
    config["model"]["name"] = "tofnet"
    config["model"]["kwargs"]["embed_dim"] = 16
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(TTDFError, match="do not match"):
        load_checkpoint(tmp_path)
    config["model"]["kwargs"]["wings"] = 2
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(TTDFError, match="config.json: cannot rebuild.*wings"):
        load_checkpoint(tmp_path)


def test_load_from_hub_repo_id(saved, monkeypatch):
    _, directory = saved
    calls = []

    def fake_snapshot_download(repo_id, revision=None, allow_patterns=None, **kwargs):
        calls.append((repo_id, revision, sorted(allow_patterns)))
        return str(directory)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    model, config = load_checkpoint("someone/tofnet-ttdf", revision="v1")
    assert calls == [("someone/tofnet-ttdf", "v1", ["config.json", "model.safetensors"])]
    assert config["epoch"] == 3 and model.required_inputs == ("rgb", "flow")
    read_checkpoint_config("hf-hub:someone/other")
    assert calls[-1] == ("someone/other", None, ["config.json"])


def test_hub_unreachable_is_a_one_line_download_error(monkeypatch):
    def offline(**kwargs):
        raise OSError("Cannot reach https://huggingface.co\nConnection refused")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(DownloadError, match="someone/tofnet-ttdf") as info:
        load_checkpoint("someone/tofnet-ttdf")
    assert "\n" not in str(info.value) and "HF_HUB_OFFLINE" in str(info.value)


@pytest.mark.parametrize("version,message", [(2, "format 2 is newer than this tofnet reads"),
                                             (None, "no integer 'format_version'"),
                                             ("1", "no integer 'format_version'")])
def test_format_version_is_checked(saved, tmp_path, version, message):
    _, directory = saved
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "model.safetensors").write_bytes((directory / "model.safetensors").read_bytes())
    config = json.loads((directory / "config.json").read_text())
    config["format_version"] = version
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(TTDFError, match=message):
        load_checkpoint(copy)


def test_flow_weights_are_recorded_by_content_and_bound_to_a_local_file(tmp_path):
    from tofnet.data import DataConfig
    from tofnet.flow import flow_weights_id

    weights, other = tmp_path / "raft.pth", tmp_path / "other.pth"
    weights.write_bytes(b"raft weights")
    other.write_bytes(b"other weights")
    local = DataConfig(flow_backend="raft_small", flow_kwargs={"weights": str(weights)})
    recorded = local.portable()
    assert recorded.flow_kwargs == {"weights": flow_weights_id(weights)}
    assert str(tmp_path) not in json.dumps(recorded.to_dict())  # no machine-local path in a checkpoint
    assert recorded.with_flow_weights(weights) == local
    with pytest.raises(TTDFError, match=r"with a weights file \(sha256:[0-9a-f]{16}\); pass --flow-weights FILE"):
        recorded.with_flow_weights(None)
    with pytest.raises(TTDFError, match="other.pth: is sha256:.* but the checkpoint's flow used sha256:"):
        recorded.with_flow_weights(other)
    named = DataConfig(flow_backend="raft_small", flow_kwargs={"weights": "default"})
    assert named.portable() == named and named.with_flow_weights(None) == named
    with pytest.raises(TTDFError, match="takes no weights file; drop --flow-weights"):
        DataConfig().with_flow_weights(weights)


def test_checkpoints_from_before_the_fast_defaults_rebuild_their_old_architecture(tmp_path):
    """A config.json that predates diff_fusion/flow_scale was a second difference backbone, full-size flow."""
    legacy = create_model("tofnet", embed_dim=32, backbone="lcnet_050", diff_fusion="separate", flow_scale=1.0)
    directory = save_checkpoint(tmp_path / "old", legacy.eval())
    config = json.loads((directory / "config.json").read_text())
    for key in ("diff_fusion", "flow_scale"):
        del config["model"]["kwargs"][key]  # as an older tofnet wrote it
    (directory / "config.json").write_text(json.dumps(config))
    loaded, _ = load_checkpoint(directory)
    assert hasattr(loaded, "diff_encoder") and loaded.cfg.flow_scale == 1.0
    with torch.no_grad():
        assert torch.equal(loaded(_batch()), legacy(_batch()))
    assert not hasattr(create_model("tofnet", backbone="lcnet_050"), "diff_encoder")  # new models: one pass
