"""``schedy status``: show an experiment's status, or mark it DONE (stop handing out jobs) or RUNNING again."""

from __future__ import annotations

import argparse
import sys

from schedy import Experiment
from schedy.cli.common import connect

__all__ = ["add_parsers", "cmd_status"]


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``status``."""
    parser = subparsers.add_parser(
        "status",
        help="Show an experiment's status, or mark it DONE or RUNNING.",
        description="Without STATUS, print the experiment's status. DONE stops handing out jobs (running "
        "jobs finish, and the workers' loops end); RUNNING hands them out again.",
        epilog="Examples: schedy status MNIST DONE; schedy status MNIST RUNNING",
    )
    parser.add_argument("experiment", metavar="EXPERIMENT", help="Name of the experiment.")
    parser.add_argument(
        "status",
        nargs="?",
        type=str.upper,
        choices=(Experiment.DONE, Experiment.RUNNING),
        metavar="STATUS",
        help="DONE or RUNNING (any case).",
    )
    parser.set_defaults(func=cmd_status)


def cmd_status(args: argparse.Namespace) -> None:
    """Print or change the experiment's status."""
    with connect(args) as db:
        exp = db.get_experiment(args.experiment)
        if args.status is None:
            print(exp.status)
            return
        before = exp.status
        exp.status = args.status
        exp.push_updates()
    change = "already" if before == args.status else f"was {before}, now"
    print(f"Experiment {args.experiment!r}: {change} {args.status}.", file=sys.stderr)
