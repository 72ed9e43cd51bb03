"""``tofnet evaluate``: metrics of a checkpoint on indexed videos, broken down by group."""
from __future__ import annotations

import argparse
from pathlib import Path

from tofnet.evaluate import EvalOptions, evaluate_checkpoint
from tofnet.report import ALL
from ttdf.cli.options import filter_from_args, filter_options, positive_int, root_options, workers_options


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("evaluate", help="evaluate a checkpoint (ACC, AUC, EER, AP by method/config/compression)",
                            parents=[root_options(), filter_options(), workers_options(default=1)])
    parser.add_argument("checkpoint", help="checkpoint folder (model.safetensors + config.json) or hub repo id")
    parser.add_argument("--out", type=Path, help="folder for report.json, report.md and roc.png")
    parser.add_argument("--batch-size", type=positive_int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threshold", type=float, default=None,
                        help="P(fake) threshold for ACC/labels (default: the checkpoint's saved one, picked on "
                             "validation or set by `tofnet calibrate`)")
    parser.add_argument("--flow-weights", type=Path, default=None, metavar="FILE",
                        help="the RAFT weights file the checkpoint's flow used, when it used one")
    parser.set_defaults(func=run, split=["test"])


def run(args: argparse.Namespace) -> int:
    options = EvalOptions(batch_size=args.batch_size, workers=args.workers if args.workers > 1 else 0,
                          device=args.device, progress=args.progress, threshold=args.threshold)
    report = evaluate_checkpoint(args.checkpoint, args.root, filter_from_args(args), out_dir=args.out, options=options,
                                 flow_weights=args.flow_weights)
    for level in ("clip", "video"):
        m = report[level]
        print(f"{level:5s}: n={m['n']} acc={_fmt(m['acc'])} auc={_fmt(m['auc'])} eer={_fmt(m['eer'])} ap={_fmt(m['ap'])}")
    methods = [g for g in report["groups"] if g["method"] != ALL and g["config"] == ALL and g["compression"] == ALL]
    for g in methods if len(methods) > 1 else ():  # one line per forgery method, its fakes against every real video
        print(f"video, {g['method']}: n_real={g['n_real']} n_fake={g['n_fake']} acc={_fmt(g['acc'])} "
              f"auc={_fmt(g['auc'])} eer={_fmt(g['eer'])}")
    if args.out:
        print(f"report: {args.out}/report.md")
    return 0


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"
