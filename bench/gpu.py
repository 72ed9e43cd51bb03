"""GPU rows: RAFT-small flow and a TOF-Net training step with AMP, when CUDA is there; skipped otherwise.

Each is compared with its CPU row, and the card's name goes into the machine line of the report.
"""
from __future__ import annotations

from bench.common import Row, by_id, relate, skipped
from bench.data import Context
from bench.flow import estimator_input
from bench.train import train_steps, step_state

ROWS = ("gpu.raft_small", "gpu.train_step_amp")
GPU_PAIRS = 32


def run(ctx: Context) -> list[Row]:
    p = ctx.profile
    h, w = p.flow_size
    if not ctx.gpu:
        note = "no CUDA device (torch.cuda.is_available() is False)"
        return [skipped("gpu.raft_small", "raft_small on the GPU", "pairs/s", note),
                skipped("gpu.train_step_amp", "tofnet training step with AMP on the GPU", "clips/s", note)]
    pairs = min(GPU_PAIRS, ctx.data.long_frames - 1)
    rows = [
        ctx.measure("gpu.raft_small", f"raft_small at {h}x{w} on {ctx.gpu}, {pairs} pairs, random weights",
                    lambda est: est["estimator"](est["frames"]), warmup=1, work=pairs, unit="pairs/s",
                    prepare=lambda: estimator_input(ctx, "raft_small", {"weights": "random", "device": "cuda"},
                                                    pairs, p.flow_size)),
        ctx.measure("gpu.train_step_amp", f"tofnet: train_one_epoch with AMP on {ctx.gpu}, "
                    f"batch {p.train_batch} x {p.train_clip_len} frames x {h}x{w}",
                    train_steps, prepare=lambda: step_state(ctx, "tofnet", "cuda", amp=True), warmup=1,
                    work=p.train_batch * p.train_steps, unit="clips/s"),
    ]
    result = [r for r in rows if r is not None]
    found = {**ctx.rows, **by_id(result)}
    relate(found.get("gpu.raft_small"), found.get("flow.estimator.raft_small"), "CPU")
    relate(found.get("gpu.train_step_amp"), found.get("train.step.tofnet"), "CPU fp32")
    return result


def notes(rows: dict[str, Row]) -> list[str]:
    return []
