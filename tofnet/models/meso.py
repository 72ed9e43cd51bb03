"""MesoNet (Afchar et al., WIFS 2018): the small per-frame CNNs of the deepfake-detection field.

Meso-4 and MesoInception-4 were built to look at mesoscopic detail (a few pixels across) with very
few weights (about 28k each), which suits forgeries whose traces are fine-grained, and they are in
every deepfake benchmark (FaceForensics++, DeepfakeBench). Each frame is scored on its own and the
clip's logit is the mean, as for the other frame-level baselines. The last pooling is adaptive, so
the network is the paper's at 256x256 input and still runs on this toolkit's 64x64 crops.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from tofnet.models.pretrained import Pretrained, load_state_dict_file
from tofnet.models.registry import config_from_kwargs, register_model
from tofnet.models.tofnet import clip_input
from ttdf.errors import TTDFError

MESO_MEAN = MESO_STD = (0.5, 0.5, 0.5)  # the paper scales pixels to 0..1; centred here, as in DeepfakeBench
ARCHS = ("meso4", "meso_inception4")


@dataclass
class MesoConfig:
    arch: str = "meso4"
    dropout: float = 0.5
    input_size: tuple[int, int] = (64, 64)
    clip_len: int = 8
    pretrained: Pretrained = False  # no published PyTorch weights: a local file only

    def __post_init__(self) -> None:
        self.input_size = tuple(int(v) for v in self.input_size)  # type: ignore[assignment]
        if self.arch not in ARCHS:
            raise TTDFError(f"MesoNet: arch={self.arch!r} is not one of {', '.join(ARCHS)}")
        if not 0.0 <= self.dropout < 1.0:
            raise TTDFError(f"MesoNet: dropout={self.dropout} must be in [0, 1)")
        if self.pretrained is True:
            raise TTDFError("MesoNet has no published PyTorch weights to download; pass --pretrained-weights FILE "
                            "(a .safetensors or .pth state_dict of this model) or train without --pretrained")


def _conv_block(in_chans: int, out_chans: int, kernel: int, pool: nn.Module) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_chans, out_chans, kernel, padding=kernel // 2), nn.ReLU(inplace=True),
                         nn.BatchNorm2d(out_chans), pool)


class InceptionLayer(nn.Module):
    """MesoInception's module: 1x1, 3x3 and two dilated 3x3 branches, concatenated."""

    def __init__(self, in_chans: int, a: int, b: int, c: int, d: int):
        super().__init__()
        self.branches = nn.ModuleList([
            nn.Conv2d(in_chans, a, 1),
            nn.Sequential(nn.Conv2d(in_chans, b, 1), nn.Conv2d(b, b, 3, padding=1)),
            nn.Sequential(nn.Conv2d(in_chans, c, 1), nn.Conv2d(c, c, 3, padding=2, dilation=2)),
            nn.Sequential(nn.Conv2d(in_chans, d, 1), nn.Conv2d(d, d, 3, padding=3, dilation=3)),
        ])
        self.out = nn.Sequential(nn.ReLU(inplace=True), nn.BatchNorm2d(a + b + c + d), nn.MaxPool2d(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.cat([branch(x) for branch in self.branches], dim=1))


class MesoNet(nn.Module):
    """Meso-4 or MesoInception-4 on every frame of a clip; the clip's logit is the mean of the frames'."""

    def __init__(self, cfg: MesoConfig):
        super().__init__()
        self.cfg = cfg
        last_pool = nn.AdaptiveMaxPool2d(8)  # the paper's 4x4 max pooling at 256x256 input
        if cfg.arch == "meso4":
            stem, stem_chans = [_conv_block(3, 8, 3, nn.MaxPool2d(2)), _conv_block(8, 8, 5, nn.MaxPool2d(2))], 8
        else:
            stem, stem_chans = [InceptionLayer(3, 1, 4, 4, 2), InceptionLayer(11, 2, 4, 4, 2)], 2 + 4 + 4 + 2
        self.features = nn.Sequential(*stem, _conv_block(stem_chans, 16, 5, nn.MaxPool2d(2)),
                                      _conv_block(16, 16, 5, last_pool), nn.Flatten())
        self.classifier = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(16 * 8 * 8, 16), nn.LeakyReLU(0.1),
                                        nn.Dropout(cfg.dropout), nn.Linear(16, 1))
        if isinstance(cfg.pretrained, str):
            self.load_state_dict(load_state_dict_file(cfg.pretrained))
        self.required_inputs: tuple[str, ...] = ("rgb",)
        self.pretrained_cfg: dict[str, Any] = {"input_size": cfg.input_size, "clip_len": cfg.clip_len,
                                               "mean": MESO_MEAN, "std": MESO_STD}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        clip = clip_input(batch, "rgb", 3)
        frames = clip.flatten(0, 1)  # (B*T, 3, H, W)
        logits = self.classifier(self.features(frames)).view(clip.shape[0], clip.shape[1])
        return logits.mean(dim=1)


@register_model
def meso4(pretrained: Pretrained = False, **kwargs: Any) -> MesoNet:
    """Meso-4 per frame (Afchar et al., 2018), mean of the frames' logits."""
    return MesoNet(config_from_kwargs(MesoConfig, "meso4", {"pretrained": pretrained}, kwargs))


@register_model
def meso_inception4(pretrained: Pretrained = False, **kwargs: Any) -> MesoNet:
    """MesoInception-4 per frame (Afchar et al., 2018), mean of the frames' logits."""
    defaults = {"arch": "meso_inception4", "pretrained": pretrained}
    return MesoNet(config_from_kwargs(MesoConfig, "meso_inception4", defaults, kwargs))
