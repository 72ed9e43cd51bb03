"""``ttdf``: the dataset manager's command line, a thin layer over the library.

Each subject has its own module here with a ``register(subparsers)`` function; every command
calls one library function. Errors the user can fix print as one line, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ttdf.cli.options import run_command

COMMAND_MODULES = ("synth", "download", "importing", "index", "query", "verify", "compress")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ttdf", description="TT-DF dataset manager: download, import, index, "
                                     "verify, compress, summarise and synthesise TT-DF-shaped datasets.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"ttdf.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
