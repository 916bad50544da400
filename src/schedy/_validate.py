"""Small checks shared by the wire-definition modules (random, pbt)."""

from __future__ import annotations

import math
from typing import Any

from schedy import _encoding
from schedy.errors import DefinitionError

#: How many characters of a value an error message shows (sent values can be megabytes long).
SHOWN_CHARACTERS = 60


def shown(value: Any) -> str:
    """``repr(value)``, cut to :data:`SHOWN_CHARACTERS` with an ellipsis: a value quoted in an error message."""
    try:
        text = repr(value)
    except ValueError:  # an integer past Python's limit on digits (4300)
        return "an integer of thousands of digits"
    return text if len(text) <= SHOWN_CHARACTERS else text[: SHOWN_CHARACTERS - 1] + "…"


def finite_number(value: Any, what: str) -> float:
    """Return ``value`` as a float, or raise if it is not a finite number.

    Booleans are refused even though Python counts them as integers: a
    ``true`` where a bound was expected is always a mistake. numpy scalars,
    0-d tensors and other real numbers are taken as the number they hold,
    as in a job's results.
    """
    plain = _encoding.as_plain(value)
    if isinstance(plain, bool) or not isinstance(plain, (int, float)):
        raise DefinitionError(f"{what} must be a number, got {shown(value)}.")
    try:
        number = float(plain)
    except OverflowError:  # an integer past a float's range
        number = math.inf
    if not math.isfinite(number):
        raise DefinitionError(f"{what} must be a finite number (at most 1.8e308 in magnitude), got {shown(value)}.")
    return number


def plain_json(value: Any, what: str) -> Any:
    """``value`` as the service stores it (numpy values, tensors and other numbers as plain ints and floats).

    Raises:
        schedy.errors.DefinitionError: naming ``what``, for a value JSON cannot hold (an object, a function).

    """
    try:
        return _encoding.plain_json(value)
    except (TypeError, ValueError) as exc:
        raise DefinitionError(f"{what} must be JSON values (numbers, strings, lists…): {exc}") from None


def finite_json(value: Any, what: str) -> Any:
    """``value`` as :func:`plain_json` returns it, if it holds no NaN or infinite number, else raise.

    A hyperparameter must be a number a training script can use: a NaN or
    an infinity given in a definition would be handed out to every job; and
    a value JSON cannot hold (an object, a function) could not be sent at all.
    """
    value = plain_json(value, what)
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise DefinitionError(f"{what} must hold finite numbers only, got {shown(item)}.")
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return value


#: An example name of each kind, for :func:`empty_name`.
_EXAMPLE_NAMES = {"hyperparameter": "lr", "result": "loss"}


def empty_name(what: str) -> str:
    """The sentence refusing an empty ``what`` name (``"hyperparameter"``, ``"result"``), client and service alike.

    An empty name is stored, listed and exported as an empty field (``schedy list`` shows ``, .``); no
    search, plot or ``%{NAME}`` can refer to it.
    """
    return f"{what.capitalize()} names must not be empty: name each {what} (e.g. {_EXAMPLE_NAMES.get(what, 'x')})."


def check_names(names: Any, what: str) -> None:
    """Refuse an empty name among ``names`` (a mapping's keys) with :func:`empty_name`.

    Raises:
        schedy.errors.DefinitionError: one of ``names`` is the empty string.

    """
    if "" in names:
        raise DefinitionError(empty_name(what))


#: The largest step of a report (the service keeps steps in 64-bit integers, with room to spare).
MAX_STEP = 2**62 - 1


def report_step(step: Any) -> int | None:
    """``step`` as a plain int if it is a report's step (an integer from 0 to :data:`MAX_STEP`), else ``None``.

    Any integer type is taken (numpy's, a 0-d integer tensor's), not a boolean.
    """
    plain = _encoding.as_plain(step)
    if isinstance(plain, bool) or not isinstance(plain, int) or not 0 <= plain <= MAX_STEP:
        return None
    return int(plain)


def bad_step(step: Any) -> str:
    """The sentence refusing ``step`` as a report's step, the same in the client and in the service."""
    return f"A report needs a non-negative integer step (e.g. the epoch) of at most {MAX_STEP}, not {shown(step)}."


def single_key(obj: Any, what: str) -> tuple[str, Any]:
    """Return the only ``(key, value)`` of a one-key object like ``{"uniform": …}``."""
    if not isinstance(obj, dict) or len(obj) != 1:
        raise DefinitionError(f"{what} must be an object with exactly one key, got {shown(obj)}.")
    ((key, value),) = obj.items()
    return str(key), value


def exact_keys(obj: Any, required: set[str], optional: set[str], what: str) -> dict[str, Any]:
    """Check that ``obj`` is an object with the required keys and no unknown ones."""
    if not isinstance(obj, dict):
        raise DefinitionError(f"{what} must be an object, got {shown(obj)}.")
    missing = sorted(required - obj.keys())
    if missing:
        raise DefinitionError(f"{what} is missing {', '.join(map(repr, missing))}.")
    unknown = sorted(obj.keys() - required - optional)
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise DefinitionError(f"{what} has unknown key(s) {', '.join(map(shown, unknown))}; allowed: {allowed}.")
    return obj
