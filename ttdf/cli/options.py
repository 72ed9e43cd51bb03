"""Options shared by every command (root, filters, workers, output format), declared once."""
from __future__ import annotations

import argparse
import importlib
import csv
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ttdf.errors import TTDFError
from ttdf.records import VideoFilter
from ttdf.shard import NO_SHARD, parse_shard
from ttdf.taxonomy import load_taxonomy

DEFAULT_ROOT_ENV = "TTDF_ROOT"
DEFAULT_ROOT = "data/tt-df"


def root_options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--root", type=Path, default=Path(os.environ.get(DEFAULT_ROOT_ENV, DEFAULT_ROOT)),
                        help=f"dataset root (default: ${DEFAULT_ROOT_ENV} or ./{DEFAULT_ROOT})")
    return parser


def filter_options() -> argparse.ArgumentParser:
    """--method/--config filter fake videos only (real ones have neither); add --label to narrow."""
    taxonomy = load_taxonomy()
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("selection (repeatable; default: everything)")
    # no argparse choices: a root may register more methods (<root>/.ttdf/taxonomy.json); filter_from_args checks
    group.add_argument("--method", nargs="+", default=[], metavar="M",
                       help=f"forgery method(s): {', '.join(taxonomy.methods)} or one the root registered")
    group.add_argument("--config", nargs="+", default=[], choices=taxonomy.config_choices, metavar="C",
                       help=f"generative configuration(s): {', '.join(taxonomy.configs)}")
    group.add_argument("--compression", nargs="+", default=[], metavar="Q",
                       help=f"compression level(s): {', '.join(taxonomy.compressions)} or crfN")
    group.add_argument("--split", nargs="+", default=[], choices=taxonomy.splits, metavar="S",
                       help=f"split(s): {', '.join(taxonomy.splits)}")
    group.add_argument("--label", nargs="+", default=[], choices=taxonomy.labels, metavar="L",
                       help=f"label(s): {', '.join(taxonomy.labels)}")
    return parser


def filter_from_args(args: argparse.Namespace) -> VideoFilter:
    return VideoFilter(methods=tuple(args.method), configs=tuple(args.config), compressions=tuple(args.compression),
                       splits=tuple(args.split), labels=tuple(args.label)
                       ).validate(load_taxonomy(root=getattr(args, "root", None)))


def workers_options(default: int | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--workers", type=positive_int, default=default or min(4, os.cpu_count() or 1),
                        help="parallel worker processes (default: %(default)s)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")
    return parser


def shard_options() -> argparse.ArgumentParser:
    """--shard i/n: one machine's share of a batch job (see :mod:`ttdf.shard`); index, compress, flow, forge."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--shard", type=shard_type, default=NO_SHARD, metavar="i/n",
                        help="process only every n-th item (sorted by path) starting at i (0-based), e.g. 0/2 "
                             "and 1/2 on two machines sharing the root (default: all)")
    return parser


# the closing sentence of a --help for commands whose shards write outputs (compress, forge)
SHARD_OUTPUTS_HELP = ("With --shard, outputs are registered in <root>/.ttdf/shards/ instead, and `ttdf index` (without "
                      "--shard, once every shard is done) adds them to the manifest and index.")


def print_shard_hint(args: argparse.Namespace) -> None:
    """After a sharded run that wrote outputs: where they are registered and the one merge step left."""
    index, count = args.shard
    if count > 1:
        print(f"shard {index}/{count}: outputs are registered in <root>/.ttdf/shards/; run `ttdf index "
              f"--root {args.root}` (without --shard) once every shard is done")


def shard_type(text: str) -> tuple[int, int]:
    """argparse type for ``i/n`` (:func:`ttdf.shard.parse_shard`)."""
    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def format_options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    return parser


def positive_int(text: str) -> int:
    return _int_at_least(text, 1, "a positive integer")


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def share_type(text: str) -> float:
    """A number from 0 to 1 (argparse type)."""
    value = non_negative_float(text)
    if value > 1.0:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    return _int_at_least(text, 0, "a whole number >= 0")


def _int_at_least(text: str, least: int, expected: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def print_rows(rows: Sequence[dict], fmt: str, *, columns: Sequence[str] | None = None, file=None) -> None:
    """Print dict rows as an aligned table, JSON or CSV."""
    file = file or sys.stdout
    columns = list(columns or (rows[0].keys() if rows else []))
    if fmt == "json":
        json.dump([{c: r.get(c) for c in columns} for r in rows], file, indent=2, default=str)
        file.write("\n")
    elif fmt == "csv":
        writer = csv.DictWriter(file, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        cells = [[_cell(r.get(c)) for c in columns] for r in rows]
        widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
        print("  ".join(c.ljust(w) for c, w in zip(columns, widths)), file=file)
        for row in cells:
            print("  ".join(v.ljust(w) for v, w in zip(row, widths)), file=file)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def run_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse, run ``args.func(args)`` and turn user-fixable errors into one line on stderr."""
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int | None] = args.func
    try:
        code = int(func(args) or 0)
        sys.stdout.flush()  # a closed pipe (`ttdf ls | head`) shows up here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        # NOTE: stdout's reader is gone (`| head`): stop quietly, like any Unix filter, and keep Python's exit
        # flush from raising again (https://docs.python.org/3/library/signal.html#note-on-sigpipe).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a filter stopped by a closed pipe
    except TTDFError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; finished work is kept, rerun the same command to resume", file=sys.stderr)
        return 130


def size_type(text: str, *, minimum: int = 8, even: bool = False) -> tuple[int, int]:
    """Parse ``HxW`` into (height, width): every ``--size`` of ttdf and tofnet means height x width."""
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 112x112, got {text!r}") from None
    if height < minimum or width < minimum:
        raise argparse.ArgumentTypeError(f"size {text!r} (HEIGHTxWIDTH) is too small: both sides must be at "
                                         f"least {minimum}")
    if even and (height % 2 or width % 2):
        raise argparse.ArgumentTypeError(f"size {text!r} (HEIGHTxWIDTH) needs even sides (H.264 yuv420p), "
                                         "e.g. 128x96")
    return height, width


def build_cli(prog: str, description: str, package: str, modules: Sequence[str]) -> argparse.ArgumentParser:
    """One parser whose subcommands come from ``<package>.<module>.register(subparsers)``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in modules:
        importlib.import_module(f"{package}.{name}").register(sub)
    return parser
