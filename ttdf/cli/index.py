"""``ttdf index``: probe new or changed videos into ``<root>/.ttdf/index.sqlite``."""
from __future__ import annotations

import argparse
import sys

from ttdf.cli.options import root_options, shard_options, workers_options
from ttdf.index import INDEX_FILE, index_dataset


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "index", parents=[root_options(), workers_options(), shard_options()],
        help="index the videos of a dataset copy",
        description=f"Probe every video below the root (frames, fps, size, codec, sha256) into {INDEX_FILE}. "
                    "Unchanged files are skipped, so reruns are quick and an interrupted run resumes. "
                    "Broken videos are recorded as bad, with the reason, and kept out of queries. With --shard, "
                    "only that shard's files are probed, into <root>/.ttdf/shards/ (the index is not written); "
                    "the next `ttdf index` without --shard merges every shard's results (and the manifest rows "
                    "of `ttdf compress --shard`) once all shards are done.")
    parser.add_argument("--rebuild", action="store_true",
                        help="re-probe everything; a corrupt index is moved aside, not deleted")
    parser.add_argument("--no-checksums", dest="checksums", action="store_false",
                        help="skip sha256 (faster; no checksum check against the manifest)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    report = index_dataset(args.root, workers=args.workers, rebuild=args.rebuild, checksums=args.checksums,
                           progress=args.progress, shard=args.shard)
    for note in report.notes:
        print(f"ttdf index: note: {note}", file=sys.stderr)
    if args.shard[1] > 1:
        print(f"probed shard {args.shard[0]}/{args.shard[1]} of {args.root}: {report.added} probed, "
              f"{report.unchanged} unchanged, {len(report.bad)} bad; run `ttdf index` without --shard once every "
              "shard is done to merge them into the index")
        return 0
    print(f"indexed {args.root}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
          f"{report.removed} removed, {len(report.bad)} bad")
    for path, reason in report.unusable:
        print(f"  SKIPPED  {path}  {reason}")
    if report.bad:
        print(f"{len(report.bad)} bad video(s), recorded in the index and left out of queries:")
        for path, reason in report.bad:
            print(f"  BAD  {path}  {reason}")
        print("fix or delete them, then rerun `ttdf index`; `ttdf ls --bad` lists them again")
    return 0
