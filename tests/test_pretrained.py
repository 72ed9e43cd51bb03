"""Pretrained weights really end up in the models: hub downloads patched, local files, offline errors."""
from __future__ import annotations

import subprocess
import sys
import urllib.error

import huggingface_hub.constants
import pytest
import safetensors.torch
import timm
import torch
from torchvision.models import video

from tofnet.models import create_model
from ttdf.errors import DownloadError, TTDFError

BACKBONE = "mobilenetv3_small_100"


def _seeded_timm_file(tmp_path, seed: int = 7):
    torch.manual_seed(seed)
    source = timm.create_model(BACKBONE)  # with its ImageNet head, like the hub's file
    path = tmp_path / "model.safetensors"
    safetensors.torch.save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    return source.state_dict(), path


def _assert_backbone_equals(backbone: torch.nn.Module, reference: dict[str, torch.Tensor]) -> None:
    state = backbone.state_dict()
    # a stem built for other channel counts (6-channel early fusion) is adapted by timm, not copied
    shared = [k for k in state if k in reference and not k.startswith("classifier")
              and state[k].shape == reference[k].shape]
    assert len(shared) > 50
    for key in shared:
        assert torch.equal(state[key], reference[key]), key


def test_timm_pretrained_comes_from_the_hf_hub_cache(tmp_path, monkeypatch):
    reference, path = _seeded_timm_file(tmp_path)
    calls = []

    def fake_download(repo_id, filename=None, **kwargs):
        calls.append((repo_id, filename))
        return str(path)

    monkeypatch.setattr(timm.models._hub, "hf_hub_download", fake_download)
    model = create_model("rgb_frame", pretrained=True)
    assert calls and calls[0][0].startswith(f"timm/{BACKBONE}")
    _assert_backbone_equals(model.encoder.backbone, reference)
    assert "pretrained" not in model.model_config["kwargs"]  # the checkpoint, not the hub, restores weights
    random = create_model("rgb_frame")
    assert not torch.equal(random.encoder.backbone.conv_stem.weight, model.encoder.backbone.conv_stem.weight)


def test_a_local_weights_file_loads_into_every_tofnet_stream(tmp_path, monkeypatch):
    reference, path = _seeded_timm_file(tmp_path)
    monkeypatch.setattr(timm.models._hub, "hf_hub_download", lambda *a, **k: pytest.fail("no download expected"))
    model = create_model("tofnet", pretrained=str(path), embed_dim=16)
    encoders = [getattr(model, name) for name in ("rgb_encoder", "diff_encoder", "flow_encoder") if hasattr(model, name)]
    assert len(encoders) >= 2
    for encoder in encoders:
        _assert_backbone_equals(encoder.backbone, reference)


def test_timm_offline_is_one_line_that_names_the_local_file_option(monkeypatch):
    # conftest sets HF_HUB_OFFLINE=1 and an empty HF_HOME; the hub client read the variable at import, so
    # set its constant too: the real client then refuses at once instead of retrying the network
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DownloadError) as info:
        create_model("rgb_frame", pretrained=True)
    message = str(info.value)
    assert "\n" not in message and "--pretrained-weights FILE" in message and BACKBONE in message


def test_missing_weights_file_is_named(tmp_path):
    with pytest.raises(TTDFError, match="nope.safetensors: pretrained weights file not found"):
        create_model("rgb_frame", pretrained=str(tmp_path / "nope.safetensors"))


def test_torchvision_video_weights_are_loaded_and_the_head_replaced(tmp_path, monkeypatch):
    torch.manual_seed(3)
    reference = video.r2plus1d_18().state_dict()
    urls = []

    def fake_load(url, **kwargs):
        urls.append(url)
        return {k: v.clone() for k, v in reference.items()}

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_load)
    model = create_model("r2plus1d_18", pretrained=True)
    assert urls == [video.R2Plus1D_18_Weights.KINETICS400_V1.url]
    state = model.net.state_dict()
    for key, value in reference.items():
        if not key.startswith("fc."):
            assert torch.equal(state[key], value), key
    assert model.net.fc[-1].out_features == 1

    path = tmp_path / "r2plus1d.pth"
    torch.save({"state_dict": reference}, path)  # a wrapped training checkpoint works too
    from_file = create_model("r2plus1d_18", pretrained=str(path))
    assert torch.equal(from_file.net.stem[0].weight, reference["stem.0.weight"])


def test_torchvision_offline_is_one_line(monkeypatch):
    def offline(url, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(DownloadError) as info:
        create_model("r2plus1d_18", pretrained=True)
    assert "\n" not in str(info.value) and "--pretrained-weights FILE" in str(info.value)


@pytest.mark.parametrize("name", ["meso4", "meso_inception4"])
def test_mesonet_has_the_papers_size_and_loads_only_a_local_file(name, tmp_path):
    torch.manual_seed(5)
    trained = create_model(name)
    assert sum(p.numel() for p in trained.parameters()) == {"meso4": 27977, "meso_inception4": 28615}[name]
    path = tmp_path / f"{name}.safetensors"
    safetensors.torch.save_file(trained.state_dict(), path)
    loaded = create_model(name, pretrained=str(path))
    for key, value in trained.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    with pytest.raises(TTDFError, match="no published PyTorch weights.*--pretrained-weights FILE"):
        create_model(name, pretrained=True)


def test_cli_pretrained_options_reach_the_model(tmp_path):
    from tofnet.cli import build_parser
    from tofnet.cli.common import train_config_from_args

    def kwargs(*extra):
        return train_config_from_args(build_parser().parse_args(["train", "--root", str(tmp_path), *extra])).model_kwargs

    assert "pretrained" not in kwargs()
    assert kwargs("--pretrained")["pretrained"] is True
    assert kwargs("--pretrained-weights", "w.safetensors")["pretrained"] == "w.safetensors"


NETWORK_SPY = """
import os, urllib.request
os.environ.pop("NO_ALBUMENTATIONS_UPDATE", None)
calls = []
def spy(self, url, *args, **kwargs):
    calls.append(getattr(url, "full_url", url))
    raise OSError("offline")
urllib.request.OpenerDirector.open = spy
import {module}
print(calls)
"""


@pytest.mark.parametrize("module", ["tofnet.transforms", "albumentations"])
def test_importing_the_augmentations_asks_no_server(module):
    """albumentations checks PyPI for updates at import unless told not to; tofnet tells it (offline clusters)."""
    out = subprocess.run([sys.executable, "-c", NETWORK_SPY.format(module=module)], capture_output=True,
                         text=True, check=True).stdout.strip()
    # the bare library does call out: proof that the spy would see the call tofnet prevents
    assert (out == "[]") == (module == "tofnet.transforms"), out
