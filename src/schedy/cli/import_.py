"""``schedy import EXPERIMENT FILE``: add finished jobs from elsewhere, so a search learns from them (warm start).

Reads what ``schedy export`` writes (CSV with ``hyperparameters.NAME`` and
``results.NAME`` columns, or a JSON array of jobs) and JSON lines of the
same jobs, and the CSV of an Optuna study's ``study.trials_dataframe()``
(``params_NAME`` columns and ``value``, whose value becomes the result
named by ``--result``, by default the result the experiment ranks by;
``--result NAME=COLUMN`` reads it from another column, such as a
multi-objective study's ``values_0``). A file none of whose DONE rows has
the result a TPE or PBT search ranks by is refused, naming the columns
that may hold it: the search would rank them worst. Only finished jobs
are imported: DONE (or Optuna's COMPLETE; in any case) ones as DONE jobs,
which TPE counts in its model and PBT and grid searches see like any other,
and PRUNED ones (stopped early; Optuna's PRUNED) as PRUNED jobs, which TPE
ranks after every DONE job by the value they reached. Other rows (running,
queued, crashed, failed) are skipped and counted by status. Nothing is sent
unless the whole file reads and every row fits: its hyperparameters those
of a random, TPE or grid search, each a value the search could hand out,
and its job no larger than a request the service takes (1 MiB). The
columns not imported (an export's times, worker, attempt, note) are named
on one line.

An import can be run again: each job is created under an id taken from the
file (the ``id`` of an export's job; otherwise a hash of the row, and of its
position when the row has no Optuna ``number``) only if no job has it, so the
jobs a first run added, or an Optuna study's trials imported before it ran
more, are recognised and skipped, not added twice.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import json
import math
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from schedy import Experiment, GridSearch, Job, RandomSearch, TPESearch, _encoding
from schedy._search import value_key
from schedy._validate import SHOWN_CHARACTERS, empty_name
from schedy.cli.common import CommandError, UsageError, cell_value, connect, is_number, read_json, to_json, unsendable
from schedy.cli.export import _MANAGED
from schedy.cli.views import space_params
from schedy.errors import SchedyError, UnsafeUpdateError
from schedy.random import (
    Choice,
    Constant,
    Distribution,
    FlatParam,
    Integer,
    LogUniform,
    Normal,
    Uniform,
    active,
    space_mismatch,
)
from schedy.server.settings import Settings

__all__ = ["ImportedJob", "add_parsers", "cmd_import", "read_jobs", "typed"]


class ImportedJob(NamedTuple):
    """One finished job read from a file, status DONE or PRUNED, and where it is in the file."""

    job_id: str
    hyperparameters: dict[str, Any]
    results: dict[str, Any]
    status: str
    #: The row as an error names it, by its place in the file (skipped rows counted): ``Job 3``.
    where: str
    #: Whether ``job_id`` is the file's own (an export's ``id``), not a hash of the row (an Optuna trial's).
    own_id: bool = False


#: The largest request body the service takes (its default ``max_body_bytes``): a job over it is refused with 413.
_MAX_BODY = Settings.max_body_bytes

#: A file's statuses (ours, and Optuna's trial states) of the jobs imported, and what they become.
#: The longest CSV cell read (csv's own limit is 128 KiB): more than any value the service takes.
_MAX_CELL = 1 << 30
_FINISHED = {
    "DONE": "DONE",
    "COMPLETE": "DONE",
    "TRIALSTATE.COMPLETE": "DONE",
    "PRUNED": "PRUNED",
    "TRIALSTATE.PRUNED": "PRUNED",
}


def _finished(status: Any) -> str | None:
    """The status a file's row is imported with (``done``, ``Complete``: any case, as a hand-edited file has it).

    ``None``: the row is not a finished job, skipped.
    """
    return _FINISHED.get(status.strip().upper()) if isinstance(status, str) else None


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``import``."""
    parser = subparsers.add_parser(
        "import",
        help="Add finished jobs from a file (an export, JSON lines, or an Optuna study's CSV): a warm start.",
        description=__doc__.split("\n\n", 1)[1].replace("``", "'") if __doc__ else None,
    )
    parser.add_argument("experiment", metavar="EXPERIMENT")
    parser.add_argument("file", metavar="FILE", help="CSV, JSON (an array of jobs) or JSON lines; - for stdin.")
    parser.add_argument(
        "--result",
        metavar="NAME[=COLUMN]",
        help="The result an Optuna 'value' column becomes (default: the one the experiment ranks by, else "
        "'value'); NAME=COLUMN reads result NAME from another column instead: values_0 of a multi-objective "
        "study, user_attrs_acc, results.val_loss.",
    )
    parser.add_argument("--dry-run", action="store_true", help="Read the file and say what would be added.")
    parser.set_defaults(func=cmd_import)


def _row_id(given: Any, identity: Any, position: int | None) -> str:
    """The id a row's job is created under: the file's own id if it has one, else a hash of the row.

    ``identity`` is what tells the row apart; ``position`` (the row's number in the file) is hashed
    with it unless the row is an Optuna trial, whose number and start time are unique, so that two
    identical rows of one file are two jobs and a study's trials keep their ids when the study is
    exported again after running more (with columns it did not have before).
    """
    if isinstance(given, str) and given:
        return given
    text = json.dumps(identity, sort_keys=True, default=str) + ("" if position is None else f"#{position}")
    digest = hashlib.sha256(text.encode()).digest()
    return "imported-" + base64.urlsafe_b64encode(digest[:9]).decode()


