"""``tofnet calibrate``: a checkpoint's threshold set on real videos alone, at a chosen false-alarm rate."""
from __future__ import annotations

import argparse
from pathlib import Path

from tofnet.calibrate import DEFAULT_FALSE_ALARM_RATE, calibrate_checkpoint, calibrate_on_videos
from tofnet.evaluate import EvalOptions
from ttdf.cli.options import filter_from_args, filter_options, positive_int, root_options, share_type, workers_options


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "calibrate", help="set a checkpoint's threshold so that a chosen share of real videos is called forged",
        parents=[root_options(), filter_options(), workers_options(default=1)],
        description="Scores the selected real videos of the root (forgeries are ignored) and saves, in the "
                    "checkpoint's config.json, the threshold above which --false-alarm-rate of them score; "
                    "`tofnet evaluate` and `tofnet predict` then use it. Calibrate on validation scenes, or on "
                    "real footage of the camera you will check (--videos FILE..., or imported with `ttdf import "
                    "--label real`), never on the videos you report results on.")
    parser.add_argument("checkpoint", type=Path, help="local checkpoint folder (model.safetensors + config.json)")
    parser.add_argument("--videos", nargs="+", type=Path, metavar="FILE",
                        help="calibrate on these video files, all real (e.g. your own camera's), instead of the "
                             "root's videos")
    parser.add_argument("--false-alarm-rate", type=share_type, default=DEFAULT_FALSE_ALARM_RATE, metavar="RATE",
                        help="share of real videos to call forged, between 0 and 1 (default: %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--flow-weights", type=Path, default=None, metavar="FILE",
                        help="the RAFT weights file the checkpoint's flow used, when it used one")
    parser.set_defaults(func=run, split=["val"])


def run(args: argparse.Namespace) -> int:
    options = EvalOptions(batch_size=args.batch_size, workers=args.workers if args.workers > 1 else 0,
                          device=args.device, progress=args.progress)
    if args.videos:
        record = calibrate_on_videos(args.checkpoint, args.videos, rate=args.false_alarm_rate, options=options,
                                     flow_weights=args.flow_weights)
    else:
        record = calibrate_checkpoint(args.checkpoint, args.root, filter_from_args(args), rate=args.false_alarm_rate,
                                      options=options, flow_weights=args.flow_weights)
    for path, reason in record.get("unreadable", {}).items():
        print(f"  SKIPPED  {path}  {reason}")
    previous, n_real, rate = record["previous_threshold"], record["n_real"], record["false_alarm_rate"]
    print(f"calibrated {args.checkpoint}: threshold {record['threshold']:.4f} (was "
          f"{'none' if previous is None else f'{previous:.4f}'}): {n_real} real video(s), about {rate:.0%} of them "
          "scored forged")
    if n_real * rate < 1:
        print(f"note: {n_real} real video(s) are fewer than the {round(1 / rate)} a false-alarm rate of {rate:g} "
              "needs to be measured: the threshold lies between their highest scores; calibrate on more")
    return 0
