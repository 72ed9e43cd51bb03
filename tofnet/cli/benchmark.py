"""``tofnet benchmark``: TOF-Net against baselines, leave-one-method-out, one table."""
from __future__ import annotations

import argparse

from tofnet.benchmark import DEFAULT_MODELS, goal_lines, run_benchmark
from tofnet.cli.common import out_option, train_config_from_args, training_options
from tofnet.models import list_models
from ttdf.cli.options import non_negative_int, root_options, share_type, workers_options
from ttdf.errors import TTDFError
from ttdf.taxonomy import load_taxonomy


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "benchmark", help="train every listed model leave-one-method-out; one table (Markdown, JSON, PNG)",
        parents=[root_options(), out_option("runs/benchmark"), training_options(), workers_options(default=1)],
        description="Each model runs the leave-one-method-out protocol of `tofnet loo` with the same data and "
                    "settings, in <out>/<model>/ (resumable). --model-arg KEY=VALUE applies to every model, "
                    "--model-arg MODEL:KEY=VALUE to one (e.g. tofnet:embed_dim=128).")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), choices=list_models(), metavar="MODEL",
                        help=f"models to compare (default: {' '.join(DEFAULT_MODELS)})")
    parser.add_argument("--methods", nargs="+", default=[], metavar="M", choices=load_taxonomy().methods,
                        help="held-out methods (default: every method with videos in the root)")
    parser.add_argument("--seeds", nargs="+", type=non_negative_int, default=[], metavar="S",
                        help="train every cell once per seed and report each cell's mean and spread over them "
                             "(default: --seed alone; its cells stay in <out>/<model>/, the others go to "
                             "<out>/<model>/seed-<s>/)")
    parser.add_argument("--false-alarm-rate", type=share_type, default=None, metavar="RATE",
                        help="judge real_acc/fake_acc at each cell's threshold calibrated on the validation split's "
                             "real videos to call RATE of them forged (`tofnet calibrate`; default: the threshold "
                             "training saved, at the validation equal-error point)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.backbone:
        raise TTDFError("tofnet benchmark: --backbone would replace every model's own backbone; use "
                        "--model-arg MODEL:backbone=NAME for the models that should change")
    if args.pretrained_weights:
        raise TTDFError("tofnet benchmark: one --pretrained-weights file cannot fit every model; use "
                        "--model-arg MODEL:pretrained=FILE per model, or --pretrained")
    table = run_benchmark(train_config_from_args(args), args.models, methods=args.methods, seeds=args.seeds,
                          false_alarm_rate=args.false_alarm_rate)
    with open(f"{args.out}/benchmark.md", encoding="utf-8") as handle:
        print(handle.read())
    for line in goal_lines(table):
        print(f"goal: {line}")
    print(f"benchmark: {args.out}/benchmark.md, benchmark.json, benchmark.png ({len(table['rows'])} cells)")
    return 0
