"""What every command shares: its one-line errors, the connection, JSON arguments.

A command fails by raising :class:`CommandError` (exit 1) or
:class:`UsageError` (exit 2, like argparse's own usage errors); ``main``
prints either as one line, ``schedy: …``, on standard error. Every other
:class:`schedy.errors.SchedyError` (a refused request, a missing
configuration) is printed the same way and exits 1.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from schedy import _encoding
from schedy._config import load_config
from schedy._db import SchedyDB
from schedy._transport import RetryPolicy, Transport, reached_by_runner
from schedy._validate import empty_name
from schedy.errors import SchedyError

__all__ = [
    "CONFIG_OTHER_WAY",
    "NON_FINITE_CELLS",
    "MAX_RUN_TIME",
    "CommandError",
    "UsageError",
    "cell_value",
    "connect",
    "int_between",
    "is_nan",
    "is_number",
    "max_jobs_arg",
    "non_negative_int",
    "parse_json_arg",
    "parse_pairs",
    "positive_int",
    "read_json",
    "run_time",
    "seconds",
    "seed_arg",
    "to_json",
    "unsendable",
]

#: The CLI's way to name a configuration, where the library's messages suggest SchedyDB's arguments.
CONFIG_OTHER_WAY = "name a file with --config FILE (before the command)"

#: Attempts of a request that failed in transit, for commands a person waits on:
#: about half a second of retries instead of the library's minute.
INTERACTIVE_ATTEMPTS = 3


class CommandError(SchedyError):
    """A command failed in a way the user can fix; printed as one line, exit status 1."""

    exit_code = 1


class UsageError(CommandError):
    """The arguments are wrong (bad JSON, odd pairs…); printed as one line, exit status 2."""

    exit_code = 2


#: Why JSON nested too deeply for Python's parser (thousands of levels: a RecursionError) cannot be used.
_TOO_DEEP = (
    f"nests lists or dicts far more than {_encoding.MAX_NESTING} levels deep, which the service refuses: flatten it"
)


#: A run of digits longer than Python converts to an integer (``sys.get_int_max_str_digits()``, 4,300).
_TOO_MANY_DIGITS = re.compile(r"\d{4301,}")


def connect(args: argparse.Namespace, *, attempts: int = INTERACTIVE_ATTEMPTS, heartbeat: float = 30.0) -> SchedyDB:
    """The service the configuration names: ``--config FILE``, else the client's usual sources.

    Raises:
        schedy.errors.ConfigurationError: no configuration, or an invalid one.

    """
    config = load_config(args.config, other_way=CONFIG_OTHER_WAY)
    # A command run by `schedy run` (`schedy artifact put` saving a checkpoint) is a job's client, not a
    # person waiting: it rides out an outage for the default minute, as the runner does.
    retry = RetryPolicy() if reached_by_runner(config.root) else RetryPolicy(attempts=max(1, attempts))
    return SchedyDB(transport=Transport(config, retry=retry), heartbeat=heartbeat)


def parse_json_arg(text: str, what: str) -> Any:
    """Parse one command-line argument as JSON (``NaN`` and ``Infinity`` accepted).

    Raises:
        UsageError: naming ``what`` and showing the text.

    Example:
        >>> parse_json_arg("[64, 64]", "hyperparameter 'layers'")
        [64, 64]

    """
    try:
        return json.loads(text)
    except RecursionError:
        raise UsageError(f"The value of {what} {_TOO_DEEP}.") from None
    except ValueError as exc:
        digits = _TOO_MANY_DIGITS.search(text)
        if digits is not None and "integer string conversion" in str(exc):
            # Valid JSON, but more digits than Python converts (4,300): far past what the service takes.
            raise UsageError(
                f"The value of {what} cannot be sent: an integer of {len(digits.group())} digits is past a "
                "float's range (1.8e308), which the service refuses: send it as a float or a string."
            ) from None
        hint = " (quote strings twice: '\"relu\"')" if text[:1].isalpha() else ""
        raise UsageError(f"The value of {what} is not valid JSON{hint}: {_shortened(text, 200)} ({exc}).") from None


def read_json(text: str | bytes) -> Any:
    """:func:`json.loads` (``NaN`` and ``Infinity`` accepted), raising :class:`ValueError` for all it cannot read.

    Raises:
        ValueError: not JSON, or JSON nested so deeply that the parser gives up (a ``RecursionError`` from
            :func:`json.loads`, turned into a sentence).

    """
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(f"it {_TOO_DEEP}") from None


def unsendable(value: Any) -> str | None:
    """Why the client cannot send ``value`` to the service, or ``None`` if it can.

    The client's encoder (:func:`schedy._encoding.dumps`) refuses what the service would: an integer past
    a float's range (±1.8e308), lists and dicts nested more than 100 levels deep. A command checks its
    input with this before it sends anything, to say what is wrong in one line rather than fail midway.

    Example:
        >>> unsendable({"loss": 10**400}).split(",")[0]
        "an integer of 401 digits is past a float's range (1.8e308)"
        >>> unsendable({"loss": 0.5, "curve": [1, float("nan")]}) is None
        True

    """
    try:
        _encoding.dumps(value)
    except (TypeError, ValueError) as exc:
        text = str(exc).rstrip(".")
        return text[:1].lower() + text[1:]
    return None


def parse_pairs(items: Sequence[str] | None, what: str) -> dict[str, Any]:
    """``NAME VALUE NAME VALUE …`` → a dict, each value parsed as JSON.

    Raises:
        UsageError: an odd number of items, an empty name, a name given twice, or a value
            that is not JSON or that the service would refuse (:func:`unsendable`).

    Example:
        >>> parse_pairs(["lr", "0.01", "layers", "[64, 64]"], "hyperparameter")
        {'lr': 0.01, 'layers': [64, 64]}

    """
    if not items:
        return {}
    if len(items) % 2:
        raise UsageError(
            f"Give {what}s as NAME VALUE pairs; got {len(items)} word{'s' if len(items) != 1 else ''} "
            f"({' '.join(items)}), "
            f"so {items[-1]!r} has no value."
        )
    out: dict[str, Any] = {}
    for name, text in zip(items[::2], items[1::2], strict=True):
        if not name:
            raise UsageError(empty_name(what))
        if name in out:
            raise UsageError(f"The {what} {name!r} is given twice.")
        value = parse_json_arg(text, f"{what} {name!r}")
        refusal = unsendable({what: {name: value}})  # nested as it is sent, inside the job's hyperparameters…
        if refusal is not None:
            raise UsageError(f"The value of {what} {name!r} cannot be sent: {refusal}.")
        out[name] = value
    return out


#: CSV cells that stand for the non-finite floats (what pandas and Schedy's export write, and the wire's tokens).
NON_FINITE_CELLS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "NaN": math.nan, "Infinity": math.inf}


def cell_value(text: str) -> Any:
    """A CSV cell as the value it stands for: JSON when it parses, else the text; ``None`` when empty.

    Example:
        >>> cell_value("3"), cell_value("adam"), cell_value('"3"'), cell_value("nan"), cell_value("")
        (3, 'adam', '3', nan, None)

    """
    if text == "":
        return None
    if text in NON_FINITE_CELLS:
        return NON_FINITE_CELLS[text]
    try:
        return read_json(text)
    except ValueError:
        return text


def to_json(value: Any) -> str:
    """A value as one line of JSON (NaN and ±Infinity as the bare tokens the wire uses).

    Example:
        >>> to_json({"a": [1, 2.5], "b": float("nan")})
        '{"a": [1, 2.5], "b": NaN}'

    """
    return json.dumps(value, ensure_ascii=False, allow_nan=True)


def is_number(value: Any) -> bool:
    """Whether ``value`` is an int or float (a bool is not a number here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_nan(value: Any) -> bool:
    """Whether ``value`` is a float NaN."""
    return isinstance(value, float) and math.isnan(value)


def _shortened(text: str, limit: int = 40) -> str:
    """``text`` as a message quotes it: whole when short, else its start and its length."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}… ({len(text):,} characters)"


def int_between(low: int, high: int | None = None, *, high_text: str | None = None) -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` to ``high`` (no upper bound if ``None``).

    ``high_text`` says the upper bound in the message (e.g. ``below 2**63``) where its digits would not.

    Example:
        >>> int_between(0, 10)("7")
        7

    """

    def parse(text: str) -> int:
        digits = text.strip().lstrip("+-")
        try:
            value = int(text)
        except ValueError:
            if digits.isdigit():  # more digits than Python converts (4,300): past any bound
                value = -(10**100) if text.strip().startswith("-") else 10**100
            else:
                raise argparse.ArgumentTypeError(f"must be an integer, got {_shortened(text)}") from None
        if value < low or (high is not None and value > high):
            got = text.strip() if len(digits) <= 40 else f"a number of {len(digits):,} digits"
            if high is not None and low <= value:
                raise argparse.ArgumentTypeError(f"must be {high_text or f'at most {high}'}, got {got}")
            if high is not None and high_text is None:
                raise argparse.ArgumentTypeError(f"must be an integer from {low} to {high}, got {got}")
            if low == 1:
                raise argparse.ArgumentTypeError(f"must be a positive integer, got {got}")
            if low == 0:
                raise argparse.ArgumentTypeError(f"must not be negative, got {got}")
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {got}")
        return value

    parse.__name__ = "integer"
    return parse


#: ``--max-jobs`` of ``add`` and ``set``: a positive integer below 2**31, as the service stores it.
max_jobs_arg = int_between(1, 2**31 - 1, high_text="a positive integer below 2**31")
#: ``--seed``: a non-negative integer below 2**63, as the service stores it.
seed_arg = int_between(0, 2**63 - 1, high_text="a non-negative integer below 2**63")
#: The longest ``--max-run-time`` the service keeps, in seconds.
MAX_RUN_TIME = 10**9


def positive_int(text: str) -> int:
    """An argparse type: a positive integer."""
    value = non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be a positive integer, got 0")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: a non-negative integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {_shortened(text)}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def seconds(text: str) -> float | int:
    """An argparse type: a positive number of seconds (an int when whole)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {_shortened(text)}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return int(value) if value.is_integer() else value


def run_time(text: str) -> float | int:
    """An argparse type: ``--max-run-time``, a positive number of seconds up to :data:`MAX_RUN_TIME`."""
    value = seconds(text)
    if value > MAX_RUN_TIME:
        raise argparse.ArgumentTypeError(
            f"must be a positive number of seconds up to {MAX_RUN_TIME:,}, got {_shortened(text)}"
        )
    return value
