"""Score any video file, indexed or not (``tofnet predict``)."""
from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from tofnet.checkpoint import load_checkpoint
from tofnet.data import ClipDataset, DataConfig, VideoSource
from tofnet.evaluate import EvalOptions, predict_clips
from tofnet.flow_cache import FlowCache


@dataclass(frozen=True)
class VideoVerdict:
    path: str
    prob_fake: float | None
    clip_probs: list[float]
    error: str | None = None
    threshold: float = 0.5

    @property
    def label(self) -> str:
        if self.prob_fake is None:
            return "error"
        return "fake" if self.prob_fake >= self.threshold else "real"

    def to_dict(self) -> dict:
        return {**asdict(self), "label": self.label}


def predict_videos(paths: Sequence[str | Path], checkpoint: str | Path, *, options: EvalOptions = EvalOptions(),
                   clips_per_video: int | None = None, flow_cache: str | Path | None = None,
                   flow_weights: str | Path | None = None) -> list[VideoVerdict]:
    """P(forged) per video: the mean over evenly spaced clips, sampled as the checkpoint's config says.

    A file that cannot be read gets a verdict with ``error`` set; the others are still scored.
    """
    model, config = load_checkpoint(checkpoint)
    data_config = DataConfig.from_dict(config["data"]).with_flow_weights(flow_weights)
    if clips_per_video:
        data_config = replace(data_config, eval_clips_per_video=clips_per_video)
    videos = [VideoSource(Path(p)) for p in paths]
    # NOTE: without a cache every clip would recompute its whole video's flow; a scratch cache makes it once.
    with tempfile.TemporaryDirectory(prefix="tofnet-flow-") as scratch:
        dataset = ClipDataset(videos, data_config, inputs=model.required_inputs,
                              flow_cache=FlowCache(flow_cache or scratch))
        clips = predict_clips(model, dataset, options)
    per_video: dict[str, list[float]] = {}
    for clip in sorted(clips, key=lambda c: (c.path, c.clip)):
        per_video.setdefault(clip.path, []).append(clip.prob)
    verdicts, threshold = [], options.threshold_for(config)
    for video in videos:
        probs = per_video.get(str(video.path), [])
        error = dataset.failures.get(str(video.path)) if not probs else None
        verdicts.append(VideoVerdict(str(video.path), sum(probs) / len(probs) if probs else None, probs,
                                     error or (None if probs else "no readable clip"), threshold))
    return verdicts
