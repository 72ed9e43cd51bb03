"""Baselines in the same registry, so every comparison runs through the same train/eval code.

``rgb_frame``: a per-frame image classifier, clip logit = mean of frame logits (frame-level
detectors). ``flow_only``: the same on rendered flow images (AIGVDet's flow branch).
``rgb_temporal`` and ``flow_stats_only`` are single-branch TOF-Nets. ``xception_frame`` and
``efficientnet_b4_frame`` are the standard frame-level deepfake detectors (FaceForensics++, DFDC).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from tofnet.models.backbone import FLOW_INPUTS, FrameEncoder, flow_in_chans, flow_to_input
from tofnet.models.registry import config_from_kwargs, register_model
from tofnet.models.tofnet import LEGACY_KWARGS, DEFAULT_BACKBONE, TOFNet, TOFNetConfig, clip_input
from ttdf.errors import TTDFError

MODALITIES = ("rgb", "flow")


@dataclass
class FrameConfig:
    backbone: str = DEFAULT_BACKBONE
    modality: str = "rgb"
    flow_input: str = "image"
    dropout: float = 0.1
    input_size: tuple[int, int] = (112, 112)
    clip_len: int = 8
    pretrained: bool | str = False  # True: hub download; str: a local weights file

    def __post_init__(self) -> None:
        self.input_size = tuple(int(v) for v in self.input_size)  # type: ignore[assignment]
        if self.modality not in MODALITIES:
            raise TTDFError(f"frame classifier: modality={self.modality!r} is not one of {MODALITIES}")
        if self.flow_input not in FLOW_INPUTS:
            raise TTDFError(f"frame classifier: flow_input={self.flow_input!r} is not one of {FLOW_INPUTS}")
        if not 0.0 <= self.dropout < 1.0:
            raise TTDFError(f"frame classifier: dropout={self.dropout} must be in [0, 1)")


class FrameClassifier(nn.Module):
    """Scores every frame independently; no temporal reasoning at all."""

    def __init__(self, cfg: FrameConfig):
        super().__init__()
        self.cfg = cfg
        in_chans = 3 if cfg.modality == "rgb" else flow_in_chans(cfg.flow_input)
        self.encoder = FrameEncoder(cfg.backbone, pretrained=cfg.pretrained, in_chans=in_chans)
        self.classifier = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(self.encoder.out_dim, 1))
        self.required_inputs: tuple[str, ...] = (cfg.modality,)
        self.pretrained_cfg: dict[str, Any] = {"input_size": cfg.input_size, "clip_len": cfg.clip_len,
                                               "mean": self.encoder.mean, "std": self.encoder.std}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.cfg.modality == "rgb":
            frames = clip_input(batch, "rgb", 3)
        else:
            frames = flow_to_input(clip_input(batch, "flow", 2), self.cfg.flow_input, self.encoder.mean,
                                   self.encoder.std)
        return self.classifier(self.encoder(frames)).squeeze(-1).mean(dim=1)


@register_model
def rgb_frame(pretrained: bool = False, **kwargs: Any) -> FrameClassifier:
    """Frame-level RGB baseline: mean of per-frame logits."""
    return FrameClassifier(config_from_kwargs(FrameConfig, "rgb_frame", {"pretrained": pretrained}, kwargs))


@register_model
def flow_only(pretrained: bool = False, **kwargs: Any) -> FrameClassifier:
    """Per-frame classifier on flow images, mean of logits (like AIGVDet's optical-flow branch)."""
    defaults = {"modality": "flow", "pretrained": pretrained}
    return FrameClassifier(config_from_kwargs(FrameConfig, "flow_only", defaults, kwargs))


@register_model(legacy_kwargs=LEGACY_KWARGS)
def rgb_temporal(pretrained: bool = False, **kwargs: Any) -> TOFNet:
    """RGB frames -> backbone -> temporal module; no frame differences, no flow."""
    defaults = {"use_flow": False, "use_flow_stats": False, "rgb_diff": False, "pretrained": pretrained}
    return TOFNet(config_from_kwargs(TOFNetConfig, "rgb_temporal", defaults, kwargs))


@register_model(legacy_kwargs=LEGACY_KWARGS)
def flow_stats_only(pretrained: bool = False, **kwargs: Any) -> TOFNet:
    """Flow-distribution statistics alone: how far does motion statistics get without pixels?"""
    defaults = {"use_rgb": False, "use_flow": False, "pretrained": pretrained}
    return TOFNet(config_from_kwargs(TOFNetConfig, "flow_stats_only", defaults, kwargs))


@register_model
def xception_frame(pretrained: bool | str = False, **kwargs: Any) -> FrameClassifier:
    """Per-frame Xception (FaceForensics++'s frame-level baseline, timm ``legacy_xception``), mean of logits."""
    defaults = {"backbone": "legacy_xception", "pretrained": pretrained}
    return FrameClassifier(config_from_kwargs(FrameConfig, "xception_frame", defaults, kwargs))


@register_model
def efficientnet_b4_frame(pretrained: bool | str = False, **kwargs: Any) -> FrameClassifier:
    """Per-frame EfficientNet-B4 (the DFDC-winning frame-level detector's backbone), mean of logits."""
    defaults = {"backbone": "efficientnet_b4", "pretrained": pretrained}
    return FrameClassifier(config_from_kwargs(FrameConfig, "efficientnet_b4_frame", defaults, kwargs))
