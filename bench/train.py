"""Training and inference: TOF-Net against the RGB-only frame baseline, same backbone and clip size.

Optimizer steps go through ``tofnet.train.train_one_epoch`` (the real loop: autocast, scaler, AdamW)
on pre-built random batches, so the rows measure the model, not the data pipeline; the ``load`` rows
measure the data pipeline alone (``ClipDataset`` with a warm flow cache), and ``predict`` the whole
``tofnet predict`` path on the long clip.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from bench.common import Row, by_id, relate
from bench.data import Context
from tofnet.checkpoint import save_checkpoint
from tofnet.data import ClipDataset, DataConfig, videos_from_index
from tofnet.distributed import DistInfo
from tofnet.evaluate import EvalOptions
from tofnet.flow_cache import FlowCache, compute_flow_for_index
from tofnet.frame_cache import FrameCache
from tofnet.models import DEFAULT_BACKBONE, create_model
from tofnet.models.backbone import small_map_convs
from tofnet.predict import predict_videos
from tofnet.train import TrainConfig, train_one_epoch

# rgb_frame: the same backbone scoring frames one by one, no motion; tofnet_residual: the TOF-Net `make detector`
# trains (the flow-compensated residual alone), tofnet: the full model with every branch
MODELS = ("tofnet", "tofnet_residual", "rgb_frame")
OURS = MODELS[:2]
ROWS = (*(f"train.{what}.{m}" for what in ("step", "infer", "load", "load_long") for m in MODELS),
        "train.load_cached.tofnet_residual", "train.step.tofnet_legacy", "train.step.detector",
        "train.step.detector_conv", "train.predict.default", "train.predict.cached")
GOAL = 0.5  # a TOF-Net step (and inference) at least at this share of the RGB-only baseline's clips/s
LEGACY = {"diff_fusion": "separate", "flow_scale": 1.0}  # TOF-Net as it was: second backbone, full-size flow
# `make detector`'s training step, whatever the profile: its model on batches of 16 clips of 8 frames of 64x64 crops
DETECTOR_MODEL = ("tofnet_residual", {"backbone": "resnet10t", "embed_dim": 64})
DETECTOR_BATCH = {"batch": 16, "clip_len": 8, "size": (64, 64)}


@dataclass
class StepState:
    """Everything one measured training step needs, built once per child."""

    model: torch.nn.Module
    batches: list[dict]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    loss_fn: torch.nn.Module
    device: torch.device
    config: TrainConfig


def run(ctx: Context) -> list[Row]:
    p, data = ctx.profile, ctx.data
    h, w = p.flow_size
    clips = p.train_batch * p.train_steps
    backbone = p.model_kwargs.get("backbone", DEFAULT_BACKBONE)
    shape = f"batch {p.train_batch} x {p.train_clip_len} frames x {h}x{w}, {backbone}, CPU"
    rows: list[Row | None] = []
    for name in MODELS:
        rows.append(ctx.measure(f"train.step.{name}", f"{name}: train_one_epoch, {p.train_steps} AdamW steps, {shape}",
                                train_steps, prepare=lambda n=name: step_state(ctx, n, "cpu", amp=False), warmup=1,
                                work=clips, unit="clips/s"))
    rows.append(ctx.measure("train.step.tofnet_legacy", f"tofnet with {LEGACY} (before the one-pass defaults), "
                            f"{p.train_steps} AdamW steps, {shape}", train_steps,
                            prepare=lambda: step_state(ctx, "tofnet", "cpu", amp=False, **LEGACY), warmup=1,
                            work=clips, unit="clips/s"))
    name, options = DETECTOR_MODEL
    batch, clip_len, size = DETECTOR_BATCH["batch"], DETECTOR_BATCH["clip_len"], DETECTOR_BATCH["size"]
    for suffix, small_maps, what in (("", True, "the last stage's 2x2 maps as matrix products (SmallMapConv2d)"),
                                     ("_conv", False, "every convolution by nn.Conv2d (oneDNN)")):
        rows.append(ctx.measure(f"train.step.detector{suffix}", f"make detector's step: {name} {options}, batch "
                                f"{batch} x {clip_len} frames x {size[0]}x{size[1]}, {p.train_steps} AdamW steps, "
                                f"{what}, CPU", train_steps, warmup=1, work=batch * p.train_steps, unit="clips/s",
                                prepare=lambda s=small_maps, n=name: step_state(
                                    ctx, n, "cpu", amp=False, small_maps=s, **DETECTOR_BATCH, **options)))
    for name in MODELS:
        rows.append(ctx.measure(f"train.infer.{name}", f"{name}: forward only (no_grad), {shape}",
                                _infer, prepare=lambda n=name: step_state(ctx, n, "cpu", amp=False), warmup=1,
                                work=clips, unit="clips/s"))
    for name in MODELS:
        rows.append(ctx.measure(f"train.load.{name}", f"{name} inputs from ClipDataset, {p.load_clips} clips of "
                                "the synth videos, warm flow cache", _load, work=p.load_clips, unit="clips/s",
                                prepare=lambda n=name: _load_state(ctx, n, data.synth_root, p.load_clips)))
    rows.append(ctx.measure("train.load_cached.tofnet_residual", f"tofnet_residual inputs from ClipDataset, "
                            f"{p.load_clips} clips of the synth videos, warm --frame-cache", _load, work=p.load_clips,
                            unit="clips/s", prepare=lambda: _load_state(ctx, "tofnet_residual", data.synth_root,
                                                                        p.load_clips, frame_cache=True)))
    long_clips = DataConfig().eval_clips_per_video  # one video: its evaluation clips
    for name in MODELS:
        rows.append(ctx.measure(f"train.load_long.{name}", f"{name} inputs from ClipDataset, the {long_clips} "
                                f"clips of the {data.long_frames}-frame clip, warm flow cache", _load,
                                prepare=lambda n=name: _load_state(ctx, n, data.long_root, long_clips),
                                work=long_clips, unit="clips/s"))
    what = f"the {data.long_seconds:.0f} s {p.long_size[0]}x{p.long_size[1]} clip, 4 clips, tofnet, CPU"
    rows.append(ctx.measure("train.predict.default", f"predict_videos, no flow cache (as `tofnet predict`), {what}",
                            lambda ckpt: _predict(ctx, ckpt, None), prepare=lambda: _checkpoint(ctx),
                            per=data.long_seconds, work=1, unit="s per video-second"))
    rows.append(ctx.measure("train.predict.cached", f"predict_videos with a (cold) flow cache, {what}",
                            lambda ckpt: _predict(ctx, ckpt, ckpt / "flow"), prepare=lambda: _checkpoint(ctx),
                            before_each=lambda ckpt: shutil.rmtree(ckpt / "flow", ignore_errors=True),
                            per=data.long_seconds, work=1, unit="s per video-second"))
    result = [r for r in rows if r is not None]
    found = by_id(result)
    for what in ("step", "infer", "load", "load_long"):
        for name in OURS:
            relate(found.get(f"train.{what}.{name}"), found.get(f"train.{what}.rgb_frame"), "rgb_frame")
    relate(found.get("train.load_cached.tofnet_residual"), found.get("train.load.tofnet_residual"), "no frame cache")
    relate(found.get("train.step.tofnet_legacy"), found.get("train.step.rgb_frame"), "rgb_frame")
    relate(found.get("train.step.detector"), found.get("train.step.detector_conv"), "nn.Conv2d")
    relate(found.get("train.predict.cached"), found.get("train.predict.default"), "no cache")
    return result


def notes(rows: dict[str, Row]) -> list[str]:
    lines = []
    base = rows.get("train.step.rgb_frame")
    for name, what in (("tofnet", "the full TOF-Net"), ("tofnet_residual", "the detector's TOF-Net (residual only)")):
        ours = rows.get(f"train.step.{name}")
        if ours is not None and base is not None and ours.ratio:
            memory = ""
            if ours.extra_rss_mb is not None and base.extra_rss_mb is not None:
                memory = f", peak memory +{ours.extra_rss_mb:.0f} MB vs +{base.extra_rss_mb:.0f} MB"
            verdict = "meets" if ours.ratio >= GOAL else "misses"
            lines.append(f"train: a step of {what} costs {1 / ours.ratio:.1f}x an RGB-only frame-baseline step, "
                         f"{ours.ratio:.2f}x its clips/s ({verdict} the >= {GOAL}x goal){memory}.")
        infer = rows.get(f"train.infer.{name}")
        if infer is not None and infer.ratio:
            verdict = "meets" if infer.ratio >= GOAL else "misses"
            lines.append(f"train: inference of {what} runs at {infer.ratio:.2f}x the baseline's clips/s ({verdict} "
                         f"the >= {GOAL}x goal).")
    detector = rows.get("train.step.detector")
    if detector is not None and detector.ratio:
        lines.append(f"train: make detector's step runs at {detector.ratio:.2f}x the clips/s with its 2x2 maps as matrix "
                     "products (SmallMapConv2d) as with nn.Conv2d alone.")
    short, long = rows.get("train.load.tofnet"), rows.get("train.load_long.tofnet")
    if short is not None and long is not None and short.ratio and long.ratio:
        lines.append(f"train: with a warm flow cache, TOF-Net clips load at {short.ratio:.2f}x the speed of RGB-only "
                     f"clips on the short synth videos and {long.ratio:.2f}x on the long clip.")
    cached = rows.get("train.load_cached.tofnet_residual")
    if cached is not None and cached.ratio:
        lines.append(f"train: a warm --frame-cache loads residual clips at {cached.ratio:.2f}x the speed of "
                     "decoding them.")
    return lines


def step_state(ctx: Context, name: str, device: str, *, amp: bool, batch: int | None = None,
               clip_len: int | None = None, size: tuple[int, int] | None = None, small_maps: bool = True,
               **kwargs) -> StepState:
    """A fresh model (``kwargs`` override its options), its optimizer and random batches of the profile's shape
    (or ``batch`` clips of ``clip_len`` frames of ``size``); ``small_maps=False``: plain nn.Conv2d everywhere."""
    p = ctx.profile
    batch, clip_len, size = batch or p.train_batch, clip_len or p.train_clip_len, size or p.flow_size
    torch.manual_seed(0)
    model = create_model(name, input_size=size, clip_len=clip_len, **{**p.model_kwargs, **kwargs}).to(device)
    small_map_convs(model, enabled=small_maps)
    shape = (batch, clip_len)
    batches = []
    for _ in range(p.train_steps):
        inputs = {"label": (torch.arange(batch) % 2).float()}
        if "rgb" in model.required_inputs:
            inputs["rgb"] = torch.randn(*shape, 3, *size)
        if "flow" in model.required_inputs:
            inputs["flow"] = 3 * torch.randn(*shape, 2, *size)
        if "residual" in model.required_inputs:
            inputs["residual"] = torch.randn(*shape, 3, *size)
        batches.append(inputs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    return StepState(model=model, batches=batches, optimizer=optimizer,
                     scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0),
                     scaler=torch.amp.GradScaler("cuda", enabled=amp and device.startswith("cuda")),
                     loss_fn=torch.nn.BCEWithLogitsLoss(), device=torch.device(device),
                     config=TrainConfig(root="", out="", amp=amp, progress=False, device=device))


def train_steps(state: StepState) -> None:
    train_one_epoch(state.model, state.batches, state.optimizer, state.scheduler, state.scaler, state.loss_fn,
                    device=state.device, config=state.config, epoch=0, dist_info=DistInfo())
    if state.device.type == "cuda":
        torch.cuda.synchronize()


@torch.no_grad()
def _infer(state: StepState) -> None:
    state.model.eval()
    for batch in state.batches:
        state.model({k: v.to(state.device) for k, v in batch.items()})
    if state.device.type == "cuda":
        torch.cuda.synchronize()


def _load_state(ctx: Context, name: str, source: Path, clips: int, *, frame_cache: bool = False
                ) -> tuple[ClipDataset, int]:
    """A copy of ``source`` with its flow cache (and ``frame_cache``) filled, and a dataset reading what ``name`` needs."""
    p = ctx.profile
    root = ctx.data.copy_root(source, f"load-{name}{'-cached' if frame_cache else ''}")
    config = DataConfig(size=p.flow_size, clip_len=p.train_clip_len)
    inputs = create_model(name, **p.model_kwargs).required_inputs
    if "flow" in inputs:
        compute_flow_for_index(root, backend=config.flow_backend, size=config.size, progress=False,
                               reader_backend=config.reader_backend)
    dataset = ClipDataset(videos_from_index(root), config, inputs=inputs, flow_cache=FlowCache.for_root(root),
                          frame_cache=FrameCache.for_root(root) if frame_cache else None)
    if frame_cache:
        _load((dataset, min(clips, len(dataset))))  # warm: every video decoded once
    return dataset, min(clips, len(dataset))


def _load(state: tuple[ClipDataset, int]) -> None:
    dataset, clips = state
    for index in range(clips):
        if "failure" in dataset[index]:
            raise RuntimeError(f"clip {index} failed: {dataset.failures}")


def _checkpoint(ctx: Context) -> Path:
    p = ctx.profile
    folder = ctx.data.workdir / "scratch" / "checkpoint"
    model = create_model("tofnet", input_size=p.flow_size, clip_len=p.train_clip_len, **p.model_kwargs)
    data = DataConfig(size=p.flow_size, clip_len=p.train_clip_len)
    return save_checkpoint(folder, model, extra_config={"data": data.to_dict()})


def _predict(ctx: Context, checkpoint: Path, cache: Path | None) -> None:
    verdicts = predict_videos([ctx.data.long_video], checkpoint, options=EvalOptions(progress=False),
                              flow_cache=cache)
    if any(v.error for v in verdicts):
        raise RuntimeError(f"predict failed: {[v.error for v in verdicts]}")
