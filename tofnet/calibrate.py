"""Calibrate a checkpoint's threshold on real videos alone (``tofnet calibrate``).

The threshold a training saves sits at the equal-error point of its validation split, which weighs
real clips against the forgeries it trained on. On new scenes and new forgery methods that point does
not travel: the scores still rank, but the real clips' level moves from scene to scene
(docs/DETECTOR.md). A forensic verdict is judged first by its false alarms, real videos called forged,
so this sets the threshold where a chosen share of real videos score above it. It needs no forgeries,
so a user can calibrate any checkpoint to their own camera's footage.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from tofnet.checkpoint import read_checkpoint_config, write_threshold
from tofnet.evaluate import EvalOptions, evaluate_checkpoint
from tofnet.predict import predict_videos
from tofnet.train import TrainConfig, eval_options
from ttdf.errors import TTDFError
from ttdf.records import VideoFilter

DEFAULT_FALSE_ALARM_RATE = 0.05


def false_alarm_threshold(real_scores: Sequence[float], rate: float) -> float:
    """The (1 - ``rate``) quantile of real videos' P(fake): about ``rate`` of them score at or above it."""
    check_false_alarm_rate(rate)
    if len(real_scores) == 0:
        raise TTDFError("no real video to calibrate on; select a split or folder that holds real videos")
    return float(np.quantile(np.asarray(real_scores, dtype=np.float64), 1 - rate))


def check_false_alarm_rate(rate: float) -> None:
    if not 0 < rate < 1:
        raise TTDFError(f"false-alarm rate must be between 0 and 1, exclusive (got {rate})")


def calibrate_checkpoint(checkpoint: str | Path, root: str | Path, filt: VideoFilter, *,
                         rate: float = DEFAULT_FALSE_ALARM_RATE, options: EvalOptions = EvalOptions(),
                         flow_weights: str | Path | None = None, write: bool = True) -> dict:
    """Score the real videos ``filt`` selects and pick the threshold that calls ``rate`` of them forged.

    Returns the calibration record; with ``write`` it also becomes the checkpoint's saved threshold (the
    one ``evaluate`` and ``predict`` use), the record kept beside it in ``config.json``.
    """
    _check(checkpoint, rate, write)
    filt = replace(filt, labels=("real",))
    report = evaluate_checkpoint(checkpoint, root, filt, options=options, flow_weights=flow_weights)
    reals = [video["prob"] for video in report["videos"] if video["label"] == 0]
    if not reals:
        raise TTDFError(f"{root}: no readable real video matches {filt!r}; calibrate on a split or selection "
                        "that holds real videos (e.g. --split val)")
    return _calibrated(checkpoint, reals, rate, {"root": str(root), "filter": repr(filt)}, write)


def calibrate_on_validation(checkpoint: str | Path, config: TrainConfig, rate: float, *, write: bool = True) -> dict:
    """:func:`calibrate_checkpoint` on the real videos of the validation split a training ``config`` used."""
    return calibrate_checkpoint(checkpoint, config.root,
                                VideoFilter(compressions=config.compressions, splits=(config.val_split,)), rate=rate,
                                options=eval_options(config), flow_weights=config.data.flow_kwargs.get("weights"),
                                write=write)


def calibrate_on_videos(checkpoint: str | Path, videos: Sequence[str | Path], *,
                        rate: float = DEFAULT_FALSE_ALARM_RATE, options: EvalOptions = EvalOptions(),
                        flow_weights: str | Path | None = None, write: bool = True) -> dict:
    """As :func:`calibrate_checkpoint`, on video files known to be real (your own camera's), no root needed.

    Files that cannot be read are left out and named in the record's ``unreadable``.
    """
    _check(checkpoint, rate, write)
    verdicts = predict_videos(videos, checkpoint, options=options, flow_weights=flow_weights)
    reals = [v.prob_fake for v in verdicts if v.prob_fake is not None]
    unreadable = {v.path: v.error for v in verdicts if v.prob_fake is None}
    if not reals:
        raise TTDFError(f"none of the {len(verdicts)} video(s) could be read ({next(iter(unreadable.values()))}); "
                        "pass real video files")
    return _calibrated(checkpoint, reals, rate, {"videos": [v.path for v in verdicts], "unreadable": unreadable},
                       write)


def _check(checkpoint: str | Path, rate: float, write: bool) -> None:
    """Refuse bad arguments before the scoring, not after it."""
    check_false_alarm_rate(rate)
    if write and not Path(checkpoint).is_dir():
        raise TTDFError(f"{checkpoint}: not a local checkpoint folder; calibrate a local copy of a hub checkpoint "
                        "(its threshold is saved in the folder's config.json)")


def _calibrated(checkpoint: str | Path, reals: Sequence[float], rate: float, source: dict, write: bool) -> dict:
    threshold = false_alarm_threshold(reals, rate)
    record = {"rule": "false_alarm_rate", "false_alarm_rate": rate, "threshold": threshold, "n_real": len(reals),
              **source, "previous_threshold": read_checkpoint_config(checkpoint).get("threshold")}
    if write:
        write_threshold(checkpoint, threshold, calibration=record)
    return record


__all__ = ["DEFAULT_FALSE_ALARM_RATE", "calibrate_checkpoint", "calibrate_on_validation", "calibrate_on_videos",
           "check_false_alarm_rate", "false_alarm_threshold"]
