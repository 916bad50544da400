"""The compact, columnar JSON of an experiment's jobs that the dashboard loads.

One array per field instead of one object per job: 100k jobs travel as a
few megabytes and parse in one ``JSON.parse``; for a full load the database
itself concatenates each array. Hyperparameters and results
are the stored JSON texts spliced in unparsed, except the few holding NaN
or ±Infinity: browsers' JSON has no such numbers, so those are sent as the
strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``, which the page shows
as they are and ranks as non-finite. Times are seconds after ``t0`` (the
experiment's creation), rounded to milliseconds.
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


def render_texts(header: dict[str, Any], texts: Mapping[str, str], non_finite: Sequence[tuple[int, str]]) -> str:
    """``header`` plus ``"jobs"`` from arrays the database built (:func:`schedy.server.store.stats.column_texts`).

    The results of jobs holding NaN or ±Infinity are ``null`` in those
    arrays; they follow in ``"nonFinite"``: ``[[pk, results], …]``, with
    the non-finite numbers as strings.
    """
    fixes = ",".join(f"[{pk},{browser_json(text)}]" for pk, text in non_finite)
    body = ",".join(f'"{name}":{text}' for name, text in texts.items())
    return dumps(header)[:-1] + ',"jobs":{' + body + '},"nonFinite":[' + fixes + "]}"


def render(header: dict[str, Any], rows: Sequence[Sequence[Any]]) -> str:
    """``header`` (plain JSON values) plus ``"jobs"``: the rows as one array per field."""
    transposed: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [() for _ in range(_WIDTH)]
    parts = [f'"{name}":{dumps(list(transposed[i]))}' for name, i in _PLAIN.items()]
    parts.append('"hyperparameters":[' + ",".join(map(browser_json, transposed[_HYPERPARAMETERS])) + "]")
    parts.append('"results":[' + ",".join(map(browser_json, transposed[_RESULTS])) + "]")
    return dumps(header)[:-1] + ',"jobs":{' + ",".join(parts) + "}}"
