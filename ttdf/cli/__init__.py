"""``ttdf``: the dataset manager's command line, a thin layer over the library.

Each subject has its own module here with a ``register(subparsers)`` function; every command
calls one library function. Errors the user can fix print as one line, never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ttdf.cli.options import build_cli, run_command

DESCRIPTION = ("TT-DF dataset manager: download, import, index, verify, compress, summarise and "
               "synthesise or forge TT-DF-shaped datasets.")
COMMAND_MODULES = ("synth", "forge", "download", "importing", "index", "query", "verify", "compress")


def build_parser() -> argparse.ArgumentParser:
    return build_cli("ttdf", DESCRIPTION, "ttdf.cli", COMMAND_MODULES)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
