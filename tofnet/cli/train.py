"""``tofnet train``: train a detector on indexed videos (torchrun-ready)."""
from __future__ import annotations

import argparse
import json

from tofnet.cli.common import out_option, train_config_from_args, training_options
from tofnet.train import train
from ttdf.cli.options import root_options, workers_options


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train", help="train a detector on indexed videos",
                            parents=[root_options(), out_option("runs/tofnet"), training_options(),
                                     workers_options(default=1)],
                            description="Train on the index's train split, validate on val each epoch; best and "
                                        "last checkpoints (safetensors + config.json) go to --out. For several GPUs "
                                        "or nodes: torchrun --nproc_per_node N -m tofnet.cli train ...")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = train_config_from_args(args)
    best = train(config)
    print(f"best validation (video level): {json.dumps(best)}")
    print(f"checkpoints: {config.out}/best, {config.out}/last")
    return 0
