"""``tofnet``: optical flow, training, evaluation and prediction from the command line.

A thin layer over the library, sharing ``ttdf``'s option definitions (root, filters, workers).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ttdf.cli.options import build_cli, run_command

DESCRIPTION = ("TOF-Net body-forgery detection: optical flow, training, held-out-method evaluation "
               "and prediction.")
COMMAND_MODULES = ("flow", "train", "evaluate", "calibrate", "loo", "benchmark", "predict")


def build_parser() -> argparse.ArgumentParser:
    return build_cli("tofnet", DESCRIPTION, "tofnet.cli", COMMAND_MODULES)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
