"""Options shared by ``tofnet train`` and ``tofnet loo`` (declared once), and their config builder."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from tofnet.cli.flow import flow_options, flow_settings
from tofnet.data import DataConfig
from tofnet.models import list_models
from tofnet.train import BALANCE_MODES, TrainConfig
from tofnet.transforms import AugmentConfig
from ttdf.cli.options import non_negative_int, positive_int, share_type, size_type
from ttdf.taxonomy import load_taxonomy


def training_options() -> argparse.ArgumentParser:
    """Model, data and optimisation options; flow options (--flow-backend, --size, ...) come from ``tofnet flow``."""
    taxonomy = load_taxonomy()
    parser = argparse.ArgumentParser(add_help=False, parents=[flow_options()])
    model = parser.add_argument_group("model")
    model.add_argument("--model", default="tofnet", choices=list_models(), help="registered model (default: tofnet)")
    model.add_argument("--backbone", help="timm backbone name for the model's image streams")
    model.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE", type=_key_value,
                       help="extra model keyword argument, JSON value (e.g. use_flow_stats=false); repeatable")
    model.add_argument("--pretrained", action="store_true",
                       help="start from ImageNet weights (timm, via the Hugging Face cache: HF_HOME/HF_TOKEN) or "
                            "Kinetics weights (torchvision video models, via TORCH_HOME)")
    model.add_argument("--pretrained-weights", type=Path, metavar="FILE",
                       help="start from this local .safetensors/.pth state_dict of the backbone (offline "
                            "--pretrained; implies it)")
    data = parser.add_argument_group("data")
    # no argparse choices: the root may register more methods; TrainConfig.methods() checks them
    data.add_argument("--train-methods", nargs="+", default=[], metavar="M",
                      help=f"forgery methods to train on (default: all not held out): {', '.join(taxonomy.methods)} "
                           "or one the root registered")
    data.add_argument("--holdout-methods", nargs="+", default=[], metavar="M",
                      help="forgery methods never seen in training")
    data.add_argument("--configs", nargs="+", default=[], choices=taxonomy.config_choices, metavar="C",
                      help="generative configurations to use (default: all)")
    data.add_argument("--compression", nargs="+", default=["raw"], metavar="Q", help="compression levels (default: raw)")
    data.add_argument("--clip-len", type=positive_int, default=DataConfig.clip_len, help="frames per clip")
    data.add_argument("--stride", type=positive_int, default=DataConfig.stride, help="frame step inside a clip")
    data.add_argument("--clips-per-video", type=positive_int, default=DataConfig.train_clips_per_video,
                      help="random clips per video and epoch in training")
    data.add_argument("--eval-clips-per-video", type=positive_int, default=DataConfig.eval_clips_per_video,
                      help="evenly spaced clips per video in evaluation")
    data.add_argument("--no-augment", dest="augment", action="store_false", help="disable augmentation")
    data.add_argument("--crop", type=size_type, default=None, metavar="HxW",
                      help="score an RGB window of this size centred on the motion, cut from frames read at "
                           "--rgb-size (default: whole frames at --size)")
    data.add_argument("--rgb-size", type=size_type, default=None, metavar="HxW",
                      help="frame size RGB is read at before --crop (default: --size)")
    data.add_argument("--frame-cache", action="store_true",
                      help="decode each video once and keep its frames in ROOT/.ttdf/frames (frames x H x W x 3 "
                           "bytes per video at --rgb-size): much faster training on a CPU for a few thousand "
                           "clips; the same frames as without it")
    data.add_argument("--crop-jitter", type=share_type, default=AugmentConfig.crop_jitter, metavar="SHARE",
                      help="shift training crops by up to this share of their size (default: 0, off)")
    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--epochs", type=positive_int, default=TrainConfig.epochs)
    optim.add_argument("--batch-size", type=positive_int, default=TrainConfig.batch_size)
    optim.add_argument("--lr", type=float, default=TrainConfig.lr)
    optim.add_argument("--weight-decay", type=float, default=TrainConfig.weight_decay)
    optim.add_argument("--max-steps-per-epoch", type=positive_int, default=None)
    optim.add_argument("--balance", choices=BALANCE_MODES, default=TrainConfig.balance,
                       help="rare real videos: 'oversample' them so batches are balanced (default), 'weight' "
                            "them up in the loss, or 'none'")
    optim.add_argument("--pseudo-fakes", type=non_negative_int, default=TrainConfig.pseudo_fakes, metavar="K",
                       help="also train on K pseudo-fakes of each real video per epoch: generic temporal "
                            "inconsistencies made from real clips (tofnet.pseudo_fakes; default: 0)")
    optim.add_argument("--seed", type=non_negative_int, default=0)
    optim.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    optim.add_argument("--no-amp", dest="amp", action="store_false", help="disable mixed precision on CUDA")
    optim.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA only)")
    optim.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its last checkpoint (only if its settings are the same)")
    optim.add_argument("--overwrite", action="store_true",
                       help="delete the run in --out (checkpoints, metrics) and start over")
    data.add_argument("--allow-split-leak", action="store_true",
                      help="train although a source's identity or pose is in two splits (`ttdf verify` lists them)")
    return parser


def train_config_from_args(args: argparse.Namespace) -> TrainConfig:
    model_kwargs = dict(args.model_arg)
    if args.backbone:
        model_kwargs["backbone"] = args.backbone
    if args.pretrained_weights or args.pretrained:  # recorded in run_config.json; checkpoints drop it
        model_kwargs["pretrained"] = str(args.pretrained_weights) if args.pretrained_weights else True
    flow_backend, flow_kwargs = flow_settings(args)
    data = DataConfig(size=tuple(args.size), clip_len=args.clip_len, stride=args.stride,
                      train_clips_per_video=args.clips_per_video, eval_clips_per_video=args.eval_clips_per_video,
                      flow_backend=flow_backend, flow_kwargs=flow_kwargs,
                      crop=tuple(args.crop) if args.crop else None, rgb_size=tuple(args.rgb_size) if args.rgb_size else None)
    return TrainConfig(root=str(args.root), out=str(args.out), model=args.model, model_kwargs=model_kwargs,
                       train_methods=tuple(args.train_methods), holdout_methods=tuple(args.holdout_methods),
                       configs=tuple(args.configs), compressions=tuple(args.compression), epochs=args.epochs,
                       batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay, balance=args.balance,
                       max_steps_per_epoch=args.max_steps_per_epoch,
                       pseudo_fakes=args.pseudo_fakes, workers=args.workers if args.workers > 1 else 0,
                       frame_cache=args.frame_cache,
                       seed=args.seed, device=args.device, amp=args.amp, compile=args.compile,
                       augment=AugmentConfig(crop_jitter=args.crop_jitter) if args.augment else None, data=data,
                       resume=args.resume, overwrite=args.overwrite, allow_split_leak=args.allow_split_leak,
                       progress=args.progress)


def out_option(default: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--out", type=Path, default=Path(default), help="run folder (default: %(default)s)")
    return parser


def _key_value(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value