def typed(text: str, where: Distribution | list[Any] | None) -> Any:
    """A CSV cell as the search declares its hyperparameter (:func:`_cell` otherwise), where a CSV loses the type.

    An integer written as a float (pandas writes ``2.0`` in a column with empty cells) is an integer
    for an ``Integer``; a choice's or grid's value is recognised by what the cell reads as (``3``, ``"3"``,
    ``true``, or an equal number: ``32.0`` for ``32``), else by its text (pandas writes ``True``, and
    ``1e-3`` for the string), and read as declared. The cell's own reading comes first: a choice of
    both ``"3"`` and ``3``, as ``schedy export`` writes them (``"3"`` quoted), keeps each its type.
    """
    value = cell_value(text)
    if isinstance(where, Integer):
        return int(value) if isinstance(value, float) and value.is_integer() else value
    values = where if isinstance(where, list) else where.values if isinstance(where, Choice) else None
    if isinstance(where, Constant):
        values = [where.value]
    key = value_key(value)
    for declared in values or ():
        if value_key(declared) == key:
            return declared
    for declared in values or ():
        if str(declared) == text or json.dumps(declared) == text:
            return declared
    return value


def _declares_none(dist: Distribution) -> bool:
    """Whether ``dist`` can take the value ``None`` (a choice of it, or the constant)."""
    if isinstance(dist, Choice):
        return any(value is None for value in dist.values)
    return isinstance(dist, Constant) and dist.value is None


def _nulls(hps: dict[str, Any], empty: set[str], space: Sequence[FlatParam]) -> None:
    """Read the empty cells of hyperparameters that can be ``None`` as ``None`` where they exist (in place).

    A CSV writes ``None`` as an empty cell (``schedy export`` and pandas both do), as it writes a hyperparameter
    a row does not have (a branch its choice did not take): an empty cell is ``None`` when the search declares
    ``None`` among the values and the hyperparameter exists for the row's choices, else it is absent.
    """
    while True:  # again after a choice read as None: it may open a branch of its own
        nulls = [
            param.name
            for param in active(space, hps)
            if param.name not in hps and param.name in empty and _declares_none(param.dist)
        ]
        if not nulls:
            return
        hps.update(dict.fromkeys(nulls))


def _csv_rows(columns: list[str], lines: Iterator[list[str]]) -> Iterator[dict[str, str]]:
    """Each row of a CSV as ``{column: cell}`` (as :class:`csv.DictReader`, blank lines skipped), all of it there.

    Raises:
        UsageError: a row with fewer cells than the header names, or with a value past its last column; it is no
            job but part of one, cut where a value held a line break outside double quotes (as earlier exports
            wrote a carriage return). Empty cells past the last column (a spreadsheet's trailing commas) lose
            nothing and are let through.

    """
    position = 0
    while True:
        try:
            cells = next(lines, None)
        except csv.Error as exc:  # e.g. a quote never closed
            raise UsageError(f"Row {position + 1} of the file is not CSV ({exc}); nothing was added.") from None
        if cells is None:
            return
        if not cells:
            continue
        position += 1
        if len(cells) < len(columns) or any(cells[len(columns) :]):
            raise UsageError(
                f"Row {position} of the file has {len(cells)} cells but its header names {len(columns)} columns "
                "(a value with a line break must be in double quotes); nothing was added."
            )
        yield dict(zip(columns, cells, strict=False))  # past the last column: empty cells


#: The columns of a CSV that may hold a job's result: an export's ``results.NAME``, an Optuna study's ``value``,
#: ``values_0``… (one per objective, or ``values_NAME`` once named) and ``user_attrs_NAME``.
_RESULT_COLUMNS = ("results.", "values_", "user_attrs_")


def _is_result_column(column: str) -> bool:
    return column == "value" or column.startswith(_RESULT_COLUMNS)


#: The columns of a CSV a job is made of besides its hyperparameters and results: its id, its status, and what
#: identifies an Optuna trial (hashed into its id). Any other column holding a value is not imported, and said.
_READ_COLUMNS = frozenset({"id", "status", "state", "number", "datetime_start"})
#: The keys of a JSON job that are imported; its other keys (``createdAt``, ``note``…) are not, and said.
_READ_KEYS = frozenset({"id", "status", "hyperparameters", "results"})
#: The service's fields of a job, as an export's CSV columns and JSON keys: the service sets them.
_SERVICE_FIELDS = frozenset(_MANAGED) | frozenset(_MANAGED.values())


def _skipped_status(status: Any) -> str:
    """A skipped row's status as the closing line counts it: ``CRASHED``, ``FAIL`` (Optuna's ``TrialState.FAIL``)."""
    text = str(status).removeprefix("TrialState.")
    return text if len(text) <= 40 else text[:39] + "…"


