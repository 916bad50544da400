"""``schedy export``: every job of an experiment, as CSV or JSON.

CSV has one row per job and the columns of
:meth:`schedy.Experiment.to_dataframe`: ``id``, ``status``,
``hyperparameters.NAME``, ``results.NAME``, then the service's fields
(``created_at``, ``worker``…) that any job has, ``error`` when a crashed
job's worker sent what it raised (``Type: message``, as
:meth:`~schedy.Experiment.to_dataframe` has it), and ``artifacts`` when any
job has one: a JSON list of ``{"name", "size", "sha256", "url"}`` (``url``
downloads it with your token), and ``note`` when any job has a note (plain
text kept with it, see docs/protocol.md). Strings are written as
they are (one that would read back as another value, by ``schedy import``
or by pandas, such as ``"3"``, ``"true"``, ``"True"``, ``"null"``,
``"None"``, ``"NA"`` or the empty string, as JSON with its quotes), other
values as JSON (lists, ``true``, ``null`` for None), floats in full
precision (``nan``, ``inf`` for the non-finite ones, as pandas reads them);
a missing value is an empty cell.

JSON is an array of jobs in the wire form (docs/protocol.md: ``id``, ``status``,
``hyperparameters``, ``results``, and the service's ``createdAt``,
``worker``, ``error`` (``{"type", "message"}``)… when set, ``artifacts``
as above when the job has some, and ``note`` when it has one),
written as the jobs arrive, so exporting a large experiment holds one page
of jobs in memory (and the list of its artifacts, read first). NaN and ±Infinity are the bare tokens
``NaN`` and ``Infinity`` that Python's ``json`` (and the wire) use.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from functools import partial
from typing import Any, TextIO

from schedy import Job, _artifacts, _notes
from schedy._dataframe import error_text
from schedy.cli.common import CommandError, cell_value, connect, to_json
from schedy.cli.views import iso_time

__all__ = [
    "add_parsers",
    "cmd_export",
    "job_record",
    "write_csv",
    "write_json",
    "write_reports_csv",
    "write_reports_json",
]

#: Job attribute → its wire key, in column order.
_MANAGED = {
    "created_at": "createdAt",
    "updated_at": "updatedAt",
    "started_at": "startedAt",
    "finished_at": "finishedAt",
    "worker": "worker",
    "member": "member",
    "generation": "generation",
    "parent": "parent",
    "attempt": "attempt",
    "end_reason": "endReason",
    "stop_reason": "stopReason",
    "error": "error",
}


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``export``."""
    parser = subparsers.add_parser(
        "export",
        help="Export every job of an experiment as CSV or JSON.",
        description="Write every job of EXPERIMENT, oldest first, as CSV (one row per job; columns id, "
        "status, hyperparameters.NAME, results.NAME, then the service's fields) or as a JSON array "
        "of jobs in the wire form.",
        epilog="Example: schedy export MNIST > mnist.csv; then pandas.read_csv('mnist.csv', index_col='id')",
    )
    parser.add_argument("experiment", metavar="EXPERIMENT", help="Name of the experiment.")
    parser.add_argument("--format", choices=("csv", "json"), default="csv", help="Output format (default csv).")
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="Write to FILE instead of standard output ('-': standard output)."
    )
    parser.add_argument(
        "--reports",
        action="store_true",
        help="Export the jobs' intermediate reports instead (long form: one row per report; columns job, attempt "
        "(the job's run that sent it), step, time, metrics.NAME).",
    )
    parser.set_defaults(func=cmd_export)


#: Job id → its artifacts (``{"name", "size", "sha256", "url"}`` each), as :func:`schedy._artifacts.experiment_listing`.
Artifacts = Mapping[str, list[dict[str, Any]]]
#: Job id → its note, as :func:`schedy._notes.job_notes`.
Notes = Mapping[str, str]


def job_record(job: Job, artifacts: Artifacts | None = None, notes: Notes | None = None) -> dict[str, Any]:
    """The job in its wire form (the service's fields only when set), with its ``artifacts`` and ``note`` if any."""
    record: dict[str, Any] = {
        "id": job.job_id,
        "status": job.status,
        "hyperparameters": job.hyperparameters,
        "results": job.results,
    }
    for attr, key in _MANAGED.items():
        value = getattr(job, attr)
        if value is not None:
            record[key] = iso_time(value) if isinstance(value, datetime) else value
    if artifacts and artifacts.get(job.job_id):
        record["artifacts"] = artifacts[job.job_id]
    if notes and notes.get(job.job_id):
        record["note"] = notes[job.job_id]
    return record


