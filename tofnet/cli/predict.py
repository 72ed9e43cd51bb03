"""``tofnet predict``: forged probability of any video file."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from tofnet.evaluate import EvalOptions
from tofnet.predict import predict_videos
from ttdf.cli.options import positive_int


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("predict", help="forged probability per video (any file, indexed or not)")
    parser.add_argument("videos", nargs="+", type=Path, help="video files")
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder or hub repo id")
    parser.add_argument("--clips-per-video", type=positive_int, help="override the checkpoint's evaluation clips")
    parser.add_argument("--batch-size", type=positive_int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threshold", type=float, default=None,
                        help="P(fake) threshold for ACC/labels (default: the checkpoint's saved one, picked on "
                             "validation or set by `tofnet calibrate`)")
    parser.add_argument("--flow-weights", type=Path, default=None, metavar="FILE",
                        help="the RAFT weights file the checkpoint's flow used, when it used one")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--verbose", action="store_true", help="also print per-clip scores")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    verdicts = predict_videos(args.videos, args.checkpoint, clips_per_video=args.clips_per_video,
                              flow_weights=args.flow_weights,
                              options=EvalOptions(batch_size=args.batch_size, device=args.device, progress=False,
                                                  threshold=args.threshold))
    if args.json:
        print(json.dumps([v.to_dict() for v in verdicts], indent=2))
    else:
        for verdict in verdicts:
            if verdict.error:
                print(f"{verdict.path}\terror\t{verdict.error}")
                continue
            line = f"{verdict.path}\t{verdict.prob_fake:.4f}\t{verdict.label}"
            if args.verbose:
                line += "\tclips=" + ",".join(f"{p:.3f}" for p in verdict.clip_probs)
            print(line)
    return 1 if any(v.error for v in verdicts) else 0