def _from_csv(
    rows: Iterator[dict[str, str]],
    result: tuple[str, str],
    exclusive: bool,
    space: Sequence[FlatParam],
    candidates: dict[str, None],
    ignored: dict[str, None],
) -> Iterator[ImportedJob | str]:
    """The rows as jobs, a skipped row as its status; ``exclusive``: result NAME is read from COLUMN only."""
    result_name, source = result
    declared = {param.name: param.dist for param in space}
    for position, row in enumerate(rows, start=1):
        given = row.get("status") or row.get("state") or "DONE"
        status = _finished(given)
        if status is None:
            yield _skipped_status(given)  # not finished: skipped
            continue
        hps: dict[str, Any] = {}
        results: dict[str, Any] = {}
        empty: set[str] = set()  # hyperparameters whose cell is empty
        for column, text in row.items():
            name = None
            if column.startswith(("hyperparameters.", "params_")) and column != source:
                name = column.split(".", 1)[1] if column.startswith("hyperparameters.") else column[len("params_") :]
            if text == "":  # a value the row does not have (or, from pandas, None: see _nulls)
                if name is not None:
                    empty.add(name)
                continue
            if name is not None:
                hps[name] = typed(text, declared.get(name))
                continue
            if column != source and not _is_result_column(column):  # its value is not needed: not read
                if column not in _READ_COLUMNS:
                    ignored[column] = None  # not imported
                continue
            value = cell_value(text)
            if status == "DONE" and _is_result_column(column) and is_number(value):
                candidates[column] = None
            key = column.removeprefix("results.")
            if column == source:
                results[result_name] = value
            # results.NAME is result NAME unless --result NAME=COLUMN reads it from COLUMN only (or `value` did).
            elif column.startswith("results.") and not (key == result_name and (exclusive or key in results)):
                results[key] = value
            elif column.startswith("results.") or column not in _READ_COLUMNS:
                ignored[column] = None  # not imported (a results.NAME: NAME is read from another column)
        _nulls(hps, empty, space)
        where = f"Job {position}"  # its place among the data rows, skipped ones counted
        if row.get("number"):  # an Optuna trial
            identity: Any = [row["number"], row.get("datetime_start"), hps]
            yield ImportedJob(_row_id(None, identity, None), hps, results, status, where)
        else:
            given_id = row.get("id")
            job_id = _row_id(given_id, [hps, results, status], position)
            yield ImportedJob(job_id, hps, results, status, where, own_id=bool(given_id))


def _from_objects(
    objects: Iterator[Any],
    result: tuple[str, str],
    exclusive: bool,
    candidates: dict[str, None],
    ignored: dict[str, None],
) -> Iterator[ImportedJob | str]:
    """The objects as jobs, a skipped one as its status; ``exclusive``: result NAME is read from COLUMN only."""
    result_name, source = result
    renamed = source.removeprefix("results.") if source.startswith("results.") else None
    for number, obj in enumerate(objects, start=1):
        # Both keys, as every job has (an export writes them for each): another object ({"a": 1}, a row of
        # something else) would be an empty DONE job.
        if not isinstance(obj, dict) or not isinstance(obj.get("hyperparameters"), dict) or "results" not in obj:
            raise UsageError(f"Job {number} of the file is not a job object with 'hyperparameters' and 'results'.")
        given = obj.get("status", "DONE")
        status = _finished(given)
        if status is None:
            yield _skipped_status(given)  # not finished: skipped
            continue
        results = obj["results"]
        if not isinstance(results, dict):
            raise UsageError(f"Job {number} of the file has 'results' that are not an object.")
        hps = dict(obj["hyperparameters"])
        if status == "DONE":
            candidates.update((f"results.{key}", None) for key, value in results.items() if is_number(value))
        ignored.update((key, None) for key, value in obj.items() if key not in _READ_KEYS and value is not None)
        if exclusive:  # --result NAME=results.OTHER: NAME is OTHER's value, and absent where OTHER is
            if result_name in results and renamed != result_name:
                ignored[f"results.{result_name}"] = None
            kept = {k: v for k, v in results.items() if k not in (renamed, result_name)}
            results = kept if renamed is None or renamed not in results else {**kept, result_name: results[renamed]}
        given_id = obj.get("id")
        own_id = isinstance(given_id, str) and bool(given_id)
        job_id = _row_id(given_id, [hps, results, status], number)
        yield ImportedJob(job_id, hps, dict(results), status, f"Job {number}", own_id=own_id)


def _has_column(objects: list[Any], source: str) -> bool:
    """Whether a JSON job of ``objects`` has the result ``source`` (``results.NAME``) names."""
    name = source.removeprefix("results.")
    return source.startswith("results.") and any(
        isinstance(obj, dict) and isinstance(obj.get("results"), dict) and name in obj["results"] for obj in objects
    )


