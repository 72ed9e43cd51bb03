"""``ttdf import SRC``: bring a dataset copy from a drive, mirror or archive into the root."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ttdf.cli.options import root_options, workers_options
from ttdf.errors import TTDFError
from ttdf.importing import AUTO_SPLIT, AUTO_SPLIT_FRACTIONS, MODES, FolderSpec, import_dataset
from ttdf.taxonomy import EXTENSION_FILE, load_taxonomy


def register(sub: argparse._SubParsersAction) -> None:
    taxonomy = load_taxonomy()
    parser = sub.add_parser(
        "import", parents=[root_options(), workers_options()], help="import a dataset copy obtained elsewhere",
        description="Copy, hard-link or symlink the videos of SRC into the root, then add them to manifest.csv and "
                    "the index. Metadata comes from --manifest (paths relative to SRC), else SRC/manifest.csv, "
                    "else each path: real/<compression>/<split>/<source>.mp4 or "
                    "fake/<method>/<config>/<compression>/<split>/<identity>__<pose>.mp4. A plain folder of "
                    "clips is described with --label (and --method/--config for forgeries): every video below "
                    "SRC gets those fields, ids come from file names. Files already in the "
                    "root are skipped; files that cannot be classified are listed, not imported.")
    parser.add_argument("src", type=Path, metavar="SRC", help="folder holding the dataset copy")
    parser.add_argument("--mode", choices=MODES, default="copy",
                        help="copy (default), hardlink (falls back to copy across filesystems) or symlink (absolute)")
    parser.add_argument("--manifest", type=Path, metavar="FILE", help="CSV/JSONL manifest describing SRC's files")
    folder = parser.add_argument_group(
        "a plain folder (every video below SRC, recursively; other files ignored)",
        "ids come from file names: <identity>__<pose> for forgeries, else the name, reduced to letters, digits, "
        "'.', '_', '-' (ids that collide are listed, not merged)")
    folder.add_argument("--label", choices=taxonomy.labels, help="what every video of SRC is")
    folder.add_argument("--method", metavar="NAME",
                        help=f"forgery method ({', '.join(taxonomy.methods)}, or a new name: lowercase letters, "
                             f"digits, '-', '_', registered in <root>/{EXTENSION_FILE})")
    folder.add_argument("--config", choices=taxonomy.config_choices, metavar="C",
                        help=f"generative configuration: {', '.join(taxonomy.configs)}")
    folder.add_argument("--compression", metavar="Q", help="compression level (default: raw)")
    folder.add_argument("--split", choices=(*taxonomy.splits, AUTO_SPLIT),
                        help=f"split of every video, or {AUTO_SPLIT} (default): a stable hash of the identity id "
                             f"puts {'/'.join(f'{f * 100:.0f}%%' for f in AUTO_SPLIT_FRACTIONS)} of the identities in "
                             f"{'/'.join(taxonomy.splits)}, one identity in one split")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    described = {"--method": args.method, "--config": args.config, "--compression": args.compression,
                 "--split": args.split}
    folder = None
    if args.label:
        folder = FolderSpec(label=args.label, method=args.method, config=args.config,
                            compression=args.compression or "raw", split=args.split or AUTO_SPLIT)
    elif any(described.values()):
        raise TTDFError(f"{', '.join(k for k, v in described.items() if v)} describe a plain folder: "
                        "add --label real|fake")
    report = import_dataset(args.src, args.root, mode=args.mode, manifest=args.manifest, folder=folder,
                            workers=args.workers, progress=args.progress)
    print(f"imported {args.src} into {args.root}: {len(report.imported)} imported, {len(report.skipped)} already "
          f"there, {len(report.unrecognised)} unrecognised, {len(report.failed)} failed")
    for method in report.registered:
        print(f"registered the new method {method!r} in {args.root / EXTENSION_FILE}")
    if report.ignored:
        print(f"{len(report.ignored)} non-video file(s) ignored")
    for note in report.notes:
        print(f"note: {note}")
    for path, reason in report.unrecognised:
        print(f"  SKIPPED  {path}  {reason}")
    for path, reason in report.index.bad if report.index else ():
        print(f"  BAD  {path}  {reason} (imported, kept out of queries)")
    for path, reason in report.failed:
        print(f"  FAILED  {path}  {reason}", file=sys.stderr)
    return 1 if report.failed else 0