#: The cells pandas reads as NaN whatever the column (``pandas.read_csv``'s default ``na_values``).
_PANDAS_NA = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA"}
    | {"NULL", "NaN", "None", "n/a", "nan", "null"}
)


def _reads_as_other(text: str) -> bool:
    """Whether a cell holding ``text`` bare would read back as another value than the string ``text``.

    Read as ``schedy import`` reads a cell (JSON: ``3``, ``true``, ``null``; ``nan``; empty) or as
    ``pandas.read_csv`` does: NaN for ``None``, ``NA``, ``NULL``, ``N/A``… whatever the column, a boolean
    for ``True`` or ``FALSE`` in any case, and a number for what reads as one (``+3``, ``.5``, ``0003``,
    ``Infinity``) in a column of numbers.
    """
    if text in _PANDAS_NA or text.lower() in ("true", "false"):
        return True
    try:
        float(text)  # a little wider than pandas ("1_000"): such a string is quoted, and reads back the same
    except ValueError:
        return bool(cell_value(text) != text)
    return True


def _cell(value: Any) -> str:
    if value is None:
        return "null"  # JSON's: read back as None, where an empty cell is a value the job does not have
    if isinstance(value, str):
        # A string that would read back as another value ("3", "true", "null", "None", "nan", "") is written as
        # JSON, quotes included, so that `schedy import` (and anyone reading cells as JSON) gets the string back,
        # and pandas a string.
        return to_json(value) if _reads_as_other(value) else value
    if isinstance(value, datetime):
        return iso_time(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return to_json(value)


def write_csv(
    jobs: Iterable[Job], stream: TextIO, artifacts: Artifacts | None = None, notes: Notes | None = None
) -> int:
    """Write the jobs as CSV (with ``artifacts`` and ``note`` columns when any job has one); return how many."""

    def rows() -> Iterator[dict[str, str]]:
        for job in jobs:
            row = {"id": job.job_id, "status": job.status}
            for name, value in job.hyperparameters.items():
                row["hyperparameters." + name] = _cell(value)
            for name, value in job.results.items():
                row["results." + name] = _cell(value)
            for attr in _MANAGED:
                value = error_text(job.error) if attr == "error" else getattr(job, attr)
                if value is not None:
                    row[attr] = _cell(value)
            if artifacts and artifacts.get(job.job_id):
                row["artifacts"] = _cell(artifacts[job.job_id])
            if notes and notes.get(job.job_id):
                row["note"] = notes[job.job_id]
            yield row

    def columns(seen: Iterable[str]) -> list[str]:
        names = list(seen)
        return [
            "id",
            "status",
            *(c for c in names if c.startswith("hyperparameters.")),
            *(c for c in names if c.startswith("results.")),
            *(attr for attr in _MANAGED if attr in names),
            *(c for c in ("artifacts", "note") if c in names),
        ]

    return _spooled_csv(rows(), columns, stream)


#: What a CSV value cannot hold unquoted: the delimiter, the quote, and either character that ends a line.
_NEEDS_QUOTES = re.compile(r'[,"\r\n]')


def _csv_row(values: Iterable[str]) -> str:
    r"""One CSV row, ending in ``\n``; a value holding a comma, a quote, ``\r`` or ``\n`` in double quotes.

    Not :func:`csv.writer`: told to end rows with ``\n``, it quotes a value holding ``\n`` but not one holding
    a lone ``\r`` (it quotes the characters of its own line terminator only), which every CSV reader takes
    for the end of the row.
    """
    quoted = ('"' + value.replace('"', '""') + '"' if _NEEDS_QUOTES.search(value) else value for value in values)
    return ",".join(quoted) + "\n"


def _spooled_csv(rows: Iterable[dict[str, str]], columns: Callable[[Iterable[str]], list[str]], stream: TextIO) -> int:
    """Write ``rows`` as CSV whose columns are known only once every row is read; return how many.

    The header comes first but names every column any row has, so the rows wait in a temporary file,
    not in memory: an export of millions of reports needs no more memory than one of ten. They are
    spooled as CSV already, their values in the order the columns first appeared (``columns`` orders
    the names seen); when that is the final order and no column appeared after the first row (every
    report with the same metrics), the spool is copied as it is, else read back once and rearranged.
    """
    index: dict[str, int] = {}
    count = 0
    widths_changed = False
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as spool:
        for row in rows:
            values = [""] * len(index)
            for name, value in row.items():
                at = index.get(name)
                if at is None:
                    at = index[name] = len(values)
                    values.append(value)
                    widths_changed = widths_changed or count > 0
                else:
                    values[at] = value
            spool.write(_csv_row(values))
            count += 1
        header = columns(index)
        order = [index.get(name, -1) for name in header]  # -1: a column no row has (an empty export's)
        stream.write(_csv_row(header))
        spool.seek(0)
        if not widths_changed and order == list(range(len(order))):
            shutil.copyfileobj(spool, stream)
        else:
            for values in csv.reader(spool):
                known = len(values)
                stream.write(_csv_row([values[at] if 0 <= at < known else "" for at in order]))
    return count


def write_json(
    jobs: Iterable[Job], stream: TextIO, artifacts: Artifacts | None = None, notes: Notes | None = None
) -> int:
    """Write the jobs as a JSON array, one per line (with its ``artifacts`` and ``note`` if any); return how many."""
    count = 0
    stream.write("[")
    for job in jobs:
        stream.write(",\n" if count else "\n")
        stream.write(json.dumps(job_record(job, artifacts, notes), ensure_ascii=False, allow_nan=True))
        count += 1
    stream.write("\n]\n" if count else "]\n")
    return count


def write_reports_csv(reports: Iterable[dict[str, Any]], stream: TextIO) -> int:
    """Write reports as CSV (columns job, attempt, step, time, metrics.NAME); return how many."""

    def rows() -> Iterator[dict[str, str]]:
        for report in reports:
            row = {
                "job": report["job"],
                "attempt": str(report.get("attempt", 1)),
                "step": str(report["step"]),
                "time": _cell(report["time"]),
            }
            for name, value in report["metrics"].items():
                row["metrics." + name] = _cell(value)
            yield row

    def columns(seen: Iterable[str]) -> list[str]:
        return ["job", "attempt", "step", "time", *(c for c in seen if c.startswith("metrics."))]

    return _spooled_csv(rows(), columns, stream)


def write_reports_json(reports: Iterable[dict[str, Any]], stream: TextIO) -> int:
    """Write reports as a JSON array of ``{"job", "step", "time", "metrics", "attempt"}``, one per line.

    Returns how many.
    """
    count = 0
    stream.write("[")
    for report in reports:
        stream.write(",\n" if count else "\n")
        record = {**report, "time": _cell(report["time"])}
        stream.write(json.dumps(record, ensure_ascii=False, allow_nan=True))
        count += 1
    stream.write("\n]\n" if count else "]\n")
    return count


def cmd_export(args: argparse.Namespace) -> None:
    """Write the experiment's jobs (or their reports) in the format asked."""
    what = "report" if args.reports else "job"
    with connect(args) as db:
        exp = db.get_experiment(args.experiment)
        write: Callable[[TextIO], int]
        if args.reports:
            write = partial(write_reports_csv if args.format == "csv" else write_reports_json, exp.reports())
        else:
            artifacts = _artifacts.experiment_listing(db._transport, exp.name)
            notes = _notes.job_notes(db._transport, exp.name)
            writer = write_csv if args.format == "csv" else write_json
            write = partial(writer, exp.all_jobs(), artifacts=artifacts, notes=notes)
        if args.output is None or args.output == "-":  # "-": standard output, as for `schedy artifact get -o -`
            write(sys.stdout)
            return
        try:
            with open(args.output, "w", encoding="utf-8", newline="") as stream:
                count = write(stream)
        except OSError as exc:
            raise CommandError(f"Cannot write {args.output}: {exc.strerror or exc}.") from None
    plural = "s" if count != 1 else ""
    print(f"Exported {count} {what}{plural} of {args.experiment!r} to {args.output}.", file=sys.stderr)