def read_jobs(
    text: str,
    result: str | tuple[str, str],
    space: Sequence[FlatParam] = (),
    candidates: dict[str, None] | None = None,
    ignored: dict[str, None] | None = None,
) -> tuple[list[ImportedJob], dict[str, int]]:
    """The finished jobs of a file's text (CSV, JSON array or JSON lines), and how many rows were skipped, by status.

    ``result``: the result an Optuna CSV's ``value`` column becomes, or ``(NAME, COLUMN)``: the column read
    as result NAME (a CSV's ``values_0``, ``results.loss``; a JSON job's ``results.loss``), and only as it:
    a row without COLUMN has no NAME, even if it has a ``results.NAME`` of its own.
    ``space`` (:func:`~schedy.cli.views.space_params`): a CSV's values are read as its hyperparameters
    declare them (:func:`typed`), an empty cell as ``None`` where that is a declared value; ``null`` is
    ``None``; JSON keeps its types. ``candidates`` gets the columns that may hold a result
    (:data:`_RESULT_COLUMNS`, ``value``) and hold a number in a DONE row, in the order first seen;
    ``ignored`` the columns (a JSON job's keys) that hold a value in a finished row but are not imported.

    Raises:
        UsageError: the text is none of these, a row is not a job, or the file has no COLUMN.

    """
    named = (result, "value") if isinstance(result, str) else result
    exclusive = not isinstance(result, str)
    seen: dict[str, None] = {} if candidates is None else candidates
    unread: dict[str, None] = {} if ignored is None else ignored
    stripped = text.lstrip()
    objects: list[Any]
    if stripped.startswith("["):
        try:
            objects = read_json(stripped)
        except json.JSONDecodeError as exc:
            raise UsageError(f"The file looks like a JSON array but does not parse: {exc}.") from None
        except ValueError as exc:  # nested too deeply to read
            raise UsageError(f"The file cannot be imported: {exc}.") from None
    elif stripped.startswith("{"):
        objects = _json_objects(stripped)
    else:
        # newline="": a value in double quotes may hold line breaks, which only the csv module tells from ends of
        # rows. A cell may be as long as a value the service takes (a note, a long string), not only csv's 128 KiB.
        csv.field_size_limit(max(csv.field_size_limit(), _MAX_CELL))
        lines = csv.reader(io.StringIO(text, newline=""), strict=True)  # strict: a quote never closed is an error
        columns = next(lines, [])
        _refuse_reports(columns if {"job", "step"} <= set(columns) else None)
        dashboard = not any(c.startswith(("hyperparameters.", "params_")) for c in columns) and any(
            c.startswith("hp.") for c in columns
        )
        if dashboard:  # the dashboard's Download CSV of an earlier version: hp.NAME and res.NAME columns
            columns = [_dashboard_column(c) for c in columns]
            named = (named[0], _dashboard_column(named[1]))
        if not any(c.startswith(("hyperparameters.", "params_")) for c in columns):
            raise UsageError(
                "The file is neither JSON nor a CSV with hyperparameters.NAME (schedy export) or params_NAME "
                "(Optuna) columns."
            )
        if exclusive and named[1] not in columns:
            raise UsageError(f"The file has no column {named[1]!r} to read the result {named[0]!r} from.")
        rows = _csv_rows(columns, lines)
        return _split(_from_csv(_unneutralised(rows) if dashboard else rows, named, exclusive, space, seen, unread))
    if objects and isinstance(objects[0], dict) and "hyperparameters" not in objects[0]:
        _refuse_reports(list(objects[0]))
    if exclusive and not _has_column(objects, named[1]):
        raise UsageError(
            f"No job of the file has {named[1]!r} (results.NAME, for a JSON job) to read the result {named[0]!r} from."
        )
    return _split(_from_objects(iter(objects), named, exclusive, seen, unread))


#: The column prefixes of the dashboard's Download CSV before it wrote an export's (``hp.lr``: ``hyperparameters.lr``).
_DASHBOARD_COLUMNS = {"hp": "hyperparameters.", "res": "results."}
#: The first characters after which the dashboard's Download CSV adds an apostrophe (a spreadsheet formula's).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _dashboard_column(column: str) -> str:
    """A dashboard CSV's column as an export names it: ``hp.lr`` is ``hyperparameters.lr``, ``res.x`` ``results.x``."""
    prefix, dot, name = column.partition(".")
    return _DASHBOARD_COLUMNS[prefix] + name if dot and prefix in _DASHBOARD_COLUMNS else column


def _unneutralised(rows: Iterator[dict[str, str]]) -> Iterator[dict[str, str]]:
    """A dashboard CSV's rows with the apostrophe it puts before a text a spreadsheet would run (``'=x``) taken off."""
    for row in rows:
        yield {
            column: text[1:] if text.startswith("'") and text[1:].startswith(_FORMULA_STARTS) else text
            for column, text in row.items()
        }


def _json_objects(text: str) -> list[Any]:
    """The job objects of a file starting with ``{``: JSON lines, or one JSON document over several lines.

    A document is one job, or an object with a ``jobs`` array: the dashboard's Download JSON (NaN and ±Infinity
    the bare tokens, as export writes them; the indented download of earlier versions held them as the
    strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``, read back as numbers from such a file only).

    Raises:
        UsageError: neither JSON lines nor such a document (the document's own parse error when its first line
            is no JSON either).

    """
    try:
        document = read_json(text)
    except json.JSONDecodeError as exc:
        document, error = None, exc
    except ValueError as exc:  # nested too deeply to read
        where = "Line 1 of the file" if "\n" not in text.strip() else "The file"  # one line: JSON lines of one job
        raise UsageError(f"{where} cannot be imported: {exc}.") from None
    if isinstance(document, dict):
        jobs = document.get("jobs")
        if isinstance(jobs, list):
            return [_numbers_back(job) for job in jobs] if text.startswith(_INDENTED_DOWNLOAD) else jobs
        return [document]  # one job (JSON lines of one line, or one job written over several)
    objects = []
    # Lines end at "\n" only: JSON writes the other line breaks of a string escaped, except U+2028, U+2029
    # and U+0085, which str.splitlines() would take for ends of lines.
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            try:
                objects.append(read_json(line))
            except json.JSONDecodeError as exc:
                if number == 1:  # not JSON lines either: a document that does not parse, and where
                    raise UsageError(f"The file looks like a JSON object but does not parse: {error}.") from None
                raise UsageError(f"Line {number} of the file is not JSON: {exc}.") from None
            except ValueError as exc:  # nested too deeply to read
                raise UsageError(f"Line {number} of the file cannot be imported: {exc}.") from None
    return objects


