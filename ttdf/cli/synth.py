"""``ttdf synth``: write a small, deterministic TT-DF-shaped dataset of procedural dance videos."""
from __future__ import annotations

import argparse
from collections import Counter

from ttdf.cli.options import non_negative_float, non_negative_int, positive_int, root_options, size_type, workers_options
from ttdf.synth import MISMATCH, SynthConfig, cross_partner, plan_videos, source_id, source_splits, synthesize
from ttdf.taxonomy import load_taxonomy

_DEFAULT = SynthConfig()


def register(sub: argparse._SubParsersAction) -> None:
    taxonomy = load_taxonomy()
    parser = sub.add_parser(
        "synth", parents=[root_options(), workers_options(default=1)],
        help="write a synthetic TT-DF-shaped dataset (real + fake dance videos) and its manifest",
        description="Render procedural dancers: one real video per source and, per method and configuration, a "
                    "fake re-rendering of the same identity with that method's temporal artefacts (same: its own "
                    "dance; cross: the dance of another source of the same split). Videos are deterministic in "
                    "the options; existing ones are kept, so an interrupted run resumes.")
    parser.add_argument("--sources", type=positive_int, default=_DEFAULT.sources,
                        help="source videos (identities), split by source (default: %(default)s)")
    parser.add_argument("--frames", type=_frames, default=_DEFAULT.frames,
                        help="frames per video (default: %(default)s)")
    parser.add_argument("--fps", type=_positive_float, default=_DEFAULT.fps, help="frame rate (default: %(default)s)")
    parser.add_argument("--size", type=parse_size, default=(_DEFAULT.height, _DEFAULT.width), metavar="HxW",
                        help=f"frame size, HEIGHTxWIDTH like every --size, even numbers "
                             f"(default: {_DEFAULT.height}x{_DEFAULT.width})")
    parser.add_argument("--seed", type=non_negative_int, default=_DEFAULT.seed,
                        help="random seed (default: %(default)s)")
    parser.add_argument("--methods", nargs="+", choices=taxonomy.methods, default=None, metavar="M",
                        help=f"forgery methods (default: all of {', '.join(taxonomy.methods_of('paper'))})")
    parser.add_argument("--configs", nargs="+", choices=taxonomy.config_choices, default=None, metavar="C",
                        help=f"generative configurations (default: all of {', '.join(taxonomy.configs)})")
    parser.add_argument("--artifact-strength", type=non_negative_float, default=_DEFAULT.artifact_strength,
                        metavar="X", help="scale of every forgery artefact; 0 renders fakes like reals "
                        "(default: %(default)s)")
    parser.add_argument("--crf", type=int, default=_DEFAULT.crf, choices=range(52), metavar="N",
                        help="H.264 CRF of the raw versions; 0 is lossless (default: %(default)s)")
    parser.set_defaults(func=_run)


def parse_size(text: str) -> tuple[int, int]:
    """``"128x96"`` -> ``(128, 96)``, (height, width); H.264 yuv420p needs even sides of at least 16."""
    return size_type(text, minimum=16, even=True)


def _frames(text: str) -> int:
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"need at least 2 frames for any motion, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def config_from_args(args: argparse.Namespace) -> SynthConfig:
    height, width = args.size
    return SynthConfig(sources=args.sources, frames=args.frames, fps=args.fps, width=width, height=height,
                       seed=args.seed, methods=tuple(args.methods) if args.methods else None,
                       configs=tuple(args.configs) if args.configs else None, crf=args.crf,
                       artifact_strength=args.artifact_strength)


def _run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    existing = sum((args.root / r.path).exists() for r in plan_videos(config))
    records = synthesize(args.root, config, workers=args.workers, progress=args.progress)
    labels = Counter(r.label for r in records)
    splits = Counter(r.split for r in records if r.label == "real")
    taxonomy = load_taxonomy(root=args.root)
    manifest = args.root / taxonomy.layout.manifest
    splits_of = source_splits(config, taxonomy)
    lone = [source_id(i) for i in range(config.sources) if cross_partner(i, splits_of) is None]
    note = ""
    if lone and any(taxonomy.canonical_config(c) == MISMATCH for c in config.configs or taxonomy.configs):
        note = f"; no {MISMATCH} fakes for {', '.join(lone)} (alone in their split; use --sources 6 or more)"
    print(f"synth {args.root}: {len(records) - existing} videos written, {existing} already there "
          f"({labels['real']} real, {labels['fake']} fake; {config.frames} frames at {config.fps:g} fps, "
          f"{config.height}x{config.width} (HxW), seed {config.seed}); sources per split: "
          f"{', '.join(f'{s} {splits[s]}' for s in taxonomy.splits)}{note}; manifest: {manifest}")
    return 0
