"""Train a detector on indexed TT-DF videos: ``train_one_epoch``, ``validate``, ``train``; read top to bottom.

Run folder::

    <out>/run_config.json         resolved configuration of this run
    <out>/metrics.jsonl           one line per epoch
    <out>/last/                   model.safetensors + config.json + train_state.pt (for --resume)
    <out>/best/                   best validation checkpoint (video-level AUC, then ACC)

A rerun into the same folder resumes only an identical run (see :mod:`tofnet.run_folder`).
Multi-GPU / multi-node: launch with ``torchrun --nproc_per_node N -m tofnet.cli train ...``; every
rank validates its share of the videos and the predictions are gathered.
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from tofnet.checkpoint import CONFIG_NAME, load_checkpoint, save_checkpoint
from tofnet.data import ClipDataset, DataConfig, VideoSource, batch_len, collate_clips, videos_from_index
from tofnet.distributed import (DistInfo, all_ranks, all_reduce_mean, barrier, cleanup_distributed, gather_objects,
                                init_distributed)
from tofnet.evaluate import EvalOptions, load_batches, predict_clips
from tofnet.flow_cache import FlowCache
from tofnet.frame_cache import FrameCache
from tofnet.metrics import aggregate_videos, binary_metrics, eer_threshold
from tofnet.models import create_model
from tofnet.run_folder import RUN_CONFIG, check_run_folder, clear_run_folder
from tofnet.runtime import autocast, resolve_device, seed_everything, to_device
from tofnet.transforms import AugmentConfig, ClipAugment
from ttdf.errors import TTDFError
from ttdf.fsutil import atomic_path, atomic_write_text
from ttdf.index import VideoIndex
from ttdf.leaks import find_split_leaks, leak_summary
from ttdf.records import VideoFilter
from ttdf.taxonomy import load_taxonomy

log = logging.getLogger(__name__)
TRAIN_STATE = "train_state.pt"
BALANCE_MODES = ("oversample", "weight", "none")
# validation clips kept in memory between epochs up to this size (the detector's: ~170 MB); larger sets are re-read
VAL_CACHE_BYTES = 1 << 30


@dataclass
class TrainConfig:
    root: str
    out: str
    model: str = "tofnet"
    model_kwargs: dict = field(default_factory=dict)
    train_methods: tuple[str, ...] = ()      # empty: every taxonomy method not held out
    holdout_methods: tuple[str, ...] = ()
    configs: tuple[str, ...] = ()
    compressions: tuple[str, ...] = ("raw",)
    train_split: str = "train"
    val_split: str = "val"
    epochs: int = 5
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 0.05
    warmup_steps: int = 10
    # reals are rare (one per source against methods x configs fakes). "oversample": each epoch draws every
    # real video about n_fake/n_real times (other clips, other augmentation), so batches are balanced;
    # "weight": the loss weighs reals up instead (pos_weight); "none": neither
    balance: str = "oversample"
    # pseudo-fake copies of each real training video per epoch (tofnet.pseudo_fakes): generic temporal
    # inconsistencies made from real clips, so the detector learns more than the training methods; 0: none
    pseudo_fakes: int = 0
    max_steps_per_epoch: int | None = None
    workers: int = 0
    frame_cache: bool = False                 # decode each video once into <root>/.ttdf/frames (tofnet.frame_cache)
    seed: int = 0
    device: str = "auto"
    amp: bool = True                          # CUDA only
    compile: bool = False                     # CUDA only
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    data: DataConfig = field(default_factory=DataConfig)
    resume: bool = False
    overwrite: bool = False                   # start over in a folder that holds another (or a finished) run
    allow_split_leak: bool = False            # train although identities cross splits (ttdf.leaks)
    progress: bool = True

    def __post_init__(self) -> None:
        if self.balance not in BALANCE_MODES:
            raise TTDFError(f"balance={self.balance!r} is not one of {', '.join(BALANCE_MODES)}")
        if isinstance(self.pseudo_fakes, bool) or not isinstance(self.pseudo_fakes, int) or self.pseudo_fakes < 0:
            raise TTDFError(f"pseudo_fakes={self.pseudo_fakes!r} must be a whole number >= 0 (copies per real video)")
        # run configs written before the rename say same/cross: one canonical name keeps loo folders stable
        self.configs = tuple(dict.fromkeys(load_taxonomy().canonical_config(c) for c in self.configs))

    def methods(self) -> tuple[str, ...]:
        taxonomy = load_taxonomy(root=self.root)
        VideoFilter(methods=(*self.train_methods, *self.holdout_methods)).validate(taxonomy)
        chosen = self.train_methods or taxonomy.methods
        return tuple(m for m in chosen if m not in self.holdout_methods)

    def filter(self, split: str) -> VideoFilter:
        return VideoFilter(methods=self.methods(), configs=self.configs, compressions=self.compressions,
                           splits=(split,)).validate(load_taxonomy(root=self.root))

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        data = dict(data)
        for key in ("train_methods", "holdout_methods", "configs", "compressions"):
            data[key] = tuple(data.get(key, ()))
        data.setdefault("balance", "weight")  # runs saved before --balance existed weighed the loss
        data["data"] = DataConfig.from_dict(data.get("data", {}))
        data["augment"] = AugmentConfig(**data["augment"]) if data.get("augment") else None
        return cls(**data)


def train_one_epoch(model, loader, optimizer, scheduler, scaler, loss_fn, *, device, config: TrainConfig,
                    epoch: int, dist_info: DistInfo) -> float:
    model.train()
    total, steps = 0.0, 0
    limit = config.max_steps_per_epoch or len(loader)
    bar = tqdm(loader, total=min(limit, len(loader)), desc=f"epoch {epoch}",
               disable=not (config.progress and dist_info.is_main), leave=False)
    note_failures = getattr(getattr(loader, "dataset", None), "note_failures", None)  # any iterable of batches works
    for batch in bar:
        if steps >= limit:
            break
        if note_failures is not None:
            note_failures(batch)
        # NOTE: DDP ranks must run the same collectives: when any rank's batch failed to load, all skip the step.
        if not all_ranks(batch_len(batch) > 0, dist_info, device):
            continue
        batch = to_device(batch, device)
        with autocast(device, config.amp):
            logits = model(batch)
        loss = loss_fn(logits.float(), batch["label"])
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        total += loss.item()
        steps += 1
        bar.set_postfix(loss=f"{total / steps:.4f}")
    return all_reduce_mean(total / max(steps, 1), dist_info, device)


def validation_inputs(dataset: ClipDataset, config: TrainConfig, *, device: torch.device | str = "cpu",
                      dist_info: DistInfo = DistInfo()) -> list[dict] | None:
    """This rank's validation batches, read once (they are the same every epoch), or None past VAL_CACHE_BYTES."""
    options = eval_options(config, device=device, progress=False)
    return load_batches(dataset, options, indices=_val_shard(dataset, dist_info), max_bytes=VAL_CACHE_BYTES)