#: How the dashboard's Download JSON of earlier versions began (``JSON.stringify(…, null, 1)``); the download
#: of this version is one line per job and holds a text "NaN" as a text.
_INDENTED_DOWNLOAD = '{\n "experiment": '
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _numbers_back(job: Any) -> Any:
    """A dashboard download's job with its results' ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` as the numbers."""

    def back(value: Any) -> Any:
        if isinstance(value, str):
            return _NON_FINITE.get(value, value)
        if isinstance(value, list):
            return [back(item) for item in value]
        if isinstance(value, dict):
            return {key: back(item) for key, item in value.items()}
        return value

    if isinstance(job, dict) and isinstance(job.get("results"), dict):
        return {**job, "results": back(job["results"])}
    return job


def _refuse_reports(columns: list[str] | None) -> None:
    """Refuse a file of intermediate reports (``schedy export --reports``), whose ``columns`` (or keys) are given.

    ``None``: not a reports file (no ``job`` and ``step``).

    Raises:
        UsageError: ``columns`` are a report's: ``job``, ``step``, and ``metrics`` or ``metrics.NAME`` (or
            ``time`` and no hyperparameter: the header only of an export of no report).

    """
    if columns is None:
        return
    metrics = any(c == "metrics" or c.startswith("metrics.") for c in columns)
    # An export of no report at all is its header only (job,attempt,step,time): a reports file still.
    header_only = {"job", "step", "time"} <= set(columns) and not any(
        c.startswith(("hyperparameters", "params_")) for c in columns
    )
    if not metrics and not header_only:
        return
    raise UsageError(
        "The file holds intermediate reports (schedy export --reports), not jobs: import the jobs' own export "
        "(schedy export EXPERIMENT, without --reports) instead; reports cannot be imported."
    )


def _split(read: Iterator[ImportedJob | str]) -> tuple[list[ImportedJob], dict[str, int]]:
    jobs: list[ImportedJob] = []
    skipped: dict[str, int] = {}
    for job in read:
        if isinstance(job, str):
            skipped[job] = skipped.get(job, 0) + 1
        else:
            jobs.append(job)
    return jobs, skipped


def _summary(jobs: list[ImportedJob], skipped: dict[str, int], name: str, present: int = 0) -> str:
    """``5 DONE and 7 PRUNED jobs to NAME`` (and the rows skipped, by status), for the closing line."""
    counts = {status: sum(1 for job in jobs if job.status == status) for status in ("DONE", "PRUNED")}
    parts = [f"{n} {status}" for status, n in counts.items() if n]
    text = (" and ".join(parts) + (" job" if len(jobs) == 1 else " jobs") if parts else "no job") + f" to {name}"
    notes = []
    if present:
        notes.append(f"{present} already there")
    if skipped:
        rows = sum(skipped.values())
        listed = [f"{n} {status}" for status, n in skipped.items()]
        listed = listed if len(listed) <= 4 else [*listed[:3], f"{sum(list(skipped.values())[3:])} other"]
        notes.append(f"{', '.join(listed[:-1])} and {listed[-1]}" if len(listed) > 1 else listed[0])
        notes[-1] += f" row{'s' if rows != 1 else ''} skipped"
    return text + (f" ({'; '.join(notes)})" if notes else "") + "."


def _result_arg(text: str | None) -> str | tuple[str, str] | None:
    """``--result NAME`` (what ``value`` becomes) or ``--result NAME=COLUMN``; ``None`` when not given.

    Raises:
        UsageError: a NAME or COLUMN left empty.

    """
    if text is None or "=" not in text:
        if text == "":
            raise UsageError("--result needs a result's name: --result NAME or --result NAME=COLUMN.")
        return text
    name, column = text.split("=", 1)
    if not name or not column:
        raise UsageError(f"--result {text}: give both the result's name and the column, e.g. --result loss=values_0.")
    return name, column


def _default_result(exp: Experiment) -> str:
    """The result an Optuna ``value`` becomes by default: the one the experiment declares, else ``value``."""
    declared = exp.declared_objective()
    return "value" if declared is None else declared[0]


