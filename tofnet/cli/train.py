"""``tofnet train``: train a detector on indexed videos (torchrun-ready)."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from tofnet.calibrate import calibrate_on_validation, check_false_alarm_rate
from tofnet.cli.common import out_option, train_config_from_args, training_options
from tofnet.train import train
from ttdf.cli.options import root_options, share_type, workers_options


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train", help="train a detector on indexed videos",
                            parents=[root_options(), out_option("runs/tofnet"), training_options(),
                                     workers_options(default=1)],
                            description="Train on the index's train split, validate on val each epoch; best and "
                                        "last checkpoints (safetensors + config.json) go to --out. For several GPUs "
                                        "or nodes: torchrun --nproc_per_node N -m tofnet.cli train ...")
    parser.add_argument("--false-alarm-rate", type=share_type, default=None, metavar="RATE",
                        help="then calibrate the best checkpoint's threshold on the validation real videos, as "
                             "`tofnet calibrate --split val` does (default: keep the equal-error threshold)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = train_config_from_args(args)
    if args.false_alarm_rate is not None:
        check_false_alarm_rate(args.false_alarm_rate)  # before the training, not after it
    best = train(config)
    print(f"best validation (video level): {json.dumps(best)}")
    print(f"checkpoints: {config.out}/best, {config.out}/last")
    if args.false_alarm_rate is not None and os.environ.get("RANK", "0") == "0":  # one rank writes the threshold
        record = calibrate_on_validation(Path(config.out) / "best", config, args.false_alarm_rate)
        print(f"threshold calibrated on {record['n_real']} validation real video(s): {record['threshold']:.4f} "
              f"(equal-error point {record['previous_threshold']:.4f})")
    return 0