def validate(model, dataset: ClipDataset, config: TrainConfig, *, device: torch.device | str = "cpu",
             dist_info: DistInfo = DistInfo(), batches: list[dict] | None = None) -> dict:
    """Video-level metrics: each rank scores every world_size-th video, all ranks gather the predictions.

    ``batches``: this rank's clips from :func:`validation_inputs` (else they are read again).
    """
    options = eval_options(config, device=device, progress=False)
    clips = predict_clips(model, dataset, options, indices=_val_shard(dataset, dist_info), batches=batches)
    parts = gather_objects((clips, dataset.failures), dist_info)
    clips = [clip for part, _ in parts for clip in part]
    for _, failures in parts:
        dataset.failures.update(failures)
    videos = aggregate_videos(clips)
    labels, probs = [v.label for v in videos], [v.prob for v in videos]
    threshold = eer_threshold(labels, probs) if 0 < sum(labels) < len(labels) else 0.5
    return {**binary_metrics(labels, probs, threshold=threshold), "threshold": threshold}


def _val_shard(dataset: ClipDataset, dist_info: DistInfo) -> list[int]:
    per_video = dataset.sampling.clips_per_video
    return [i for i in range(len(dataset)) if (i // per_video) % dist_info.world_size == dist_info.rank]


def eval_options(config: TrainConfig, *, device: torch.device | str | None = None,
                 progress: bool | None = None) -> EvalOptions:
    """How a training scores videos outside its steps (validation, calibration, held-out tests): its batch size,
    workers, device and AMP."""
    return EvalOptions(batch_size=config.batch_size, workers=config.workers, device=str(device or config.device),
                       amp=config.amp, progress=config.progress if progress is None else progress)


def train(config: TrainConfig) -> dict:
    """Run (or resume) a training run; returns the best validation metrics."""
    dist_info = init_distributed()
    try:
        return _train(config, dist_info)
    finally:
        cleanup_distributed(dist_info)


def _train(config: TrainConfig, dist_info: DistInfo) -> dict:
    out = Path(config.out)
    device = resolve_device(config.device)
    if dist_info.enabled and device.type == "cuda":
        device = torch.device("cuda", dist_info.local_rank)
    seed_everything(config.seed)
    if not config.methods():
        raise TTDFError("no training method left: --holdout-methods removes every --train-methods entry")
    if not config.allow_split_leak:
        _refuse_split_leaks(config.root)

    try:
        model = build_model(config)
    except (TypeError, ValueError) as exc:  # e.g. --model-arg embed_dim=notjson reaching nn.Linear
        args = " ".join(f"{k}={json.dumps(v)}" for k, v in config.model_kwargs.items())
        raise TTDFError(f"cannot build model {config.model!r} with --model-arg {args or '(none)'} "
                        f"({type(exc).__name__}: {exc}); check each KEY=VALUE (values are JSON: 64, 0.1, "
                        "true, \"text\")") from exc
    data_config = replace(config.data, mean=tuple(model.pretrained_cfg.get("mean", config.data.mean)),
                          std=tuple(model.pretrained_cfg.get("std", config.data.std)))
    config = replace(config, data=data_config)
    action = check_run_folder(out, config.to_dict(), resume=config.resume, overwrite=config.overwrite,
                              epochs_done=_epochs_done(out), canonical=_canonical)
    barrier(dist_info)  # every rank has looked at the folder before rank 0 changes it
    cache = FlowCache.for_root(config.root)
    frames = FrameCache.for_root(config.root) if config.frame_cache else None
    train_set = ClipDataset(videos_from_index(config.root, config.filter(config.train_split)), data_config,
                            inputs=model.required_inputs, train=True, flow_cache=cache, seed=config.seed,
                            augment=ClipAugment(config.augment) if config.augment else None, frame_cache=frames)
    val_set = ClipDataset(videos_from_index(config.root, config.filter(config.val_split)), data_config,
                          inputs=model.required_inputs, flow_cache=cache, frame_cache=frames)
    labels = [v.label for v in train_set.videos]
    n_fake, n_real = sum(labels), len(labels) - sum(labels)
    if not n_fake or not n_real:
        raise TTDFError(f"{config.root}: the training selection has {n_real} real and {n_fake} fake videos; "
                        "both classes are needed (check --train-methods/--configs/--compression)")
    if config.pseudo_fakes:
        if not reads_pixels(model):
            raise TTDFError(f"--pseudo-fakes: {config.model} reads no RGB, and pseudo-fakes change only the "
                            "pixels (its flow would be a real video's); train it without --pseudo-fakes")
        train_set.videos = with_pseudo_fakes(train_set.videos, config.pseudo_fakes)
    if config.balance == "oversample":
        train_set.videos = oversample_reals(train_set.videos)

    sampler = DistributedSampler(train_set, num_replicas=dist_info.world_size, rank=dist_info.rank,
                                 shuffle=True, seed=config.seed, drop_last=dist_info.enabled)
    loader = DataLoader(train_set, batch_size=config.batch_size, sampler=sampler, num_workers=config.workers,
                        collate_fn=collate_clips, drop_last=False)
    model.to(device)
    steps_per_epoch = min(config.max_steps_per_epoch or len(loader), len(loader))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _cosine_with_warmup(
        config.warmup_steps, max(1, steps_per_epoch * config.epochs)))
    scaler = torch.amp.GradScaler("cuda", enabled=config.amp and device.type == "cuda")
    weight = torch.tensor(n_real / n_fake, device=device) if config.balance == "weight" else None
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=weight)

    start_epoch, best = 0, None
    if action == "resume" and (out / "last" / TRAIN_STATE).exists():
        start_epoch, best = _restore(out / "last", model, optimizer, scheduler, scaler)
        log.info("resuming %s at epoch %d", out, start_epoch)
    elif dist_info.is_main:
        if action == "overwrite":
            clear_run_folder(out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / RUN_CONFIG, json.dumps(config.to_dict(), indent=2))
        (out / "metrics.jsonl").unlink(missing_ok=True)
    barrier(dist_info)

    net = model
    if dist_info.enabled:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile and device.type == "cuda":
        net = torch.compile(net)

    writer = _tensorboard(out) if dist_info.is_main else None
    val_batches = validation_inputs(val_set, config, device=device, dist_info=dist_info) \
        if start_epoch < config.epochs else None
    for epoch in range(start_epoch, config.epochs):
        # NOTE: reseed per epoch so a resumed run draws the same dropout/augmentation as an uninterrupted one.
        torch.manual_seed(config.seed * 100_003 + epoch)
        sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        started = time.perf_counter()
        loss = train_one_epoch(net, loader, optimizer, scheduler, scaler, loss_fn, device=device, config=config,
                               epoch=epoch, dist_info=dist_info)
        for failures in gather_objects(train_set.failures, dist_info):
            train_set.failures.update(failures)
        trained = time.perf_counter()
        metrics = validate(model, val_set, config, device=device, dist_info=dist_info, batches=val_batches)
        seconds = {"train_seconds": round(trained - started, 2), "val_seconds": round(time.perf_counter() - trained, 2)}
        improved = best is None or _score(metrics) > _score(best)
        best = metrics if improved else best
        if dist_info.is_main:
            row = {"epoch": epoch, "train_loss": loss, "lr": scheduler.get_last_lr()[0],
                   "world_size": dist_info.world_size, "failed_videos": len(train_set.failures | val_set.failures),
                   **{f"val_{k}": v for k, v in metrics.items()}, **seconds}
            extra = {"data": data_config.portable().to_dict(), "train": config.to_dict(), "epoch": epoch,
                     "metrics": metrics, "threshold": metrics["threshold"]}
            if improved:
                save_checkpoint(out / "best", model, extra_config=extra)
            save_checkpoint(out / "last", model, extra_config=extra)
            _save_state(out / "last", optimizer, scheduler, scaler, epoch + 1, best)
            _append_jsonl(out / "metrics.jsonl", row)
            if writer is not None:
                for key, value in row.items():
                    if isinstance(value, (int, float)) and key != "epoch":
                        writer.add_scalar(key, value, epoch)
            log.info("epoch %d: %s", epoch, row)
        barrier(dist_info)
    if writer is not None:
        writer.close()
    return best or {}