def _check_results(
    exp: Experiment, jobs: list[ImportedJob], candidates: Sequence[str], source: str, dry_run: bool
) -> None:
    """Refuse a file none of whose DONE rows has the result the search ranks by; warn when some lack it.

    A TPE or PBT search ranks a DONE job without its result worst and steers away from its hyperparameters:
    imported so, a study's trials (a multi-objective one's ``values_0``, ``values_1``; an export of another
    result) would teach the search the opposite of what they found. An early-stopping policy's result
    (what :meth:`~schedy.Experiment.declared_objective` falls back on) only names the best job: warned.
    ``candidates``: the file's columns that may hold a result (:func:`read_jobs`), ``source`` the one read.

    Raises:
        CommandError: no DONE row has the result a TPE or PBT search ranks by.

    """
    declared = exp.declared_objective()
    if declared is None:
        return
    name = declared[0]
    done = [job for job in jobs if job.status == Job.DONE]
    # A value that is not a number (a string, null) the search cannot rank either: counted with the missing ones.
    lacking = sum(1 for job in done if not is_number(job.results.get(name)))
    if not lacking:
        return
    numberless = any(name in job.results and not is_number(job.results[name]) for job in done)
    what = f"number as {name!r}" if numberless else repr(name)
    if lacking < len(done):
        head = f"{lacking} of the file's {len(done)} DONE rows {'has' if lacking == 1 else 'have'} no {what}"
    elif len(done) == 1:
        head = f"The file's DONE row has no {what}"
    else:
        head = f"None of the file's {len(done)} DONE rows has {'a ' if numberless else ''}{what}"
    ranks = exp._search_objective() is not None
    if ranks:
        whose = f"the result {exp.name} ranks jobs by: its search would rank {'it' if lacking == 1 else 'them'} "
        whose += "worst and steer away from " + ("its" if lacking == 1 else "their") + " hyperparameters"
    else:
        whose = f"the result {exp.name}'s early-stopping policy judges by: {'it' if lacking == 1 else 'they'} "
        whose += "cannot be its best job"
    others = [column for column in candidates if column not in (source, f"results.{name}")]
    if others:
        hint = f"--result {name}=COLUMN reads it from a column of the file that may hold it ({', '.join(others)})"
    else:
        hint = "the file has no other column that may hold it (results.NAME, value, values_NAME, user_attrs_NAME)"
    if ranks and lacking == len(done):
        raise CommandError(f"{head}, {whose}; {hint}; nothing was added.")
    added = "would be added" if dry_run else "added"
    print(f"schedy: {head}, {whose} ({added} all the same); {hint}.", file=sys.stderr)


def _content(hps: dict[str, Any], results: dict[str, Any], status: str) -> str:
    """What a job holds, as one text two jobs holding the same share (NaN equal to NaN)."""
    return json.dumps([hps, results, status], sort_keys=True)


def _same(job: Job, hps: dict[str, Any], results: dict[str, Any], status: str) -> bool:
    """Whether a job holds what the row would have written (NaN equal to NaN)."""
    return _content(job.hyperparameters, job.results, job.status) == _content(hps, results, status)


#: Seconds an import sends jobs before it says on standard error how far it got, then between two such lines.
_PROGRESS_AFTER = 3.0
_PROGRESS_EVERY = 5.0


def _duration(seconds: float) -> str:
    """``40 s``, ``3 min``: how long the rest of an import should take, as its progress line says it."""
    return f"{max(1, round(seconds))} s" if seconds < 90 else f"{round(seconds / 60)} min"


class _Progress:
    """The lines saying how far a long import got, on standard error (nothing for one over in a few seconds).

    The first once the jobs have been sent for :data:`_PROGRESS_AFTER` seconds, then one every
    :data:`_PROGRESS_EVERY` seconds, on a terminal or not (as ``schedy database copy`` counts its artifact
    files): ``schedy: imported 23,000 of 100,000 jobs into big, about 70 s left…``.
    """

    def __init__(self, total: int, experiment: str) -> None:
        self.total = total
        self.experiment = experiment
        self.started = time.monotonic()
        self.due = self.started + _PROGRESS_AFTER

    def done(self, count: int, there: int) -> None:
        """``count`` of the jobs are in the experiment now, ``there`` of them were before."""
        now = time.monotonic()
        if now < self.due:
            return
        self.due = now + _PROGRESS_EVERY
        before = f" ({there:,} of them already there)" if there else ""
        left = self.total - count
        rate = count / max(now - self.started, 1e-9)
        eta = f", about {_duration(left / rate)} left" if left and rate > 0 else ""
        print(
            f"schedy: imported {count:,} of {self.total:,} jobs into {self.experiment}{before}{eta}…",
            file=sys.stderr,
            flush=True,
        )


def _add(exp: Experiment, job: ImportedJob, jobs: list[ImportedJob]) -> bool:
    """Create the row's job if no job has its id; ``False`` if the same job is there already.

    Raises:
        CommandError: a job with this id holds something else (:func:`_reimported`: rows without ids of
            their own, naming those of the file's ``jobs`` imported before; its text ends without a period).
        SchedyError: the service refused the job.

    """
    job_id, hps, results, status = job.job_id, job.hyperparameters, job.results, job.status
    try:
        Job(job_id, exp, hps, status, results).put(safe=True)  # If-None-Match: *
    except UnsafeUpdateError:
        if _same(exp.get_job(job_id), hps, results, status):
            return False
        if job.own_id:
            raise CommandError(
                f"A job '{job_id}' already exists in {exp.name} with other hyperparameters, results or status; "
                "remove the ids from the file to add its rows as new jobs."
            ) from None
        raise _reimported(exp, job, jobs) from None
    return True


class _Reimported(CommandError):
    """Rows without ids of their own were imported before with other results (:func:`_reimported`)."""


