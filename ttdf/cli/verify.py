"""``ttdf verify``: find missing, corrupt, undecodable and unindexed videos; exit 1 if any."""
from __future__ import annotations

import argparse

from ttdf.cli.options import filter_from_args, filter_options, root_options, workers_options
from ttdf.verify import PROBLEM_KINDS, verify_dataset

_KIND_WIDTH = max(len(k) for k in PROBLEM_KINDS)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "verify", parents=[root_options(), filter_options(), workers_options()],
        help="check files, checksums, decoding and split leaks", description=(
            "Check that every video of the manifest and the index is on disk, matches its sha256 and decodes "
            "to the last frame; list video files nobody knows about and videos that use a source (identity or "
            "pose) of another split (a leak). Exit code 1 when anything is wrong."))
    parser.add_argument("--no-checksums", dest="checksums", action="store_false", help="skip sha256 checks")
    parser.add_argument("--no-decode", dest="decode", action="store_false", help="skip full decoding (much faster)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    report = verify_dataset(args.root, filter_from_args(args), checksums=args.checksums, decode=args.decode,
                            workers=args.workers, progress=args.progress)
    for problem in report.problems:
        print(f"{problem.kind.upper().ljust(_KIND_WIDTH)}  {problem.path}  {problem.detail}")
    print(f"{report.ok} video(s) ok, {len(report.problems)} problem(s)")
    return 0 if report.passed else 1
