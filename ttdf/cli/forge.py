"""``ttdf forge``: forgeries of a root's own real videos, one method per forge family."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ttdf.cli.options import (SHARD_OUTPUTS_HELP, non_negative_float, non_negative_int, positive_float, positive_int,
                              print_shard_hint, root_options, shard_options, workers_options)
from ttdf.forge import ForgeConfig, forge_dataset, write_preview
from ttdf.taxonomy import load_taxonomy

_DEFAULT = ForgeConfig()


def register(sub: argparse._SubParsersAction) -> None:
    taxonomy = load_taxonomy()
    families = taxonomy.methods_of("forge")
    parser = sub.add_parser(
        "forge", parents=[root_options(), workers_options(default=1), shard_options()],
        help="forge the root's real videos with CPU imitations of human-image-animation failures",
        description="For each indexed raw real video and each forge family, write a self-reenactment fake (its own "
                    "motion) and a cross-reenactment fake (its first frame driven by the optical flow of another "
                    "source of the same split and frame size) where the taxonomy puts that method. Deterministic in "
                    "--seed; existing outputs are kept, so an interrupted run resumes. Sources too short, unreadable "
                    "or too large for --memory-gib are listed and skipped; a long source gives its first frames. "
                    "Run `ttdf index` first; `ttdf compress` then makes c23/c40. "
                    f"{SHARD_OUTPUTS_HELP}")
    parser.add_argument("--methods", nargs="+", choices=families, default=None, metavar="M",
                        help=f"forge families (default: all of {', '.join(families)})")
    parser.add_argument("--configs", nargs="+", choices=taxonomy.config_choices, default=None, metavar="C",
                        help=f"configurations (default: all of {', '.join(taxonomy.configs)})")
    parser.add_argument("--split", nargs="+", choices=taxonomy.splits, default=[], metavar="S",
                        help="forge the sources of these splits only (default: all)")
    parser.add_argument("--seed", type=non_negative_int, default=_DEFAULT.seed,
                        help="random seed (default: %(default)s)")
    parser.add_argument("--strength", type=non_negative_float, default=_DEFAULT.strength, metavar="X",
                        help="scale of every family's artefact; 0 writes the bare animation (default: %(default)s)")
    parser.add_argument("--min-frames", type=positive_int, default=_DEFAULT.min_frames, metavar="N",
                        help="shorter sources are listed and skipped (default: %(default)s)")
    parser.add_argument("--max-frames", type=positive_int, default=_DEFAULT.max_frames, metavar="N",
                        help="forge at most the first N frames of a source (default: %(default)s; TT-DF's forgeries "
                             "average 225)")
    parser.add_argument("--memory-gib", type=positive_float, default=_DEFAULT.memory_gib, metavar="GIB",
                        help="working memory of one job (each worker runs one): a large source gives fewer frames "
                             "(default: %(default)s: about 25 frames of 1920x1080, 1092 of 256x192)")
    parser.add_argument("--preview", type=Path, metavar="OUT.png",
                        help="only write a contact sheet of the first source and each family to OUT.png")
    parser.set_defaults(func=_run)


def _canonical(configs: list[str] | None) -> tuple[str, ...] | None:
    taxonomy = load_taxonomy()
    return tuple(dict.fromkeys(taxonomy.canonical_config(c) for c in configs)) if configs else None


def _run(args: argparse.Namespace) -> int:
    config = ForgeConfig(seed=args.seed, strength=args.strength, min_frames=args.min_frames,
                         max_frames=args.max_frames, memory_gib=args.memory_gib,
                         methods=tuple(args.methods) if args.methods else None,
                         configs=_canonical(args.configs), splits=tuple(args.split))
    if args.preview:
        print(f"preview: {write_preview(args.root, args.preview, config)}")
        return 0
    report = forge_dataset(args.root, config, workers=args.workers, shard=args.shard, progress=args.progress)
    print(f"forged {args.root}: {len(report.written)} written, {len(report.skipped)} already there, "
          f"{len(report.failed)} failed, {len(report.bad_sources)} source(s) left out")
    print_shard_hint(args)
    for note in report.notes:
        print(f"note: {note}")
    for path, reason in report.bad_sources:
        print(f"  SKIPPED  {path}  {reason}")
    for path, reason in report.failed:
        print(f"  FAILED  {path}  {reason}", file=sys.stderr)
    return 1 if report.failed else 0
