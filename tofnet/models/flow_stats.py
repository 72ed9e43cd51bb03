"""Flow-distribution branch: how the motion field is distributed, not what it looks like.

Diffusion animators (MagicAnimate, AnimateAnyone, MagicDance) synthesise frames from a pose
sequence, so their motion can be distributed differently from filmed motion (over-smooth bodies,
flickering backgrounds, jerky limbs). These per-frame statistics describe that distribution: soft
(differentiable) histograms of magnitude (log-spaced) and direction (magnitude-weighted), moments
and quantiles, spatial roughness and the temporal change of flow (acceleration). All computed in
float32, outside autocast.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from tofnet.models.temporal import TemporalPool

N_MOMENTS = 13
_LOG2_MIN, _LOG2_MAX = -4.0, 6.0  # magnitude bins span 1/16 px .. 64 px
_QUANTILES = (0.1, 0.5, 0.9)


def num_flow_stats(hist_bins: int) -> int:
    return 2 * hist_bins + N_MOMENTS


def flow_statistics(flow: torch.Tensor, hist_bins: int = 16) -> torch.Tensor:
    """(B, T, 2, H, W) pixel flow -> (B, T, 2 * hist_bins + 13) statistics, each roughly O(1)."""
    with torch.autocast(device_type=flow.device.type, enabled=False):
        return _statistics(flow.float(), hist_bins)


def _statistics(flow: torch.Tensor, bins: int) -> torch.Tensor:
    b, t = flow.shape[:2]
    f = flow.flatten(3)  # (B, T, 2, N)
    u, v = f[:, :, 0], f[:, :, 1]
    mag = torch.sqrt(u * u + v * v + 1e-8)  # eps keeps sqrt differentiable at zero motion
    mean_mag = mag.mean(-1)

    mag_hist, dir_hist = _soft_histograms(u, v, mag, bins)

    # k-th smallest per quantile: a selection, not a full sort (the sort was a tenth of a training step)
    ranks = [round(q * (mag.shape[-1] - 1)) + 1 for q in _QUANTILES]
    quantiles = torch.log1p(torch.stack([mag.kthvalue(k, dim=-1).values for k in ranks], dim=-1))  # (B, T, 3)

    mean_u, mean_v = u.mean(-1), v.mean(-1)
    coherence = torch.sqrt(mean_u**2 + mean_v**2 + 1e-8) / (mean_mag + 1e-2)
    rough = _spatial_roughness(flow)
    accel = _acceleration(flow)
    moving = torch.sigmoid((mag - 0.5) / 0.1).mean(-1)
    moments = torch.stack([
        torch.log1p(mean_mag), torch.log1p(mag.std(-1)), _slog(mean_u), _slog(mean_v), coherence.clamp(max=1.0),
        torch.log1p(rough), torch.log1p(rough / (mean_mag + 0.1)), torch.log1p(accel),
        torch.log1p(accel / (mean_mag + 0.1)), moving,
    ], dim=-1)
    out = torch.cat([mag_hist, dir_hist, quantiles, moments], dim=-1)
    return out.reshape(b, t, -1)


def _soft_histograms(u: torch.Tensor, v: torch.Tensor, mag: torch.Tensor, bins: int) -> tuple[torch.Tensor, ...]:
    """(..., N) flow components -> (..., bins) magnitude and direction histograms.

    Both sum to 1, except the direction histogram of a static frame, which is all zeros.
    Linear-interpolation binning: each pixel splits its vote between the two nearest bin centres,
    which keeps the histogram differentiable in the flow and costs O(N) rather than O(N * bins).
    """
    width = (_LOG2_MAX - _LOG2_MIN) / (bins - 1)
    pos = ((torch.log2(mag) - _LOG2_MIN) / width).clamp(0, bins - 1)
    lo = pos.detach().floor().clamp(max=bins - 2)
    mag_hist = _splat(lo.long(), lo.long() + 1, pos - lo, torch.ones_like(mag), bins)

    still = mag < 1e-3  # static pixels do not vote; atan2 has no gradient at (0, 0), so give them angle 0
    angle = torch.atan2(torch.where(still, torch.zeros_like(v), v), torch.where(still, torch.ones_like(u), u))
    pos = torch.remainder(angle / (2 * math.pi / bins), bins)
    lo = pos.detach().floor()
    lo_idx = lo.long() % bins  # remainder() can round up to exactly `bins`
    dir_hist = _splat(lo_idx, (lo_idx + 1) % bins, pos - lo, torch.where(still, torch.zeros_like(mag), mag), bins)
    return mag_hist, dir_hist


def _splat(lo: torch.Tensor, hi: torch.Tensor, frac: torch.Tensor, weight: torch.Tensor, bins: int) -> torch.Tensor:
    hist = weight.new_zeros(*weight.shape[:-1], bins)
    hist = hist.scatter_add(-1, lo, weight * (1 - frac)).scatter_add(-1, hi, weight * frac)
    return hist / (weight.sum(-1, keepdim=True) + 1e-6)


def _slog(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


def _spatial_roughness(flow: torch.Tensor) -> torch.Tensor:
    """Mean |spatial gradient| of the flow field: near zero for rigid/smooth motion."""
    dx = (flow[..., :, 1:] - flow[..., :, :-1]).abs().mean((-3, -2, -1))
    dy = (flow[..., 1:, :] - flow[..., :-1, :]).abs().mean((-3, -2, -1))
    return dx + dy


def _acceleration(flow: torch.Tensor) -> torch.Tensor:
    """Mean per-pixel |f_{t+1} - f_t|; the last frame repeats its predecessor's value."""
    if flow.shape[1] < 2:
        return flow.new_zeros(flow.shape[:2])
    acc = (flow[:, 1:] - flow[:, :-1]).square().sum(2).add(1e-8).sqrt().mean((-2, -1))
    return torch.cat([acc, acc[:, -1:]], dim=1)


class FlowStatsBranch(nn.Module):
    """Statistics -> BatchNorm (dataset-level standardisation) -> MLP per frame -> temporal pool."""

    def __init__(self, hist_bins: int, embed_dim: int, temporal: str, dropout: float = 0.0):
        super().__init__()
        self.hist_bins = hist_bins
        dim = num_flow_stats(hist_bins)
        self.norm = nn.BatchNorm1d(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, embed_dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(embed_dim, embed_dim), nn.GELU())
        self.temporal = TemporalPool(temporal, embed_dim, dropout)
        self.out_dim = self.temporal.out_dim

    def forward(self, flow: torch.Tensor) -> torch.Tensor:
        stats = flow_statistics(flow, self.hist_bins)
        b, t, d = stats.shape
        x = self.norm(stats.reshape(b * t, d)).reshape(b, t, d)
        return self.temporal(self.mlp(x))
