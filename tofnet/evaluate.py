"""Score clips with a model and turn the scores into metrics and reports (``tofnet evaluate``)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from tofnet.checkpoint import load_checkpoint
from tofnet.data import ClipDataset, DataConfig, batch_len, collate_clips, videos_from_index
from tofnet.flow_cache import FlowCache
from tofnet.metrics import ClipPrediction
from tofnet.report import evaluation_report, write_report
from tofnet.runtime import autocast, resolve_device, to_device
from ttdf.records import VideoFilter


@dataclass(frozen=True)
class EvalOptions:
    batch_size: int = 8
    workers: int = 0
    device: str = "auto"
    amp: bool = True
    progress: bool = True
    threshold: float | None = None  # None: the checkpoint's validation-calibrated threshold (else 0.5)

    def threshold_for(self, config: dict) -> float:
        return self.threshold if self.threshold is not None else float(config.get("threshold", 0.5))


def _loader(dataset: ClipDataset, options: EvalOptions, indices: Sequence[int] | None) -> DataLoader:
    return DataLoader(dataset if indices is None else Subset(dataset, list(indices)), batch_size=options.batch_size,
                      num_workers=options.workers, collate_fn=collate_clips, shuffle=False)


def load_batches(dataset: ClipDataset, options: EvalOptions = EvalOptions(), *, indices: Sequence[int] | None = None,
                 max_bytes: int | None = None) -> list[dict] | None:
    """Every collated batch of ``dataset`` (or of its items ``indices``), read once and kept in memory.

    For inputs that never change (evaluation clips are evenly spaced and never augmented), so that
    validating after every epoch decodes, crops and computes residuals only once. None when the batches
    would pass ``max_bytes`` (judged from the first batch, so only that one is read in vain).
    """
    loader = _loader(dataset, options, indices)
    batches: list[dict] = []
    for batch in loader:
        if not batches and max_bytes is not None:
            size = sum(v.nbytes for v in batch.values() if torch.is_tensor(v))
            if size * len(loader) > max_bytes:
                return None
        batches.append(batch)
    return batches


@torch.no_grad()
def predict_clips(model: torch.nn.Module, dataset: ClipDataset, options: EvalOptions = EvalOptions(), *,
                  indices: Sequence[int] | None = None, batches: Sequence[dict] | None = None) -> list[ClipPrediction]:
    """P(fake) for every readable clip of ``dataset`` (or of its items ``indices``, e.g. one rank's shard).

    ``batches``: those items already read by :func:`load_batches`. Unreadable videos end up in
    ``dataset.failures``, also when DataLoader workers read them.
    """
    device = resolve_device(options.device)
    model = model.to(device).eval()
    loader = batches if batches is not None else _loader(dataset, options, indices)
    predictions: list[ClipPrediction] = []
    for batch in tqdm(loader, desc="evaluate", disable=not options.progress, leave=False):
        dataset.note_failures(batch)
        if not batch_len(batch):
            continue
        with autocast(device, options.amp):
            probs = torch.sigmoid(model(to_device(batch, device)).float()).cpu()
        for index, prob in zip(batch["index"].tolist(), probs.tolist()):
            video, clip = dataset.clip_of(index)
            record = video.record
            predictions.append(ClipPrediction(
                path=str(video.path), label=video.label, prob=prob, clip=clip,
                method=record.method if record else None, config=record.config if record else None,
                compression=record.compression if record else "unknown", split=record.split if record else None))
    return predictions


def evaluate_checkpoint(checkpoint: str | Path, root: str | Path, filt: VideoFilter, *, out_dir: str | Path | None = None,
                        options: EvalOptions = EvalOptions(), title: str = "Evaluation",
                        flow_weights: str | Path | None = None) -> dict:
    """Evaluate a checkpoint on the indexed videos selected by ``filt``; writes JSON/Markdown/ROC when ``out_dir``.

    ``flow_weights``: the RAFT weights file, when the checkpoint's flow used one (it records only its hash).
    """
    model, config = load_checkpoint(checkpoint)
    data_config = DataConfig.from_dict(config["data"]).with_flow_weights(flow_weights)
    dataset = ClipDataset(videos_from_index(root, filt), data_config, inputs=model.required_inputs,
                          flow_cache=FlowCache.for_root(root))
    clips = predict_clips(model, dataset, options)
    report = evaluation_report(clips, threshold=options.threshold_for(config), meta={"checkpoint": str(checkpoint), "root": str(root), "filter": repr(filt),
                                            "sampling": dataset.sampling.to_dict(), "failures": dataset.failures})
    if out_dir is not None:
        report["files"] = {k: str(v) for k, v in write_report(report, out_dir, title=title).items()}
    return report