def reads_pixels(model: torch.nn.Module) -> bool:
    """Whether pseudo-fakes can reach ``model``: they change pixels, not the cached flow."""
    return bool({"rgb", "residual"} & set(model.required_inputs))


def with_pseudo_fakes(videos: list[VideoSource], copies: int) -> list[VideoSource]:
    """``videos`` plus ``copies`` pseudo-fake items of each real video (each draws its own clip and fake)."""
    reals = [v for v in videos if v.label == 0]
    return videos + [replace(v, pseudo=True) for v in reals for _ in range(copies)]


def oversample_reals(videos: list[VideoSource]) -> list[VideoSource]:
    """``videos`` with each real one repeated round(n_fake / n_real) times (fakes once): balanced epochs.

    The copies are distinct dataset items, so each draws its own clip and augmentation.
    """
    reals = [v for v in videos if v.label == 0]
    fakes = [v for v in videos if v.label != 0]
    copies = max(1, round(len(fakes) / max(1, len(reals))))
    return fakes + [v for v in reals for _ in range(copies)]


def _refuse_split_leaks(root: str) -> None:
    with VideoIndex.open(root) as index:
        leaks = find_split_leaks(video.record for video in index.query())
    if leaks:
        raise TTDFError(f"{root}: {leak_summary(leaks)}; `ttdf verify --root {root}` lists them: fix the splits, "
                        "or pass --allow-split-leak to train anyway")


