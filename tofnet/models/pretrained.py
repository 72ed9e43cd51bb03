"""Pretrained weights for the backbones: timm's through the Hugging Face cache, torchvision's through
the torch hub cache, or a local file.

``pretrained`` is ``False`` (random init), ``True`` (download, or reuse the cache: ``HF_HOME`` and
``HF_TOKEN`` for timm, ``TORCH_HOME`` for torchvision) or the path of a weights file (``.safetensors``
or a ``torch.save``'d state_dict), for machines that never reach the hub.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import safetensors.torch
import timm
import torch
from torch import nn

from ttdf.errors import DownloadError, TTDFError

Pretrained = bool | str
OFFLINE_HINT = ("download them once online (timm: the Hugging Face cache, HF_HOME/HF_TOKEN honoured; "
                "torchvision: TORCH_HOME), or pass --pretrained-weights FILE (a .safetensors or .pth state_dict)")


def timm_model(name: str, *, pretrained: Pretrained = False, **kwargs: Any) -> nn.Module:
    """``timm.create_model`` with ``pretrained`` as above; a failed download is one actionable line."""
    if not timm.is_model(name):
        raise TTDFError(f"unknown timm backbone {name!r}; pick one from timm.list_models(), e.g. "
                        "'mobilenetv3_small_100' or 'resnet18'")
    if isinstance(pretrained, str):
        path = weights_file(pretrained)
        # NOTE: timm's own loader then adapts the file like a hub download (in_chans, dropped classifier).
        kwargs["pretrained_cfg_overlay"] = {"file": str(path)}
    try:
        return timm.create_model(name, pretrained=bool(pretrained), **kwargs)
    except Exception as err:  # timm surfaces hub/HTTP/file errors under many types
        if not pretrained:
            raise
        source = pretrained if isinstance(pretrained, str) else "the Hugging Face Hub"
        raise DownloadError(f"could not load pretrained timm weights for {name!r} from {source} "
                            f"({type(err).__name__}: {first_line(err)}); {OFFLINE_HINT}, or train without "
                            "--pretrained") from err


def torchvision_state_dict(weights: Any, pretrained: Pretrained) -> dict[str, torch.Tensor]:
    """The state_dict of a torchvision ``WeightsEnum`` entry, or of a local file."""
    if isinstance(pretrained, str):
        return load_state_dict_file(pretrained)
    try:
        return torch.hub.load_state_dict_from_url(weights.url, progress=False, check_hash=True)
    except Exception as err:  # URLError, HTTPError, hash mismatch: all end the same way for the user
        raise DownloadError(f"could not download torchvision weights {weights} from {weights.url} "
                            f"({type(err).__name__}: {first_line(err)}); {OFFLINE_HINT}, or train without "
                            "--pretrained") from err


def weights_file(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise TTDFError(f"{path}: pretrained weights file not found; pass an existing .safetensors or .pth "
                        "state_dict to --pretrained-weights")
    return path


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state_dict from ``.safetensors`` or a ``torch.save`` file (tensors only, no pickled code)."""
    path = weights_file(path)
    try:
        if path.suffix == ".safetensors":
            return safetensors.torch.load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise TTDFError(f"{path}: not a readable state_dict ({type(err).__name__}: {first_line(err)}); "
                        "pass a .safetensors or .pth file saved from the model's state_dict()") from err
    for key in ("state_dict", "model"):  # common wrappers of training checkpoints
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise TTDFError(f"{path}: holds a {type(state).__name__}, not a state_dict; save model.state_dict()")
    return state


def first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
