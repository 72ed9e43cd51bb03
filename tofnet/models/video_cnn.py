"""Clip-level 3D CNN baselines from torchvision's video models (Kinetics-400 weights when pretrained).

Video forgery detectors often start from an action-recognition network that convolves over space
and time at once; R(2+1)D-18 (Tran et al., CVPR 2018) is the usual one. The clip (B, T, 3, H, W)
goes in as (B, 3, T, H, W); the 400-way Kinetics head is replaced by one forgery logit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torchvision.models import video

from tofnet.models.pretrained import Pretrained, torchvision_state_dict
from tofnet.models.registry import config_from_kwargs, register_model
from tofnet.models.tofnet import clip_input
from ttdf.errors import TTDFError

# torchvision's video weights are trained on clips normalised with these (see their transforms)
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
ARCHS = {
    "r2plus1d_18": (video.r2plus1d_18, video.R2Plus1D_18_Weights.KINETICS400_V1),
    "r3d_18": (video.r3d_18, video.R3D_18_Weights.KINETICS400_V1),
    "mc3_18": (video.mc3_18, video.MC3_18_Weights.KINETICS400_V1),
}


@dataclass
class VideoCNNConfig:
    arch: str = "r2plus1d_18"
    dropout: float = 0.2
    input_size: tuple[int, int] = (112, 112)
    clip_len: int = 8
    pretrained: Pretrained = False  # True: torchvision's Kinetics-400 weights; str: a local weights file

    def __post_init__(self) -> None:
        self.input_size = tuple(int(v) for v in self.input_size)  # type: ignore[assignment]
        if self.arch not in ARCHS:
            raise TTDFError(f"video CNN: arch={self.arch!r} is not one of {', '.join(ARCHS)}")
        if not 0.0 <= self.dropout < 1.0:
            raise TTDFError(f"video CNN: dropout={self.dropout} must be in [0, 1)")


class VideoCNN(nn.Module):
    """A torchvision video ResNet scoring a whole clip at once."""

    def __init__(self, cfg: VideoCNNConfig):
        super().__init__()
        self.cfg = cfg
        builder, weights = ARCHS[cfg.arch]
        net = builder(weights=None)
        if cfg.pretrained:
            # NOTE: load into the Kinetics-shaped net first so strict loading checks every tensor, then swap the head
            net.load_state_dict(torchvision_state_dict(weights, cfg.pretrained))
        net.fc = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(net.fc.in_features, 1))
        self.net = net
        self.required_inputs: tuple[str, ...] = ("rgb",)
        self.pretrained_cfg: dict[str, Any] = {"input_size": cfg.input_size, "clip_len": cfg.clip_len,
                                               "mean": KINETICS_MEAN, "std": KINETICS_STD}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        clip = clip_input(batch, "rgb", 3).transpose(1, 2)  # (B, 3, T, H, W)
        return self.net(clip).squeeze(-1)


@register_model
def r2plus1d_18(pretrained: Pretrained = False, **kwargs: Any) -> VideoCNN:
    """R(2+1)D-18 from torchvision (Kinetics-400 weights with pretrained=True)."""
    return VideoCNN(config_from_kwargs(VideoCNNConfig, "r2plus1d_18", {"pretrained": pretrained}, kwargs))
