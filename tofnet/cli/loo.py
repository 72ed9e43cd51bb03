"""``tofnet loo``: leave-one-method-out (and held-out configuration / compression) protocols."""
from __future__ import annotations

import argparse

from tofnet.cli.common import out_option, train_config_from_args, training_options
from tofnet.loo import PROTOCOLS, run_protocols
from ttdf.cli.options import root_options, workers_options


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("loo", help="train on some forgeries, test on unseen ones; prints the summary tables",
                            parents=[root_options(), out_option("runs/loo"), training_options(),
                                     workers_options(default=1)])
    parser.add_argument("--protocols", nargs="+", choices=PROTOCOLS, default=list(PROTOCOLS),
                        help="method: leave one method out; config: held-out configuration; "
                             "compression: train raw, test compressed (default: all)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(run_protocols(train_config_from_args(args), tuple(args.protocols)))
    print(f"summary: {args.out}/summary.md")
    return 0
