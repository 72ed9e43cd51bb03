"""TOF-Net: spatio-temporal RGB stream + optical-flow stream + flow-distribution branch, fused.

The abstract says TOF-Net "exploits the spatiotemporal inconsistencies and optical flow
distribution differences between natural data and forged data"; each branch below targets one
of those, and each can be switched off for ablations (``tofnet_no_stats``, ``tofnet_no_flow``...).
``tofnet_residual`` keeps only the flow-compensated residual: the default detector on real footage.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import nn

from tofnet.models.backbone import FLOW_INPUTS, FrameEncoder, flow_in_chans, flow_to_input
from tofnet.models.flow_stats import FlowStatsBranch
from tofnet.models.registry import config_from_kwargs, register_model
from tofnet.models.temporal import TEMPORAL_KINDS, TemporalPool
from ttdf.errors import TTDFError

DEFAULT_BACKBONE = "mobilenetv3_small_100"  # full-model fwd+bwd, 4x8x3x112x112: ~0.9 s on 2 CPU cores
DIFF_FUSIONS = ("early", "separate")
# Checkpoints saved before these options existed were built with a second backbone for the differences
# and a full-size flow stream (3.3x an RGB-only step); config.json files that do not name them get these.
LEGACY_KWARGS = {"diff_fusion": "separate", "flow_scale": 1.0, "use_residual": False, "rgb_frames": True}


@dataclass
class TOFNetConfig:
    backbone: str = DEFAULT_BACKBONE
    flow_backbone: str | None = None  # None: same as backbone
    temporal: str = "conv"
    use_rgb: bool = True
    rgb_diff: bool = True  # also encode x_t - x_{t-1}: frame-to-frame (in)consistency
    # "early": each frame and its difference enter one backbone pass as 6 channels (the backbone relates
    # appearance and change from the first layer on); "separate": a second backbone on the differences
    diff_fusion: str = "early"
    # also encode batch["residual"], frame t minus frame t-1 warped along the motion (tofnet.residual):
    # the change motion does not explain, where re-generated, stuck or smeared detail shows (early fusion)
    use_residual: bool = False
    # the frames themselves in the RGB stream; False with use_residual leaves it only what motion does not
    # explain, so it cannot score a video by its scene (what a few training scenes invite)
    rgb_frames: bool = True
    use_flow: bool = True
    use_flow_stats: bool = True
    flow_input: str = "image"
    flow_scale: float = 0.5  # the flow-image stream sees its input at this share of input_size (stats: full size)
    hist_bins: int = 16
    embed_dim: int = 256
    dropout: float = 0.1
    input_size: tuple[int, int] = (112, 112)
    clip_len: int = 8
    pretrained: bool | str = False  # True: hub download; str: a local weights file

    def __post_init__(self) -> None:
        self.input_size = tuple(int(v) for v in self.input_size)  # type: ignore[assignment]
        _check(self.temporal in TEMPORAL_KINDS, f"temporal={self.temporal!r} is not one of {TEMPORAL_KINDS}")
        _check(self.flow_input in FLOW_INPUTS, f"flow_input={self.flow_input!r} is not one of {FLOW_INPUTS}")
        _check(self.diff_fusion in DIFF_FUSIONS, f"diff_fusion={self.diff_fusion!r} is not one of {DIFF_FUSIONS}")
        _check(0.0 < self.flow_scale <= 1.0, f"flow_scale={self.flow_scale} must be in (0, 1]")
        _check(self.use_rgb or self.use_flow or self.use_flow_stats, "enable at least one of use_rgb, "
               "use_flow, use_flow_stats")
        _check(not self.use_residual or (self.use_rgb and self.diff_fusion == "early"),
               "use_residual needs use_rgb and diff_fusion='early' (it enters the RGB backbone's first layer)")
        _check(self.rgb_frames or (self.use_residual and self.diff_fusion == "early"),
               "rgb_frames=False needs use_residual=True and diff_fusion='early' (the RGB stream needs an input)")
        _check(self.hist_bins >= 2, f"hist_bins={self.hist_bins} must be >= 2")
        _check(self.embed_dim >= 8 and self.embed_dim % 2 == 0, f"embed_dim={self.embed_dim} must be even, >= 8")
        _check(0.0 <= self.dropout < 1.0, f"dropout={self.dropout} must be in [0, 1)")
        _check(len(self.input_size) == 2 and min(self.input_size) > 0, f"input_size={self.input_size} must be (H, W)")
        _check(self.clip_len >= 1, f"clip_len={self.clip_len} must be >= 1")


class TOFNet(nn.Module):
    """``model(batch) -> (B,)`` forgery logits from ``batch["rgb"]`` and/or ``batch["flow"]``."""

    def __init__(self, cfg: TOFNetConfig):
        super().__init__()
        self.cfg = cfg
        e, branches = cfg.embed_dim, []
        mean, std = IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
        if cfg.use_rgb:
            early = cfg.rgb_diff and cfg.diff_fusion == "early"
            in_chans = 3 * cfg.rgb_frames + 3 * early + 3 * cfg.use_residual
            self.rgb_encoder = FrameEncoder(cfg.backbone, pretrained=cfg.pretrained, in_chans=in_chans)
            mean, std = self.rgb_encoder.mean[:3], self.rgb_encoder.std[:3]
            in_dim = self.rgb_encoder.out_dim
            if cfg.rgb_diff and not early:
                self.diff_encoder = FrameEncoder(cfg.backbone, pretrained=cfg.pretrained)
                in_dim += self.diff_encoder.out_dim
            self.rgb_proj = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(in_dim, e), nn.GELU())
            self.rgb_temporal = TemporalPool(cfg.temporal, e, cfg.dropout)
            branches.append(self.rgb_temporal.out_dim)
        if cfg.use_flow:
            self.flow_encoder = FrameEncoder(cfg.flow_backbone or cfg.backbone, pretrained=cfg.pretrained,
                                             in_chans=flow_in_chans(cfg.flow_input))
            self.flow_proj = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(self.flow_encoder.out_dim, e), nn.GELU())
            self.flow_temporal = TemporalPool(cfg.temporal, e, cfg.dropout)
            branches.append(self.flow_temporal.out_dim)
        if cfg.use_flow_stats:
            self.flow_stats = FlowStatsBranch(cfg.hist_bins, e, cfg.temporal, cfg.dropout)
            branches.append(self.flow_stats.out_dim)
        self.head = nn.Sequential(nn.LayerNorm(sum(branches)), nn.Dropout(cfg.dropout), nn.Linear(sum(branches), e),
                                  nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(e, 1))
        self.required_inputs: tuple[str, ...] = tuple(
            k for k, on in (("rgb", cfg.use_rgb and (cfg.rgb_frames or cfg.rgb_diff)),
                            ("flow", cfg.use_flow or cfg.use_flow_stats),
                            ("residual", cfg.use_residual)) if on)
        self.pretrained_cfg: dict[str, Any] = {"input_size": cfg.input_size, "clip_len": cfg.clip_len,
                                               "mean": tuple(mean), "std": tuple(std)}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        pooled = []
        if self.cfg.use_rgb:
            rgb = clip_input(batch, "rgb", 3) if "rgb" in self.required_inputs else None
            residual = clip_input(batch, "residual", 3) if self.cfg.use_residual else None
            pooled.append(self.rgb_temporal(self.rgb_proj(self._rgb_features(rgb, residual))))
        if self.cfg.use_flow or self.cfg.use_flow_stats:
            flow = clip_input(batch, "flow", 2)
            if self.cfg.use_flow:
                enc = self.flow_encoder
                # rendered after resizing: the colour wheel costs as much as the small backbone pass
                frames = flow_to_input(_rescale(flow, self.cfg.flow_scale), self.cfg.flow_input, enc.mean, enc.std)
                pooled.append(self.flow_temporal(self.flow_proj(enc(frames))))
            if self.cfg.use_flow_stats:
                pooled.append(self.flow_stats(flow))
        return self.head(torch.cat(pooled, dim=-1)).squeeze(-1)

    def _rgb_features(self, rgb: torch.Tensor | None, residual: torch.Tensor | None = None) -> torch.Tensor:
        if self.cfg.rgb_diff and self.cfg.diff_fusion == "early" or residual is not None:
            channels = [rgb] if self.cfg.rgb_frames else []
            if self.cfg.rgb_diff:
                diff = rgb[:, 1:] - rgb[:, :-1] if rgb.shape[1] > 1 else torch.zeros_like(rgb)
                channels.append(torch.cat([diff[:, :1], diff], dim=1)[:, -rgb.shape[1]:])  # frame 0 borrows the first
            if residual is not None:
                channels.append(residual)
            return self.rgb_encoder(torch.cat(channels, dim=2))
        features = self.rgb_encoder(rgb)
        if not self.cfg.rgb_diff:
            return features
        diff = rgb[:, 1:] - rgb[:, :-1] if rgb.shape[1] > 1 else torch.zeros_like(rgb)
        diff_features = self.diff_encoder(diff)
        # T frames give T-1 differences; frame 0 borrows the first one so every frame has a pair
        diff_features = torch.cat([diff_features[:, :1], diff_features], dim=1)[:, -rgb.shape[1]:]
        return torch.cat([features, diff_features], dim=-1)


def clip_input(batch: dict[str, torch.Tensor], key: str, channels: int) -> torch.Tensor:
    """``batch[key]`` checked against the (B, T, C, H, W) contract."""
    if key not in batch:
        raise KeyError(f"the model needs batch[{key!r}] (see model.required_inputs); got keys {sorted(batch)}")
    x = batch[key]
    if x.ndim != 5 or x.shape[2] != channels:
        raise ValueError(f"batch[{key!r}] must be (B, T, {channels}, H, W), got {tuple(x.shape)}")
    return x


def _rescale(frames: torch.Tensor, scale: float) -> torch.Tensor:
    """(B, T, C, H, W) area-resized by ``scale``: flow is smooth, a quarter of its pixels keeps its pattern."""
    if scale == 1.0:
        return frames
    b, t, c, h, w = frames.shape
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    return nn.functional.interpolate(frames.flatten(0, 1), size=size, mode="area").reshape(b, t, c, *size)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise TTDFError(f"TOF-Net config: {message}")


def _build(name: str, defaults: dict[str, Any], pretrained: bool, kwargs: dict[str, Any]) -> TOFNet:
    return TOFNet(config_from_kwargs(TOFNetConfig, name, {**defaults, "pretrained": pretrained}, kwargs))


@register_model(legacy_kwargs=LEGACY_KWARGS)
def tofnet(pretrained: bool = False, **kwargs: Any) -> TOFNet:
    """Full TOF-Net: RGB (+ frame differences), flow images and flow statistics."""
    return _build("tofnet", {}, pretrained, kwargs)


@register_model(legacy_kwargs=LEGACY_KWARGS)
def tofnet_no_stats(pretrained: bool = False, **kwargs: Any) -> TOFNet:
    """Ablation: without the flow-distribution branch."""
    return _build("tofnet_no_stats", {"use_flow_stats": False}, pretrained, kwargs)


@register_model(legacy_kwargs=LEGACY_KWARGS)
def tofnet_no_flow(pretrained: bool = False, **kwargs: Any) -> TOFNet:
    """Ablation: without the optical-flow image stream (keeps the flow statistics)."""
    return _build("tofnet_no_flow", {"use_flow": False}, pretrained, kwargs)


@register_model(legacy_kwargs=LEGACY_KWARGS)
def tofnet_no_rgb(pretrained: bool = False, **kwargs: Any) -> TOFNet:
    """Ablation: motion only (flow stream + flow statistics)."""
    return _build("tofnet_no_rgb", {"use_rgb": False}, pretrained, kwargs)


# The scene-blind TOF-Net that `make detector` trains: its optical flow aligns each frame to the next and
# the network sees only what the motion does not explain. On real footage it generalises to unseen scenes
# and forgery families better than the full model, which learns to score scenes (docs/DETECTOR.md).
RESIDUAL_ONLY = {"use_residual": True, "rgb_frames": False, "rgb_diff": False, "use_flow": False,
                 "use_flow_stats": False}


@register_model
def tofnet_residual(pretrained: bool = False, **kwargs: Any) -> TOFNet:
    """TOF-Net on the flow-compensated residual alone: no frames, no flow-image or flow-statistics branch."""
    return _build("tofnet_residual", RESIDUAL_ONLY, pretrained, kwargs)
