"""``schedy set``: change the options of an existing experiment (budget, early stopping, seed, retries, run time).

``schedy add`` sets them when the experiment is created; ``set`` changes
them later, e.g. to give a promising search a larger budget. An option not
named keeps its value; ``none`` unsets one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from schedy import Experiment, SchedyDB
from schedy.cli.add import parse_policy_arg
from schedy.cli.common import UsageError, connect, max_jobs_arg, non_negative_int, run_time, seed_arg
from schedy.cli.experiments import status_counts_created
from schedy.cli.views import policy_text
from schedy.errors import DefinitionError
from schedy.stopping import check_objective

__all__ = ["add_parsers", "cmd_set"]

_T = TypeVar("_T")

#: The options ``set`` changes: the experiment's attribute (the flag's dest) → its name when printed.
_OPTIONS = {
    "max_jobs": "max jobs",
    "early_stopping": "early stopping",
    "seed": "seed",
    "max_retries": "max retries",
    "max_run_time": "max run time",
}


def _or_none(parse: Callable[[str], _T]) -> Callable[[str], _T | None]:
    """An argparse type that also takes ``none`` (unset the option), and says so when it refuses a value."""

    def parse_or_none(text: str) -> _T | None:
        if text.strip().lower() == "none":
            return None
        try:
            return parse(text)
        except argparse.ArgumentTypeError as exc:  # "must be a positive integer, got 0": "… or none, got 0"
            message = str(exc).replace("must not be negative", "must be a non-negative integer")
            said, _, got = message.rpartition(", got ")
            raise argparse.ArgumentTypeError(f"{said} or none, got {got}" if said else message) from None

    parse_or_none.__name__ = parse.__name__  # argparse names the type in its "invalid … value" message
    return parse_or_none


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``set``."""
    parser = subparsers.add_parser(
        "set",
        help="Change an experiment's options: budget, early stopping, seed, retries, run time.",
        description="Change the options of an existing experiment; those not named keep their values, and "
        "'none' unsets one. Jobs already created are not changed: the search's next decisions follow the "
        "new options.",
        epilog="Examples: schedy set MNIST --max-jobs 300; schedy set MNIST --early-stopping "
        "asha:val_loss:min:min_step=3; schedy set MNIST --early-stopping none --max-retries 2",
    )
    parser.add_argument("experiment", metavar="EXPERIMENT", help="Name of the experiment.")
    suppress: dict[str, Any] = {"default": argparse.SUPPRESS}
    parser.add_argument(
        "--max-jobs",
        type=_or_none(max_jobs_arg),
        metavar="N|none",
        help="Budget: the search creates at most N jobs in all (those it created so far count).",
        **suppress,
    )
    parser.add_argument(
        "--early-stopping",
        type=_or_none(str),
        metavar="POLICY|none",
        help="Stop hopeless jobs from their reports, as for 'schedy add' (e.g. asha:val_loss:min:max_step=27); "
        "reports already sent are judged by the new policy from its next report on.",
        **suppress,
    )
    parser.add_argument(
        "--seed", type=_or_none(seed_arg), metavar="N|none", help="Seed the search's decisions.", **suppress
    )
    parser.add_argument(
        "--max-retries",
        type=_or_none(non_negative_int),
        metavar="N|none",
        help="Try a crashed job again up to N times (none: never).",
        **suppress,
    )
    parser.add_argument(
        "--max-run-time",
        type=_or_none(run_time),
        metavar="SECONDS|none",
        help="End a job CRASHED after SECONDS RUNNING when its worker sends no heartbeats.",
        **suppress,
    )
    parser.set_defaults(func=cmd_set)


def _shown(exp: Experiment, attribute: str) -> str:
    value = getattr(exp, attribute)
    if value is None:
        return "none"
    if attribute == "early_stopping":
        return policy_text(value)  # as --early-stopping takes it and `schedy show` prints it
    return f"{value}s" if attribute == "max_run_time" else str(value)


def cmd_set(args: argparse.Namespace) -> None:
    """Apply the options given to the experiment and say what changed (on stderr)."""
    given = {name: getattr(args, name) for name in _OPTIONS if hasattr(args, name)}
    if not given:
        raise UsageError(
            "Name at least one option to change, e.g. 'schedy set EXPERIMENT --max-jobs 300' "
            "('schedy set --help' lists them)."
        )
    try:
        if given.get("early_stopping") is not None:  # checked before anything is sent
            given["early_stopping"] = parse_policy_arg(given["early_stopping"])
        with connect(args) as db:
            exp = db.get_experiment(args.experiment)
            # The service's rule, checked against the search just read so that nothing is sent if it fails.
            check_objective(given.get("early_stopping"), exp._search_objective(), type(exp).__name__)
            before = {name: _shown(exp, name) for name in given}
            for name, value in given.items():
                setattr(exp, name, value)
            exp.push_updates()
            after = db.get_experiment(args.experiment)
            notice = _budget_notice(db, args.experiment, after) if "max_jobs" in given else None
    except DefinitionError as exc:
        raise UsageError(str(exc)) from None
    for name in given:
        now = _shown(after, name)
        change = f"already {now}" if before[name] == now else f"{before[name]} → {now}"
        print(f"Experiment {args.experiment!r}: {_OPTIONS[name]} {change}.", file=sys.stderr)
    if notice:
        print(notice, file=sys.stderr)


def _budget_notice(db: SchedyDB, name: str, after: Experiment) -> str | None:
    """What a new budget means for the search: DONE (spent or paused), spent with jobs left to end, or nothing.

    The service ends a search whose budget the change spent in the same request (nothing queued or running),
    so the experiment read after it already says DONE.
    """
    limit = after.max_jobs
    if limit is None and after.status != Experiment.DONE:
        return None
    status, counts, created = status_counts_created(db, name)
    spent = limit is not None and created is not None and created >= limit
    if status == Experiment.DONE and spent:
        return (
            f"It is DONE: its search made {created} jobs, so the budget of {limit} is spent and it hands out no "
            f"job (a larger --max-jobs, then 'schedy status {name} RUNNING', goes on with the search)."
        )
    if status == Experiment.DONE:
        return f"It is DONE, so it hands out no job: 'schedy status {name} RUNNING' goes on with the search."
    if spent:
        busy = sum((counts or {}).get(s, 0) for s in ("QUEUED", "RUNNING"))
        left = " at its next claim"
        if busy:
            left = " once its job queued or running ends"
            if busy > 1:
                left = f" once its {busy} queued or running jobs end"
        return f"Its budget is spent ({created} of {limit} jobs made): it hands out no new job and becomes DONE{left}."
    return None
