"""Temporal modules: mix per-frame embeddings over time, then pool a clip to one vector.

Every module maps (B, T, D) -> (B, 2 * D): the mixed sequence is pooled by mean *and* max over
time, because a forgery's inconsistency is often a few glitchy frames that a mean would dilute.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ttdf.errors import TTDFError

TEMPORAL_KINDS = ("conv", "gru", "transformer", "mean")


class _ConvMixer(nn.Module):
    """Residual 1D convolutions over time (local motion consistency)."""

    def __init__(self, dim: int, dropout: float, layers: int = 2, kernel_size: int = 3):
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2), nn.GroupNorm(1, dim),
                          nn.GELU(), nn.Dropout(dropout))
            for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.transpose(1, 2)
        for block in self.blocks:
            y = y + block(y)
        return y.transpose(1, 2)


class _GRUMixer(nn.Module):
    """Bidirectional GRU (long-range order), projected back to ``dim``."""

    def __init__(self, dim: int, dropout: float):
        super().__init__()
        self.gru = nn.GRU(dim, dim // 2, batch_first=True, bidirectional=True)
        self.proj = nn.Sequential(nn.Linear(2 * (dim // 2), dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.gru(x)
        return x + self.proj(y)


class _TransformerMixer(nn.Module):
    """Pre-norm transformer encoder with sinusoidal positions (any clip length)."""

    def __init__(self, dim: int, dropout: float, layers: int = 2):
        super().__init__()
        heads = next(h for h in (8, 4, 2, 1) if dim % h == 0)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.encoder(x + _sinusoid(x.shape[1], x.shape[2], x)))


class TemporalPool(nn.Module):
    """A mixer followed by mean||max pooling over time."""

    def __init__(self, kind: str, dim: int, dropout: float = 0.0):
        super().__init__()
        if kind not in TEMPORAL_KINDS:
            raise TTDFError(f"temporal={kind!r} is not one of {', '.join(TEMPORAL_KINDS)}")
        self.kind = kind
        self.out_dim = 2 * dim
        mixers = {"conv": _ConvMixer, "gru": _GRUMixer, "transformer": _TransformerMixer}
        self.mixer = mixers[kind](dim, dropout) if kind in mixers else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.mixer(x)
        return torch.cat([y.mean(dim=1), y.amax(dim=1)], dim=-1)


def _sinusoid(length: int, dim: int, like: torch.Tensor) -> torch.Tensor:
    position = torch.arange(length, device=like.device, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, device=like.device, dtype=torch.float32) * (-math.log(1e4) / dim))
    table = torch.zeros(length, dim, device=like.device)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq)[:, : dim // 2]
    return table.to(like.dtype)
