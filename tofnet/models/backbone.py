"""Per-frame timm feature extractors, and how a flow field becomes a backbone input."""
from __future__ import annotations

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import nn
from torchvision.utils import flow_to_image

from tofnet.models.pretrained import Pretrained, timm_model
from ttdf.errors import TTDFError

FLOW_INPUTS = ("image", "field")
# oneDNN's convolution backward is slow on maps of a few pixels: on make detector's 64x64 crops, resnet10t's last
# stage (2x2 maps, 128 frames a batch) takes 226 ms a step as a convolution and 89 ms as one matrix product; the
# whole step 1.07x faster on 2 cores (`make bench`: train.step.detector against train.step.detector_conv). From 4x4
# maps on (256 channels) the convolution is faster again.
SMALL_MAP_PIXELS = 4


def create_backbone(name: str, *, pretrained: Pretrained = False, in_chans: int = 3) -> nn.Module:
    """``timm.create_model(name, num_classes=0)`` (globally pooled features); ``pretrained`` as in
    :mod:`tofnet.models.pretrained` (False, True or a weights file)."""
    return timm_model(name, pretrained=pretrained, num_classes=0, in_chans=in_chans)


class FrameEncoder(nn.Module):
    """Runs a 2D backbone on every frame: (B, T, C, H, W) -> (B, T, out_dim)."""

    def __init__(self, name: str, *, pretrained: Pretrained = False, in_chans: int = 3):
        super().__init__()
        self.backbone = small_map_convs(create_backbone(name, pretrained=pretrained, in_chans=in_chans))
        # head_hidden_size differs from num_features for nets with a pre-logits conv (MobileNetV3, LCNet)
        self.out_dim = int(getattr(self.backbone, "head_hidden_size", None) or self.backbone.num_features)
        cfg = getattr(self.backbone, "pretrained_cfg", None) or {}
        self.mean = tuple(float(v) for v in cfg.get("mean", IMAGENET_DEFAULT_MEAN))
        self.std = tuple(float(v) for v in cfg.get("std", IMAGENET_DEFAULT_STD))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, t = frames.shape[:2]
        # NOTE: channels-last input runs the convolutions ~1.4x faster on CPU (oneDNN); the weights stay
        # contiguous, as safetensors needs them
        features = self.backbone(frames.flatten(0, 1).contiguous(memory_format=torch.channels_last))
        return features.reshape(b, t, -1)


class SmallMapConv2d(nn.Conv2d):
    """``nn.Conv2d`` that computes outputs of at most SMALL_MAP_PIXELS pixels on CPU as one matrix product
    (im2col): the same function and parameters, a faster backward there."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        height, width = (x.shape[-2] + 2 * ph - kh) // sh + 1, (x.shape[-1] + 2 * pw - kw) // sw + 1
        if x.device.type != "cpu" or height * width > SMALL_MAP_PIXELS:
            return super().forward(x)
        columns = nn.functional.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)
        out = self.weight.flatten(1) @ columns  # (B, C_out, pixels)
        if self.bias is not None:
            out = out + self.bias[:, None]
        return out.view(x.shape[0], -1, height, width)


def small_map_convs(module: nn.Module, *, enabled: bool = True) -> nn.Module:
    """Make every plain ``nn.Conv2d`` of ``module`` a :class:`SmallMapConv2d` in place (state dict unchanged).

    ``enabled=False`` undoes it: every :class:`SmallMapConv2d` becomes a plain ``nn.Conv2d`` again (to compare).
    """
    for conv in module.modules():
        if not enabled:
            if type(conv) is SmallMapConv2d:
                conv.__class__ = nn.Conv2d
        elif (type(conv) is nn.Conv2d and conv.groups == 1 and conv.dilation == (1, 1)
                and conv.padding_mode == "zeros" and not isinstance(conv.padding, str)):
            conv.__class__ = SmallMapConv2d
    return module


def flow_to_input(flow: torch.Tensor, mode: str, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """Turn a (B, T, 2, H, W) pixel flow into a backbone input.

    ``"image"``: the Middlebury colour wheel of ``torchvision.utils.flow_to_image``, normalised per
    frame (torchvision would normalise by the batch maximum, making a clip's input depend on its
    batch-mates), then standardised like an RGB image. ``"field"``: the raw 2-channel field,
    compressed with a signed log so large motions do not saturate the first layer.
    """
    flow = flow.float()
    if mode == "field":
        return torch.sign(flow) * torch.log1p(flow.abs())
    if mode != "image":
        raise TTDFError(f"flow_input={mode!r} is not one of {', '.join(FLOW_INPUTS)}")
    b, t = flow.shape[:2]
    frames = flow.flatten(0, 1)
    with torch.no_grad():
        norm = frames.square().sum(1, keepdim=True).sqrt().amax(dim=(2, 3), keepdim=True)
        # every non-static frame now has max norm 1, so torchvision's batch-wide division is by 1
        unit = torch.where(norm > 1e-6, frames / norm.clamp_min(1e-6), torch.zeros_like(frames))
        image = flow_to_image(unit).float().div_(255.0)
    m = torch.tensor(mean, device=image.device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=image.device).view(1, -1, 1, 1)
    return ((image - m) / s).reshape(b, t, 3, *image.shape[-2:])


def flow_in_chans(mode: str) -> int:
    if mode not in FLOW_INPUTS:
        raise TTDFError(f"flow_input={mode!r} is not one of {', '.join(FLOW_INPUTS)}")
    return 3 if mode == "image" else 2
