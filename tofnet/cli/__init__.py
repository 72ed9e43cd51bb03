"""``tofnet``: optical flow, training, evaluation and prediction from the command line.

A thin layer over the library, sharing ``ttdf``'s option definitions (root, filters, workers).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ttdf.cli.options import run_command

COMMAND_MODULES = ("flow", "train", "evaluate", "loo", "predict")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tofnet", description="TOF-Net body-forgery detection: optical flow, "
                                     "training, held-out-method evaluation and prediction.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"tofnet.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
