"""Hours the whole of TT-DF would take on this machine, scaled from the long-clip rows.

Frames: ``published_totals["fake_frames"]`` of the taxonomy. Resolution: :data:`bench.data.TTDF_SIZE`
(an assumption: nothing in the repo states TT-DF's frame size). Decoding and encoding scale with the
pixel count; DIS at the pipeline's fixed flow size does not, so only the decode part of the flow
pipeline is scaled.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.common import Row, skipped, value_row
from bench.data import TTDF_SIZE, Context
from ttdf.taxonomy import load_taxonomy

ROWS = ("extrapolate.flow_pipeline", "extrapolate.flow_full_res", "extrapolate.compress")
NEEDS = ("flow.long.decode", "flow.long.pipeline", "flow.estimator.dis_source", "flow.pipeline.w2",
         "compress.ttdf.w2")  # rows --only extrapolate runs too


@dataclass(frozen=True)
class Estimate:
    """``seconds_per_frame(*rates of inputs, scale)`` for one extrapolated row."""

    id: str
    label: str
    inputs: tuple[str, ...]
    seconds_per_frame: Callable[..., float]
    how: str


def _pipeline(decode: float, pipeline: float, scale: float) -> float:
    return scale / decode + max(0.0, 1 / pipeline - 1 / decode)  # only the decode part grows with pixels


ESTIMATES = (
    Estimate("extrapolate.flow_pipeline", "DIS flow cache at the pipeline size, compute_flow_for_index workers=1",
             ("flow.long.decode", "flow.long.pipeline"), _pipeline,
             "decode scaled by pixels, DIS at the fixed flow size not"),
    Estimate("extrapolate.flow_full_res", "DIS flow at full resolution (decode + DIS, one process)",
             ("flow.long.decode", "flow.estimator.dis_source"), lambda decode, dis, scale: scale / decode + scale / dis,
             "decode and DIS both scaled by pixels"),
    Estimate("extrapolate.compress", "compress_dataset workers=2", ("compress.ttdf.w2",),
             lambda compress, scale: scale / compress, "every published frame encoded once"),
)


def run(ctx: Context) -> list[Row]:
    frames = int(load_taxonomy().published_totals["fake_frames"])
    height, width = ctx.profile.long_size
    scale = TTDF_SIZE[0] * TTDF_SIZE[1] / (height * width)
    assume = (f"{frames:,} frames at an assumed {TTDF_SIZE[1]}x{TTDF_SIZE[0]} "
              f"({scale:.0f}x the pixels of the measured {width}x{height} clip)")
    out = []
    for estimate in ESTIMATES:
        if not ctx.wants(estimate.id):
            continue
        inputs = [ctx.rows.get(i) for i in estimate.inputs]
        missing = [i for i, r in zip(estimate.inputs, inputs) if r is None or not r.ok]
        if missing:
            out.append(skipped(estimate.id, estimate.label, "hours", f"needs rows {', '.join(missing)}"))
            continue
        median = frames * estimate.seconds_per_frame(*(r.median for r in inputs), scale) / 3600
        best = frames * estimate.seconds_per_frame(*(r.best for r in inputs), scale) / 3600
        out.append(value_row(estimate.id, estimate.label, "hours", median, best=best,
                             note=f"{assume}; {estimate.how}{_context(estimate.id, median, ctx.rows)}"))
    return out


def notes(rows: dict[str, Row]) -> list[str]:
    found = [rows[i] for i in ROWS if rows.get(i) and rows[i].ok]
    return [f"extrapolate: {r.label}: about {r.median:.1f} h for all of TT-DF on this machine." for r in found]


def _context(row_id: str, hours: float, rows: dict[str, Row]) -> str:
    """How the flow estimate moves with 2 workers; what making only c23 + c40 would take."""
    scaling = rows.get("flow.pipeline.w2")
    if row_id == "extrapolate.flow_pipeline" and scaling is not None and scaling.ratio:
        return f"; with workers=2 (x{scaling.ratio:.2f} measured): {hours / scaling.ratio:.1f} h"
    if row_id == "extrapolate.compress":
        return f"; making only c23 + c40 from raw (2/3 of the published frames): {hours * 2 / 3:.1f} h"
    return ""