def _reimported(exp: Experiment, refused: ImportedJob, jobs: list[ImportedJob]) -> _Reimported:
    """The error for rows without ids of their own (an Optuna study's trials) imported before with other results.

    Their ids are hashes of the trial (its number, start time and hyperparameters), so that an import run
    again recognises them: the same trials imported before with another ``--result`` (or a status since
    changed) keep their ids and cannot be added again. The fix is to remove the jobs of that import, all
    named here (found in one read of the experiment's jobs), or to import into another experiment.
    """
    there = {job.job_id: job for job in exp.all_jobs()}
    clashing = [
        job.job_id
        for job in jobs
        if not job.own_id
        and job.job_id in there
        and not _same(there[job.job_id], job.hyperparameters, job.results, job.status)
    ] or [refused.job_id]
    shown = ", ".join(clashing[:5]) + (f" and {len(clashing) - 5} more" if len(clashing) > 5 else "")
    rows = "1 of the file's rows was" if len(clashing) == 1 else f"{len(clashing)} of the file's rows were"
    remove = f"schedy rm -f {shlex.quote(exp.name)} {clashing[0] if len(clashing) == 1 else 'JOB'}"
    each = "" if len(clashing) == 1 else " for each"
    return _Reimported(
        f"{rows} imported into {exp.name} before, with other results or status (as {shown}): remove "
        f"{'that job' if len(clashing) == 1 else 'those jobs'} ({remove}{each}) or import into another "
        "experiment"
    )


def _check_sendable(jobs: list[ImportedJob]) -> None:
    """Refuse the file, before anything is sent, if a row holds what the service refuses.

    Raises:
        CommandError: the first row with an empty hyperparameter or result name, holding an integer past a
            float's range, or lists or dicts nested
            more than 100 levels deep (:func:`~schedy.cli.common.unsendable`), or whose job is larger, as
            the request that creates it, than the service takes (:data:`_MAX_BODY`).

    """
    for job in jobs:
        for names, what in ((job.hyperparameters, "hyperparameter"), (job.results, "result")):
            if "" in names:  # a column "hyperparameters." or "results.", a JSON job's "" key: refused by the service
                raise CommandError(
                    f"{job.where} of the file cannot be sent: {empty_name(what)[:-1]}; nothing was added."
                )
        body = {"status": job.status, "hyperparameters": job.hyperparameters, "results": job.results}  # as sent
        try:
            size = len(_encoding.dumps(body))
        except (TypeError, ValueError):
            raise CommandError(
                f"{job.where} of the file cannot be sent: {unsendable(body)}; nothing was added."
            ) from None
        if size > _MAX_BODY:
            raise CommandError(
                f"{job.where} of the file cannot be sent: its job is {size:,} bytes of JSON, over the service's "
                f"limit of {_MAX_BODY:,} bytes a request (keep big data in files stored with the job: "
                "job.save_artifact); nothing was added."
            )


def _quoted(value: Any) -> str:
    """A value as an error names it: its JSON (``"3"`` for the string, ``3`` for the number), cut to size."""
    text = to_json(value)
    return text if len(text) <= SHOWN_CHARACTERS else text[: SHOWN_CHARACTERS - 1] + "…"


def _on_step(value: float, low: float, step: float) -> bool:
    """Whether ``value`` is ``low`` plus a whole number of ``step`` (to rounding: 0.30000000000000004 is 0.3)."""
    count = (value - low) / step
    return abs(count - round(count)) <= 1e-9 * max(1.0, abs(count))


def _allows(dist: Distribution, value: Any) -> str | None:
    """What ``dist`` allows, when ``value`` is not one of its values; ``None`` when it is.

    The values a search hands out: a number from ``low`` to ``high`` (either included) and on a step if it
    has one, an integer (``2.0`` for ``2`` too: JSON and pandas write integers so), one of a choice's values
    (an equal number: ``32.0`` for ``32``), the constant. A boolean is no number here.
    """
    if isinstance(dist, Choice | Constant):
        values = dist.values if isinstance(dist, Choice) else [dist.value]
        if value_key(value) in {value_key(declared) for declared in values}:
            return None
        listed = ", ".join(_quoted(declared) for declared in values[:10]) + (", …" if len(values) > 10 else "")
        return f"one of {listed}" if isinstance(dist, Choice) else f"only {listed}"
    number = float(value) if is_number(value) and abs(value) < 1.8e308 else math.nan  # NaN: no number allowed
    if isinstance(dist, Integer):
        steps = "" if dist.step == 1 else f" in steps of {dist.step}"
        if number.is_integer() and dist.low <= number <= dist.high and _on_step(number, dist.low, dist.step):
            return None
        return f"an integer from {dist.low} to {dist.high}{steps}"
    if isinstance(dist, Uniform | LogUniform):
        step = dist.step if isinstance(dist, Uniform) else None
        steps = "" if step is None else f" in steps of {step!r}"
        if dist.low <= number <= dist.high and (step is None or _on_step(number, dist.low, step)):
            return None
        return f"a number from {dist.low!r} to {dist.high!r}{steps}"
    if isinstance(dist, Normal):
        return None if math.isfinite(number) else "a finite number"
    return None


