"""``schedy import EXPERIMENT FILE``: add finished jobs from elsewhere, so a search learns from them (warm start).

Reads what ``schedy export`` writes (CSV with ``hyperparameters.NAME`` and
``results.NAME`` columns, or a JSON array of jobs) and JSON lines of the
same jobs, and the CSV of an Optuna study's ``study.trials_dataframe()``
(``params_NAME`` columns and ``value``, whose value becomes the result
named by ``--result``, by default the result the search optimises). Only
finished jobs are imported: DONE (or Optuna's COMPLETE) ones as DONE jobs,
which TPE counts in its model and PBT and grid searches see like any other,
and PRUNED ones (stopped early; Optuna's PRUNED) as PRUNED jobs, which TPE
ranks after every DONE job by the value they reached. Other rows (running,
queued, crashed, failed) are skipped and counted. Nothing is sent unless
the whole file reads.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from schedy import Experiment, TPESearch
from schedy.cli.common import CommandError, UsageError, connect
from schedy.errors import SchedyError

__all__ = ["ImportedJob", "add_parsers", "cmd_import", "read_jobs"]

#: One finished job read from a file: ``(hyperparameters, results, status)``, status DONE or PRUNED.
ImportedJob = tuple[dict[str, Any], dict[str, Any], str]

#: A file's statuses (ours, and Optuna's trial states) of the jobs imported, and what they become.
_FINISHED = {
    "DONE": "DONE",
    "COMPLETE": "DONE",
    "TrialState.COMPLETE": "DONE",
    "PRUNED": "PRUNED",
    "TrialState.PRUNED": "PRUNED",
}

_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "NaN": math.nan, "Infinity": math.inf}


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
        metavar="NAME",
        help="The result an Optuna 'value' column becomes (default: the search's result, else 'value').",
    )
    parser.add_argument("--dry-run", action="store_true", help="Read the file and say what would be added.")
    parser.set_defaults(func=cmd_import)


def _cell(text: str) -> Any:
    """A CSV cell as the value it stands for: JSON when it parses, else the text; ``None`` when empty."""
    if text == "":
        return None
    if text in _NON_FINITE:
        return _NON_FINITE[text]
    try:
        return json.loads(text)
    except ValueError:
        return text


def _from_csv(rows: Iterator[dict[str, str]], result_name: str) -> Iterator[ImportedJob | None]:
    for row in rows:
        status = _FINISHED.get(row.get("status") or row.get("state") or "DONE")
        if status is None:
            yield None  # not finished: skipped
            continue
        hps: dict[str, Any] = {}
        results: dict[str, Any] = {}
        for column, text in row.items():
            value = _cell(text or "")
            if value is None or column is None:
                continue
            if column.startswith("hyperparameters."):
                hps[column.removeprefix("hyperparameters.")] = value
            elif column.startswith("params_"):
                hps[column.removeprefix("params_")] = value
            elif column.startswith("results."):
                results[column.removeprefix("results.")] = value
            elif column == "value":
                results[result_name] = value
        yield hps, results, status


def _from_objects(objects: Iterator[Any]) -> Iterator[ImportedJob | None]:
    for number, obj in enumerate(objects, start=1):
        if not isinstance(obj, dict) or not isinstance(obj.get("hyperparameters", {}), dict):
            raise UsageError(f"Job {number} of the file is not a job object with 'hyperparameters' and 'results'.")
        status = _FINISHED.get(obj.get("status", "DONE"))
        if status is None:
            yield None  # not finished: skipped
            continue
        results = obj.get("results", {})
        if not isinstance(results, dict):
            raise UsageError(f"Job {number} of the file has 'results' that are not an object.")
        yield dict(obj.get("hyperparameters", {})), dict(results), status


def read_jobs(text: str, result_name: str) -> tuple[list[ImportedJob], int]:
    """The finished jobs of a file's text (CSV, JSON array or JSON lines), and how many rows were skipped.

    Raises:
        UsageError: the text is none of these, or a row is not a job.

    """
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            objects = json.loads(stripped)
        except ValueError as exc:
            raise UsageError(f"The file looks like a JSON array but does not parse: {exc}.") from None
        return _split(_from_objects(iter(objects)))
    if stripped.startswith("{"):
        parsed = []
        for number, line in enumerate(stripped.splitlines(), start=1):
            if line.strip():
                try:
                    parsed.append(json.loads(line))
                except ValueError as exc:
                    raise UsageError(f"Line {number} of the file is not JSON: {exc}.") from None
        return _split(_from_objects(iter(parsed)))
    reader = csv.DictReader(text.splitlines())
    columns = reader.fieldnames or []
    if not any(c.startswith(("hyperparameters.", "params_")) for c in columns):
        raise UsageError(
            "The file is neither JSON nor a CSV with hyperparameters.NAME (schedy export) or params_NAME "
            "(Optuna) columns."
        )
    return _split(_from_csv(iter(reader), result_name))


def _split(read: Iterator[ImportedJob | None]) -> tuple[list[ImportedJob], int]:
    jobs: list[ImportedJob] = []
    skipped = 0
    for job in read:
        if job is None:
            skipped += 1
        else:
            jobs.append(job)
    return jobs, skipped


def _summary(jobs: list[ImportedJob], skipped: int, name: str) -> str:
    """``5 DONE and 7 PRUNED jobs to NAME`` (and the rows skipped), for the closing line."""
    counts = {status: sum(1 for job in jobs if job[2] == status) for status in ("DONE", "PRUNED")}
    parts = [f"{n} {status}" for status, n in counts.items() if n] or ["0 DONE"]
    text = " and ".join(parts) + (" job" if len(jobs) == 1 else " jobs") + f" to {name}"
    if skipped:
        text += f" ({skipped} unfinished row{'s' if skipped != 1 else ''} skipped)"
    return text + "."


def _default_result(exp: Experiment) -> str:
    if isinstance(exp, TPESearch):
        return exp.params.result_name
    target = getattr(exp, "result_name", None)  # PBT's ranking result
    return target if isinstance(target, str) else "value"


def cmd_import(args: argparse.Namespace) -> None:
    """Read the whole file, then add each finished job (DONE or PRUNED); print how many."""
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"Cannot read {args.file}: {exc.strerror or exc}.") from None
    with connect(args) as db:
        exp = db.get_experiment(args.experiment)
        jobs, skipped = read_jobs(text, args.result or _default_result(exp))
        if args.dry_run:
            print(f"Would add {_summary(jobs, skipped, exp.name)}")
            return
        for added, (hps, results, status) in enumerate(jobs):
            try:
                exp.add_job(hyperparameters=hps, results=results, status=status)
            except SchedyError as exc:
                refused = f"Added {added} of {len(jobs)} jobs, then job {added + 1} was refused: {exc}"
                raise CommandError(refused) from None
    print(f"Added {_summary(jobs, skipped, exp.name)}")
