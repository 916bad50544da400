"""The compact, columnar JSON of an experiment's jobs that the dashboard loads.

One array per field instead of one object per job: 100k jobs travel as a
few megabytes and parse in one ``JSON.parse``; for a full load the database
itself concatenates each array. Hyperparameters and results
are the stored JSON texts spliced in unparsed, except the few holding NaN
or ±Infinity: browsers' JSON has no such numbers, so those are sent as the
strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``, which the page shows
as they are and ranks as non-finite. Times are seconds after ``t0`` (the
experiment's creation), rounded to milliseconds.

A full answer is one JSON text in lines, so a reader can parse each line as
it arrives (the dashboard does): :func:`head` (``{HEADER…,"jobs":{``), one
:func:`group` of fields per line, each but the last ending with a comma,
then :func:`tail` (``},"nonFinite":[…]}``). The lines hold no other
newline: JSON texts escape theirs. The results of jobs holding NaN or
±Infinity are ``null`` in the groups' arrays and follow in
``"nonFinite"``: ``[[pk, results], …]``, with the non-finite numbers as
strings.

The table's downloads need more: a text ``"NaN"`` apart from the number, and
each job as ``schedy export`` has it. :func:`exact_record` sends a job's wire
JSON with its non-finite numbers as strings too, and lists where they are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from schedy.server.wire import dumps

# Field name on the wire → position in schedy.server.store.stats.COLUMNS.
_PLAIN = {
    "pk": 0, "id": 1, "status": 2, "worker": 3, "member": 4, "generation": 5, "parent": 6, "attempt": 7,
    "created": 8, "started": 9, "finished": 10,
}
_HYPERPARAMETERS, _RESULTS = 11, 12
_WIDTH = 13


def browser_json(text: str) -> str:
    """A stored JSON text with its non-finite numbers turned into strings ``"NaN"``, ``"Infinity"``…."""
    if "NaN" not in text and "Infinity" not in text:
        return text
    return dumps(json.loads(text, parse_constant=str))


class _NonFinite(str):
    """A non-finite number of a stored JSON text, as the string of its token (``NaN``, ``Infinity``…)."""

    __slots__ = ()


def _non_finite_paths(value: Any, path: list[str | int], found: list[list[str | int]]) -> None:
    if isinstance(value, _NonFinite):
        found.append(path)
    elif isinstance(value, dict):
        for key, item in value.items():
            _non_finite_paths(item, [*path, key], found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _non_finite_paths(item, [*path, index], found)


def exact_record(text: str) -> str:
    """A job's wire JSON (an object) for the page's downloads: unchanged when it holds no NaN or ±Infinity.

    Else its non-finite numbers become the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (as
    :func:`browser_json` has them) and ``"nonFinite"`` lists where they are, each a path of keys and
    indexes (``["results", "loss"]``, ``["results", "curve", 2]``): a text ``"NaN"`` is not listed, so
    the page tells it from the number.
    """
    if "NaN" not in text and "Infinity" not in text:
        return text
    record = json.loads(text, parse_constant=_NonFinite)
    found: list[list[str | int]] = []
    _non_finite_paths(record, [], found)
    if found:
        record["nonFinite"] = found
    return dumps(record)


def head(header: dict[str, Any]) -> str:
    """The first line of a full answer: ``header`` then the opening of ``"jobs"`` (see the module docstring)."""
    return dumps(header)[:-1] + ',"jobs":{\n'


def group(texts: Mapping[str, str]) -> str:
    """One line of a full answer's ``"jobs"``: fields and their array texts (no newline inside)."""
    return ",".join(f'"{name}":{text}' for name, text in texts.items())


def tail(non_finite: Sequence[tuple[int, str]]) -> str:
    """The last line of a full answer: the end of ``"jobs"`` and ``"nonFinite"`` (see the module docstring)."""
    fixes = ",".join(f"[{pk},{browser_json(text)}]" for pk, text in non_finite)
    return '},"nonFinite":[' + fixes + "]}"


def render(header: dict[str, Any], rows: Sequence[Sequence[Any]]) -> str:
    """``header`` (plain JSON values) plus ``"jobs"``: the rows as one array per field."""
    transposed: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [() for _ in range(_WIDTH)]
    parts = [f'"{name}":{dumps(list(transposed[i]))}' for name, i in _PLAIN.items()]
    parts.append('"hyperparameters":[' + ",".join(map(browser_json, transposed[_HYPERPARAMETERS])) + "]")
    parts.append('"results":[' + ",".join(map(browser_json, transposed[_RESULTS])) + "]")
    return dumps(header)[:-1] + ',"jobs":{' + ",".join(parts) + "}}"