def _check_rows(exp: Experiment, jobs: list[ImportedJob]) -> None:
    """Refuse the file, before anything is sent, if a row's hyperparameters do not fit a random, TPE or grid search.

    Each row must have exactly the hyperparameters the search defines for its choices (a conditional one is
    absent where its branch is not taken), as the service checks too (:func:`~schedy.random.space_mismatch`;
    a grid's names), and each a value the search could have handed out (:func:`_allows`), which the service does
    not check: a warm start from a study with another range or other choices would put values outside the
    space, which the search's model cannot use. Checked here first, a file that does not fit adds nothing, and
    ``--dry-run`` says so.

    Raises:
        CommandError: the first row that does not fit, and why.

    """
    if not isinstance(exp, GridSearch | RandomSearch | TPESearch):
        return
    space = space_params(exp)
    names = [param.name for param in space]
    for job in jobs:
        hps = job.hyperparameters
        present = active(space, hps)
        mismatch = space_mismatch(hps, space)  # a name of a branch not taken: says whose branch it is
        if mismatch is not None:
            raise CommandError(
                f"{job.where} of the file does not have the hyperparameters of {exp.name} ({', '.join(names)}): "
                f"{mismatch}; nothing was added."
            )
        for param in present:
            allowed = _allows(param.dist, hps[param.name])
            if allowed is not None:
                raise CommandError(
                    f"{job.where} of the file has {param.name} = {_quoted(hps[param.name])}, outside the space "
                    f"of {exp.name}, where {param.name} is {allowed}; nothing was added."
                )


#: A file's columns (JSON keys) saying that its jobs were judged by an early-stopping policy, on their reports.
_STOPPED = frozenset({"stop_reason", "stopReason"})
_NO_REPORTS = "the jobs' intermediate reports (their learning curves), which schedy import cannot add"


def _ignored_line(columns: list[str], reports: bool = False) -> str:
    """The one line saying which of the file's columns (a JSON job's keys) holding a value are not imported.

    An export's own (``created_at``, ``worker``, ``attempt``, ``note``…) come back on every import of it, so the
    line is short: at most 8 named, then how many more. ``reports``: the jobs had intermediate reports (they
    were pruned, or a policy judged them), which no file of jobs holds: said too.
    """
    if not columns:
        return f"not imported: {_NO_REPORTS}."
    shown = ", ".join(columns[:8]) + (f" and {len(columns) - 8} more" if len(columns) > 8 else "")
    why = "; a job added gets its own times, worker and attempt" if _SERVICE_FIELDS.intersection(columns) else ""
    return f"not imported: the file's {shown}{why}" + (f"; nor {_NO_REPORTS}." if reports else ".")


def cmd_import(args: argparse.Namespace) -> None:
    """Read the whole file, then add each finished job (DONE or PRUNED) not already there; print how many."""
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        raise CommandError(f"Cannot read {args.file}: {exc.strerror or exc}.") from None
    try:
        # utf-8-sig: a spreadsheet's CSV starts with a byte-order mark, which would hide its first column's name.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CommandError(
            f"Cannot read {'standard input' if args.file == '-' else args.file}: it is not UTF-8 text "
            f"(line {line} holds the byte {data[exc.start]:#04x}); "
            "save it as UTF-8 CSV or JSON lines."
        ) from None
    result = _result_arg(args.result)
    with connect(args) as db:
        exp = db.get_experiment(args.experiment)
        candidates: dict[str, None] = {}
        ignored: dict[str, None] = {}
        jobs, skipped = read_jobs(text, result or _default_result(exp), space_params(exp), candidates, ignored)
        _check_sendable(jobs)
        _check_rows(exp, jobs)
        _check_results(
            exp, jobs, list(candidates), "value" if isinstance(result, str | None) else result[1], args.dry_run
        )
        reports = bool(_STOPPED.intersection(ignored)) or any(job.status == Job.PRUNED for job in jobs)
        if ignored or reports:
            print(f"schedy: {_ignored_line(list(ignored), reports)}", file=sys.stderr)
        if args.dry_run:
            present = {job.job_id for job in exp.all_jobs()}
            new = [job for job in jobs if job[0] not in present]
            print(f"Would add {_summary(new, skipped, exp.name, len(jobs) - len(new))}")
            return
        added: list[ImportedJob] = []
        progress = _Progress(len(jobs), exp.name)
        # The jobs there already, by id, once a row's job is found there: an import run again (after a row
        # was refused) then skips those it added before without asking the service twice for each (a PUT
        # refused, then a GET). A row whose id holds something else still goes through _add, which says so.
        there: dict[str, str] | None = None
        for number, job in enumerate(jobs, start=1):
            try:
                if there is not None and there.get(job.job_id) == _content(*job[1:4]):
                    pass  # the same job is there: skipped
                elif _add(exp, job, jobs):
                    added.append(job)
                elif there is None:
                    there = {
                        old.job_id: _content(old.hyperparameters, old.results, old.status) for old in exp.all_jobs()
                    }
            except _Reimported as exc:
                done = (
                    "nothing was added"
                    if not added
                    else (
                        f"{len(added)} of the file's {len(jobs)} jobs {'was' if len(added) == 1 else 'were'} added, "
                        "and are recognised and skipped when the import is run again"
                    )
                )
                raise CommandError(f"{exc}; {done}.") from None
            except SchedyError as exc:
                refused = (
                    f"Added {len(added)} of {len(jobs)} jobs, then job {number} was refused: {exc} "
                    "Run the import again once it is fixed: the jobs already added are recognised and skipped."
                )
                raise CommandError(refused) from None
            progress.done(number, number - len(added))
    print(f"Added {_summary(added, skipped, exp.name, len(jobs) - len(added))}")
