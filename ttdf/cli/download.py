"""``ttdf download``: fetch the dataset, or the part the filters select, from the Hugging Face Hub."""
from __future__ import annotations

import argparse
import sys

from huggingface_hub.utils import logging as hf_logging

from ttdf.cli.options import filter_from_args, filter_options, format_options, print_rows, root_options, \
    workers_options
from ttdf.download import REPO_ENV, REVISION_ENV, download_dataset
from ttdf.taxonomy import load_taxonomy


def register(sub: argparse._SubParsersAction) -> None:
    hub = load_taxonomy().hub
    parser = sub.add_parser(
        "download", parents=[root_options(), filter_options(), workers_options(default=8), format_options()],
        help="download TT-DF (or a subset) from the Hugging Face Hub",
        description="Download the selected videos and manifest.csv from the Hugging Face Hub into the root, check "
                    "every file's sha256 against the manifest (a mismatch is renamed to <name>.corrupt and fetched "
                    "again on the next run) and index them. Interrupted downloads resume. The token comes from "
                    "HF_TOKEN or `hf auth login`; HF_ENDPOINT selects a mirror.")
    parser.add_argument("--repo-id", help=f"dataset repo (default: ${REPO_ENV} or {hub.repo_id})")
    parser.add_argument("--revision", help=f"branch, tag or commit (default: ${REVISION_ENV} or {hub.revision})")
    parser.add_argument("--dry-run", action="store_true", help="list the matching files and their size; write nothing")
    parser.add_argument("--no-verify", dest="verify", action="store_false", help="skip the sha256 check")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    # NOTE: the hub client logs every network retry as a warning; the CLI reports failures in one line.
    hf_logging.set_verbosity_error()
    report = download_dataset(args.root, filter_from_args(args), repo_id=args.repo_id, revision=args.revision,
                              dry_run=args.dry_run, workers=args.workers, verify=args.verify, progress=args.progress)
    source = f"{report.repo_id}@{report.revision}"
    if args.dry_run:
        print_rows([{"path": f.path, "size": f.size} for f in report.files], args.format, columns=("path", "size"))
        print(f"{len(report.files)} file(s), {_size(report.total_bytes)} would be downloaded from {source}",
              file=sys.stderr if args.format != "table" else sys.stdout)
        return 0
    print(f"downloaded {source} into {args.root}: {len(report.files)} video(s), {len(report.verified)} verified, "
          f"{len(report.corrupt)} corrupt, {len(report.missing)} missing, {len(report.unverified)} without checksum")
    for note in report.notes:
        print(f"note: {note}")
    for path, reason in report.corrupt:
        print(f"  CORRUPT  {path}  {reason}", file=sys.stderr)
    for path in report.missing:
        print(f"  MISSING  {path}  listed in manifest.csv but not in the repo; rerun to retry", file=sys.stderr)
    return 1 if report.corrupt or report.missing else 0


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
