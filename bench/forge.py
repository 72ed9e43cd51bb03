"""Forging: ``ttdf forge`` output frames/s against ``ttdf compress`` on the same real videos, side by side.

Both read the synth root's raw real videos (forge treats them as any real footage) and write H.264:
compress one output per CRF, forge one per family and configuration. Output frames/s counts every
output's frames. Each repeat starts from a fresh copy of the indexed root.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from bench.common import Row, by_id, relate
from bench.data import Context
from ttdf.compress import compress_dataset
from ttdf.forge import ForgeConfig, forge_dataset, plan_forgeries
from ttdf.index import VideoIndex
from ttdf.records import VideoFilter

ROWS = ("forge.compress.w1", "forge.ttdf.w1")
_REALS = VideoFilter(labels=("real",), compressions=("raw",))


def run(ctx: Context) -> list[Row]:
    data, crfs = ctx.data, ctx.profile.crfs
    with VideoIndex.open(data.synth_root) as index:
        real_frames = sum(v.record.frames or 0 for v in index.query(_REALS))
    jobs, _ = plan_forgeries(data.synth_root)
    forged_frames = sum(min(j.identity.frames, j.pose.frames) * len(j.outputs) for j in jobs)
    scratch = data.workdir / "scratch" / "forge"
    reset = lambda root: _reset(root, data.synth_root)  # noqa: E731
    rows = [
        ctx.measure("forge.compress.w1", f"compress_dataset workers=1 of the {real_frames} raw real frames, CRF "
                    f"{'/'.join(map(str, crfs))}", lambda root: _compress(root, crfs), prepare=lambda: scratch,
                    before_each=reset, work=real_frames * len(crfs), unit="frames/s"),
        ctx.measure("forge.ttdf.w1", f"forge_dataset workers=1 of the same videos, {len(jobs)} pairs x "
                    f"{len(jobs[0].outputs) if jobs else 0} families", _forge, prepare=lambda: scratch,
                    before_each=reset, work=forged_frames, unit="frames/s"),
    ]
    result = [r for r in rows if r is not None]
    found = by_id(result)
    relate(found.get("forge.ttdf.w1"), found.get("forge.compress.w1"), "ttdf compress")
    return result


def notes(rows: dict[str, Row]) -> list[str]:
    ours = rows.get("forge.ttdf.w1")
    if ours is None or ours.ratio is None:
        return []
    return [f"forge: forge_dataset (workers=1) writes output frames at {ours.ratio:.2f}x the rate of ttdf compress "
            "on the same videos (goal: at least 0.5x)."]


def _compress(root: Path, crfs: tuple[int, ...]) -> None:
    report = compress_dataset(root, crfs, filt=_REALS, workers=1, progress=False)
    if report.failed or report.skipped:
        raise RuntimeError(f"compress did not write everything: failed={report.failed} skipped={report.skipped}")


def _forge(root: Path) -> None:
    report = forge_dataset(root, ForgeConfig(), workers=1, progress=False)
    if report.failed or report.skipped:
        raise RuntimeError(f"forge did not write everything: failed={report.failed} skipped={report.skipped}")


def _reset(root: Path, pristine: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(pristine, root, ignore=shutil.ignore_patterns("flow"))
