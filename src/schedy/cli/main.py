"""Entry point of the ``schedy`` console script."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from schedy.cli import admin
from schedy.errors import SchedyError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(prog="schedy", description="Schedy: experiments and hyperparameter search.")
    parser.add_argument("--config", help="Client configuration file (default ~/.schedy/client.json).")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    admin.add_parsers(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors print one line and exit non-zero."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except SchedyError as exc:
        print(f"schedy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
