"""``ttdf ls`` and ``ttdf stats``: read the index, never the videos."""
from __future__ import annotations

import argparse

from ttdf.cli.options import filter_from_args, filter_options, format_options, print_rows, root_options
from ttdf.index import VideoIndex
from ttdf.stats import COUNT_COLUMNS, STAT_KEYS, compare_to_published, dataset_stats, totals

LS_COLUMNS = ("path", "label", "method", "config", "compression", "split", "frames", "fps", "width", "height")
BAD_COLUMNS = ("path", "label", "method", "config", "compression", "split", "error")


def register(sub: argparse._SubParsersAction) -> None:
    parents = [root_options(), filter_options(), format_options()]
    ls = sub.add_parser("ls", parents=parents, help="list indexed videos",
                        description="List the indexed videos that match the selection (run `ttdf index` first).")
    ls.add_argument("--bad", action="store_true", help="list the videos marked bad, with the reason")
    ls.set_defaults(func=_ls)

    stats = sub.add_parser("stats", parents=parents, help="count videos, frames and hours per group",
                           description="Videos, frames, hours and size per group of the selection, from the "
                                       "index; on a full TT-DF copy, compared with the published totals.")
    stats.add_argument("--by", nargs="+", choices=STAT_KEYS, default=list(STAT_KEYS), metavar="KEY",
                       help=f"group by these keys (default: all of {', '.join(STAT_KEYS)})")
    stats.set_defaults(func=_stats)


def _ls(args: argparse.Namespace) -> int:
    filt = filter_from_args(args)
    with VideoIndex.open(args.root) as index:
        videos = index.query(filt, status="bad" if args.bad else "ok")
    columns = BAD_COLUMNS if args.bad else LS_COLUMNS
    rows = [{k: "?" if value == "" else value for k, value in {**v.record.to_dict(), "error": v.error}.items()}
            for v in videos]  # "?": a bad video the index could not place
    print_rows(rows, args.format, columns=columns)
    return 0


def _stats(args: argparse.Namespace) -> int:
    filt = filter_from_args(args)
    with VideoIndex.open(args.root) as index:
        rows = dataset_stats(index, filt, by=args.by)
        comparison = compare_to_published(index)
    rows.append(totals(rows, by=args.by))
    print_rows(rows, args.format, columns=[*args.by, *COUNT_COLUMNS])
    if args.format == "table" and comparison["looks_full"]:
        print(_published_line(comparison))
    return 0


def _published_line(comparison: dict) -> str:
    published = comparison["published"]
    per = comparison["per_compression"]
    parts = ", ".join(f"{q} {c['fake_videos']:,}/{c['fake_frames']:,}" for q, c in per.items())
    verdict = "matches" if comparison["matches"] else "differs from"
    return (f"fake videos/frames: {comparison['fake_videos']:,} / {comparison['fake_frames']:,} ({parts}); "
            f"{verdict} the published TT-DF totals {published.get('fake_videos', 0):,} / "
            f"{published.get('fake_frames', 0):,}")
