"""The ``tfstyle`` command line: one subcommand per module in ``tfstyle.commands``.

Subcommands import TensorFlow only when they run, so ``tfstyle --help`` is instant, and every
``TfstyleError`` becomes one line on stderr with exit code 2 instead of a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tfstyle.errors import guarded

COMMANDS = ("stylize", "optimize", "evaluate", "demo", "serve", "video", "dataset")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfstyle", description="Neural style transfer with TensorFlow.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"tfstyle.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return guarded("tfstyle", lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
