"""``ttdf compress``: make the c23/c40 (or any CRF) versions of the indexed raw videos."""
from __future__ import annotations

import argparse
import sys

from ttdf.cli.options import (SHARD_OUTPUTS_HELP, filter_from_args, filter_options, print_shard_hint, root_options,
                              shard_options, workers_options)
from ttdf.compress import CRF_RANGE, PRESETS, compress_dataset
from ttdf.taxonomy import load_taxonomy
from ttdf.video import DEFAULT_PRESET


def register(sub: argparse._SubParsersAction) -> None:
    default_crfs = [crf for crf in load_taxonomy().compressions.values() if crf is not None]
    parser = sub.add_parser(
        "compress", parents=[root_options(), filter_options(), workers_options(), shard_options()],
        help="re-encode indexed videos at H.264 CRFs (c23, c40, ...)",
        description="Re-encode the indexed videos of one compression level (--from, default raw) with libx264 at "
                    "each CRF; CRF 23 and 40 are named c23 and c40, others crfN. Existing outputs are skipped, so "
                    "an interrupted run resumes. Outputs are added to manifest.csv and the index. "
                    f"Run `ttdf index` first. {SHARD_OUTPUTS_HELP}")
    parser.add_argument("--crf", nargs="+", type=_crf, default=default_crfs, metavar="N",
                        help=f"CRF value(s) 0..51 (default: {' '.join(map(str, default_crfs))})")
    parser.add_argument("--preset", choices=PRESETS, default=DEFAULT_PRESET, metavar="P",
                        help="x264 preset: slower presets give smaller files (default: %(default)s)")
    parser.add_argument("--from", dest="source", default="raw", metavar="Q",
                        help="compression level to re-encode (default: %(default)s)")
    parser.set_defaults(func=_run)


def _crf(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"CRF must be an integer 0..51, got {text!r}") from None
    if value not in CRF_RANGE:
        raise argparse.ArgumentTypeError(f"CRF must be 0..51 (libx264), got {value}")
    return value


def _run(args: argparse.Namespace) -> int:
    report = compress_dataset(args.root, args.crf, filt=filter_from_args(args), source_compression=args.source,
                              preset=args.preset, workers=args.workers, shard=args.shard, progress=args.progress)
    print(f"compressed {args.root}: {len(report.written)} written, {len(report.skipped)} already there, "
          f"{len(report.failed)} failed")
    if report.busy:
        print(f"{len(report.busy)} output(s) are being written by another `ttdf compress` on this root, which "
              "registers them; rerun later to check")
    print_shard_hint(args)
    for path, reason in report.failed:
        print(f"  FAILED  {path}  {reason}", file=sys.stderr)
    return 1 if report.failed else 0