def build_model(config: TrainConfig) -> torch.nn.Module:
    """The model, told the data's frame size and clip length (so its pretrained_cfg matches the data)."""
    derived = {"input_size": tuple(config.data.size), "clip_len": config.data.clip_len}
    for key, value in derived.items():
        given = config.model_kwargs.get(key)
        if given is not None and (tuple(given) if isinstance(given, (list, tuple)) else given) != value:
            raise TTDFError(f"--model-arg {key}={given} disagrees with the data ({key} {value}); drop it, the "
                            "model takes it from --size/--clip-len")
    try:
        return create_model(config.model, **{**config.model_kwargs, **derived})
    except TTDFError as err:
        if "has no option" not in str(err):  # a model without input_size/clip_len fields
            raise
        return create_model(config.model, **config.model_kwargs)


def _canonical(saved: dict) -> dict:
    """A saved run config as this version writes it (old configuration names, new defaults)."""
    try:
        return TrainConfig.from_dict(saved).to_dict()
    except (TypeError, ValueError, TTDFError):  # from another version: compare it as it is
        return saved


def _epochs_done(out: Path) -> int | None:
    """Epochs the folder's last checkpoint holds; None without one."""
    path = out / "last" / CONFIG_NAME
    if not path.exists():
        return None
    try:
        return int(json.loads(path.read_text(encoding="utf-8"))["epoch"]) + 1
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _score(metrics: dict) -> tuple[float, float]:
    return (metrics.get("auc") if metrics.get("auc") is not None else -1.0, metrics.get("acc") or 0.0)


def _cosine_with_warmup(warmup: int, total: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))
    return factor


def _save_state(directory: Path, optimizer, scheduler, scaler, next_epoch: int, best: dict | None) -> None:
    state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
             "next_epoch": next_epoch, "best": best}
    with atomic_path(directory / TRAIN_STATE) as tmp:
        torch.save(state, tmp)


def _restore(directory: Path, model, optimizer, scheduler, scaler) -> tuple[int, dict | None]:
    saved, _ = load_checkpoint(directory)
    model.load_state_dict(saved.state_dict())
    try:
        state = torch.load(directory / TRAIN_STATE, map_location="cpu", weights_only=False)
    except Exception as exc:  # a damaged state file must not lose the run: say how to recover
        raise TTDFError(f"{directory / TRAIN_STATE}: cannot read the training state ({exc}); "
                        "delete it to restart from the last weights without optimizer state") from exc
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    return int(state["next_epoch"]), state.get("best")


def _append_jsonl(path: Path, row: dict) -> None:
    """Rewrite the log atomically, dropping rows of epochs a resumed run is redoing."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    rows = [r for r in rows if r.get("epoch", -1) < row["epoch"]] + [row]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(out / "tensorboard"))
