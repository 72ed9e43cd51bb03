"""``ttdf import SRC``: bring a dataset copy from a drive, mirror or archive into the root."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ttdf.cli.options import root_options, workers_options
from ttdf.importing import MODES, import_dataset


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "import", parents=[root_options(), workers_options()], help="import a dataset copy obtained elsewhere",
        description="Copy, hard-link or symlink the videos of SRC into the root, then add them to manifest.csv and "
                    "the index. Metadata comes from --manifest (paths relative to SRC), else SRC/manifest.csv, "
                    "else each path: real/<compression>/<split>/<source>.mp4 or "
                    "fake/<method>/<config>/<compression>/<split>/<identity>__<pose>.mp4. Files already in the "
                    "root are skipped; files that cannot be classified are listed, not imported.")
    parser.add_argument("src", type=Path, metavar="SRC", help="folder holding the dataset copy")
    parser.add_argument("--mode", choices=MODES, default="copy",
                        help="copy (default), hardlink (falls back to copy across filesystems) or symlink (absolute)")
    parser.add_argument("--manifest", type=Path, metavar="FILE", help="CSV/JSONL manifest describing SRC's files")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    report = import_dataset(args.src, args.root, mode=args.mode, manifest=args.manifest, workers=args.workers,
                            progress=args.progress)
    print(f"imported {args.src} into {args.root}: {len(report.imported)} imported, {len(report.skipped)} already "
          f"there, {len(report.unrecognised)} unrecognised, {len(report.failed)} failed")
    for note in report.notes:
        print(f"note: {note}")
    for path, reason in report.unrecognised:
        print(f"  SKIPPED  {path}  {reason}")
    for path, reason in report.failed:
        print(f"  FAILED  {path}  {reason}", file=sys.stderr)
    return 1 if report.failed else 0
