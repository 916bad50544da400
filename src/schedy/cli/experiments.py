"""``schedy show``, ``list``, ``push`` and ``rm``: reading and editing experiments and jobs.

Arguments and output follow the original CLI, so scripts that read them
keep working: ``list`` prints one line per experiment (``name status
scheduler``) or job (``id status``) without a header; ``-t`` a table of
every field, ``-p`` paragraphs; ``push`` prints the new job; ``add`` and
``rm`` print nothing on success.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from datetime import datetime
from typing import Any

from schedy import Experiment, Job, SchedyDB
from schedy._dataframe import error_text
from schedy._pagination import iter_items
from schedy._routes import experiment as experiment_path
from schedy._routes import job as job_path
from schedy.cli.common import CommandError, UsageError, connect, parse_pairs
from schedy.cli.export import _MANAGED as EXPORT_JOB_COLUMNS
from schedy.cli.objective import Best, Objective
from schedy.cli.table import DEFAULT_CATEGORY, Column, Table, format_value, human_size
from schedy.cli.views import (
    EXPERIMENT_COLUMNS,
    JOB_COLUMNS,
    experiment_details,
    experiment_row,
    iso_time,
    job_details,
    job_row,
)
from schedy.errors import SchedyError

__all__ = [
    "add_parsers",
    "cmd_list",
    "cmd_push",
    "cmd_rm",
    "cmd_show",
    "list_row",
    "reports_text",
    "rungs_text",
    "status_and_counts",
    "status_counts_created",
]

_JOB_STATUSES = (Job.QUEUED, Job.RUNNING, Job.DONE, Job.CRASHED, Job.PRUNED)

#: The service's fields of a job that ``list`` shows only when ``-f`` names them (``-s`` sorts by them too),
#: named as ``schedy export`` names its columns. All come with the jobs ``list`` reads; export's ``artifacts``
#: and ``note`` would take more requests.
LIST_SERVICE_FIELDS = tuple(EXPORT_JOB_COLUMNS)
#: Their category (``-f service.worker`` when a hyperparameter or result is named ``worker`` too).
_SERVICE = "service"


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``rm``, ``show``, ``list`` and ``push``."""
    rm = subparsers.add_parser(
        "rm",
        help="Remove an experiment (with all its jobs) or one job.",
        description="Remove an experiment with all its jobs, or one job. Shows it and asks for "
        "confirmation unless -f is given.",
    )
    rm.add_argument("experiment", metavar="EXPERIMENT", help="Name of the experiment.")
    rm.add_argument("job", nargs="?", metavar="JOB", help="Id of the job to remove (default: the whole experiment).")
    rm.add_argument("-f", "--force", action="store_true", help="Do not ask for confirmation.")
    rm.set_defaults(func=cmd_rm)

    show = subparsers.add_parser(
        "show",
        help="Show an experiment or a job.",
        description="Show an experiment (scheduler, distributions, job counts) or a job (hyperparameters, "
        "results, times, worker, artifacts), one 'field: value' per line.",
    )
    show.add_argument("experiment", metavar="EXPERIMENT", help="Name of the experiment.")
    show.add_argument("job", nargs="?", metavar="JOB", help="Id of a job of the experiment.")
    show.set_defaults(func=cmd_show)

    lst = subparsers.add_parser(
        "list",
        help="List experiments, or the jobs of one.",
        description="List your experiments, or the jobs of EXPERIMENT (oldest first). By default one line "
        "each (name status scheduler, or id status), without a header; -t shows a table (id, status, and "
        "the hyperparameters and results as columns), -p one paragraph each. A field is named by its bare "
        "name (lr, loss) or, when a hyperparameter and a result share it, as hyperparameter.NAME or "
        "result.NAME (also written as schedy export names its columns: hyperparameters.NAME, results.NAME). "
        "The service's fields of a job, as export names them, are shown only when -f names them and sort with -s: "
        + ", ".join(LIST_SERVICE_FIELDS)
        + '. A hyperparameter or result that is a string but would read as another value ("3", "true", '
        '"") is shown as JSON, in quotes; so is any string with a line break in the one-line layouts, '
        'the break escaped ("a\\nb").',
        epilog="Example: schedy list MNIST -t -s accuracy -d   (best accuracy first)",
    )
    lst.add_argument(
        "experiment",
        nargs="?",
        metavar="EXPERIMENT",
        help="List the jobs of this experiment (default: list experiments).",
    )
    lst.add_argument("-t", "--table", action="store_true", help="A table with a header (more fields with -f).")
    lst.add_argument("-p", "--paragraph", action="store_true", help="One 'field: value' paragraph per row.")
    lst.add_argument(
        "-s",
        "--sort",
        action="append",
        metavar="FIELD",
        help="Sort by FIELD; repeat to break ties with further fields. Numbers sort by value; missing "
        "values (and NaN) come last, also with -d.",
    )
    lst.add_argument("-d", "--decreasing", action="store_true", help="Sort in decreasing order.")
    lst.add_argument(
        "-f", "--field", action="append", metavar="FIELD", help="Show only FIELD; repeat for more (in that order)."
    )
    lst.set_defaults(func=cmd_list)

    push = subparsers.add_parser(
        "push",
        help="Add a job to an experiment by hand.",
        description="Add a job to an experiment and print it. Values are JSON: 0.01, 3, '[512, 512]', "
        """'"relu"' (a string needs its JSON quotes), true, null.""",
        epilog="Example: schedy push MNIST -p lr 0.01 layers 2 -r accuracy 0.97 -s DONE",
    )
    push.add_argument("experiment", metavar="EXPERIMENT", help="Name of the experiment.")
    push.add_argument(
        "-p",
        "--hyperparameters",
        nargs="+",
        action="extend",
        required=True,
        metavar="NAME JSON",
        help="The job's hyperparameters, as NAME VALUE pairs (-p lr 0.01 layers 2, or -p lr 0.01 -p layers 2).",
    )
    push.add_argument(
        "-r",
        "--results",
        nargs="+",
        action="extend",
        metavar="NAME JSON",
        help="Its results, as NAME VALUE pairs (after one -r or several).",
    )
    push.add_argument(
        "-s", "--status", choices=_JOB_STATUSES, help="Its status (default QUEUED: the next worker gets it)."
    )
    push.set_defaults(func=cmd_push)


def cmd_show(args: argparse.Namespace) -> None:
    """Print an experiment or a job as paragraphs."""
    table = Table()
    with connect(args) as db:
        exp = db.get_experiment(args.experiment)
        if args.job is None:
            _, counts, created = status_counts_created(db, exp.name)
            rungs = rungs_text(db, exp.name) if exp.early_stopping is not None else None
            table.add_row(experiment_details(exp, counts, created, rungs, best_rows(exp, counts)))
        else:
            job = exp.get_job(args.job)
            row = job_details(job)
            if job.error is not None:  # what the crashed attempt raised (its traceback: the dashboard's job page)
                row[("service", "error")] = error_text(job.error) or ""
            reports = reports_text(db, exp.name, job.job_id)
            if reports is not None:  # how far the job got, and what it last reported (why it was stopped)
                row[("service", "reports")] = reports
            files = job.artifacts()
            if files:  # where this job's model is: `schedy artifact get EXP JOB NAME` fetches it
                row[("service", "artifacts")] = ", ".join(f"{a.name} ({human_size(a.size)})" for a in files)
            table.add_row(row)
    print(table.paragraphs())


def best_rows(exp: Experiment, counts: dict[str, int] | None) -> dict[Column, str]:
    """The ``best`` lines of ``schedy show EXPERIMENT``: the best DONE job by the declared objective.

    Nothing for an experiment that declares no objective or has no DONE job. When none
    of its DONE jobs has the result a TPE or PBT search ranks by, says so (a slip in
    the result's name); an early-stopping policy's metric need not be a final result.
    Reads every job, as :meth:`schedy.Experiment.best_job` does.
    """
    declared = exp.declared_objective()
    done = (counts or {}).get(Job.DONE, 0)
    if declared is None or not done:
        return {}
    name, _ = declared
    best = exp.best_job()
    if best is None:
        if exp._search_objective() is None:
            return {}
        # None ranks: misnamed (no job has it), or every value NaN or infinite (a training that diverged).
        tally = Best.of_done(Objective(name, maximize=declared[1] == "max"), exp.all_jobs())
        return {("service", "best"): tally.describe(done)}
    shown = ", ".join(f"{key}={format_value(value)}" for key, value in best.hyperparameters.items())
    return {
        ("service", "best"): f"{name} {format_value(best.results[name])} (job {best.job_id})",
        ("service", "best hyperparameters"): shown or "none",
    }


#: Reports of one job ``schedy show EXPERIMENT JOB`` reads at most for its summary.
REPORTS_READ = 10_000


def reports_text(db: SchedyDB, experiment: str, job_id: str) -> str | None:
    """A job's reports in a line, e.g. ``3 at steps 1–3; the last (step 3): loss 0.25, acc 0.9``.

    ``None`` for a job that reported nothing, or from a service without reports; past
    :data:`REPORTS_READ` of them, where to find them all.
    """
    path = job_path(experiment_path(experiment), job_id) + "reports/"
    try:
        items = list(itertools.islice(iter_items(db._transport, path, page_size=1000), REPORTS_READ + 1))
    except SchedyError:  # **[ext]**: the 2018 service had no reports
        return None
    if not items:
        return None
    if len(items) > REPORTS_READ:
        return f"more than {REPORTS_READ:,} (schedy export {experiment} --reports writes them all)"
    steps = [item.get("step") for item in items]
    last = items[-1]
    metrics = last.get("metrics") if isinstance(last.get("metrics"), dict) else {}
    values = ", ".join(f"{name} {format_value(value, precise=False)}" for name, value in metrics.items())
    at = f"step {min(steps)}" if min(steps) == max(steps) else f"steps {min(steps)}–{max(steps)}"
    return f"{len(items):,} at {at}; the last (step {last.get('step')}): {values or 'no metric'}"


def rungs_text(db: SchedyDB, name: str) -> str | None:
    """ASHA's or Hyperband's rungs so far, e.g. ``step 1: 112 of 200 went on · step 3: 74 of 112 went on``.

    From the service's summary (**[ext]** ``GET experiments/NAME/stopping/``); ``None`` for the median
    rule (a "rung" at every step), before any job reached a rung, or from a service without the summary.
    """
    try:
        data: Any = db._transport.request("GET", experiment_path(name) + "stopping/").json()
    except SchedyError:
        return None
    rungs = data.get("rungs") if isinstance(data, dict) else None
    if not isinstance(rungs, list) or not rungs or not all(isinstance(r, dict) and "bracket" in r for r in rungs):
        return None
    brackets = len({r["bracket"] for r in rungs})
    parts = []
    for r in rungs:
        where = f"bracket {r['bracket']} step {r.get('step')}" if brackets > 1 else f"step {r.get('step')}"
        if isinstance(r.get("continued"), int):
            parts.append(f"{where}: {r['continued']} of {r.get('jobs')} went on")
        else:  # a service older than the count
            parts.append(f"{where}: {r.get('jobs')} reached")
    return " · ".join(parts)


def status_and_counts(db: SchedyDB, name: str) -> tuple[str, dict[str, int] | None]:
    """The experiment's status and job counts by status, in one request.

    The counts are an [ext] of the service (``?counts=true``): ``None`` from
    a service without them.
    """
    status, counts, _ = status_counts_created(db, name)
    return status, counts


def status_counts_created(db: SchedyDB, name: str) -> tuple[str, dict[str, int] | None, int | None]:
    """:func:`status_and_counts` and how many jobs the search created (what ``max_jobs`` counts), if known."""
    data: Any = db._transport.request("GET", experiment_path(name) + "?counts=true").json()
    if not isinstance(data, dict):
        return "?", None, None
    created = data.get("jobsCreated")
    created = created if isinstance(created, int) and not isinstance(created, bool) else None
    counts = data.get("jobCounts")
    if not isinstance(counts, dict):
        return str(data.get("status")), None, created
    return str(data.get("status")), {str(k): v for k, v in counts.items() if isinstance(v, int)}, created


def cmd_list(args: argparse.Namespace) -> None:
    """Print experiments or jobs in the layout asked."""
    with connect(args) as db:
        if args.experiment is None:
            table = Table(EXPERIMENT_COLUMNS)
            for exp in db.get_experiments():
                table.add_row(experiment_row(exp))
        else:
            hidden = [(_SERVICE, name) for name in LIST_SERVICE_FIELDS]
            table = Table(JOB_COLUMNS, hidden=hidden, values=("hyperparameter", "result"))
            for job in db.get_experiment(args.experiment).all_jobs():
                table.add_row(list_row(job))
    if args.sort:
        table.sort([_field(table, field) for field in args.sort], descending=args.decreasing)
    if args.field:
        table.select([_field(table, field) for field in args.field])
    if args.table:
        text = table.grid()
    elif args.paragraph:
        text = table.paragraphs()
    else:
        if not args.field:
            table.only(DEFAULT_CATEGORY)
        text = table.plain()
    if text:
        print(text)


def list_row(job: Job) -> dict[Column, Any]:
    """:func:`~schedy.cli.views.job_row`, plus the service's fields ``list -f`` can show (those set)."""
    row = job_row(job)
    for name in LIST_SERVICE_FIELDS:
        value = error_text(job.error) if name == "error" else getattr(job, name)
        if value is not None:
            row[(_SERVICE, name)] = iso_time(value) if isinstance(value, datetime) else value
    return row


#: The column names of ``schedy export`` (``results.loss``), as ``list`` names the same fields (``result.loss``).
_EXPORT_PREFIXES = {"results.": "result.", "hyperparameters.": "hyperparameter."}


def _field(table: Table, field: str) -> str:
    """``field`` as ``table`` resolves it: a field it has, else export's ``results.NAME`` as ``result.NAME``.

    A field the table has keeps its meaning (a result may be named ``results.x``); one it lacks, in neither
    form, is left for the table to refuse, naming the fields there are. No field can be refused before the
    jobs are read: any name may be a result's, and a job's hyperparameters are not bound by those the
    search declares now (jobs added by hand to a manual or PBT search, a search defined anew).
    """
    if any(name == field for _, name in table.columns):
        return field  # its own name (maybe ambiguous: the table says so)
    try:
        table.resolve(field)
    except UsageError:
        for plural, singular in _EXPORT_PREFIXES.items():
            if field.startswith(plural):
                alias = singular + field[len(plural) :]
                try:
                    table.resolve(alias)
                except UsageError:
                    break
                return alias
    return field


def cmd_push(args: argparse.Namespace) -> None:
    """Add the job and print it."""
    hyperparameters = parse_pairs(args.hyperparameters, "hyperparameter")
    results = parse_pairs(args.results, "result")
    with connect(args) as db:
        exp = db.get_experiment(args.experiment)
        job = exp.add_job(hyperparameters=hyperparameters, results=results, status=args.status or Job.QUEUED)
    table = Table()
    table.add_row(job_row(job))
    print(table.paragraphs())
    if job.status == Job.QUEUED and exp.status == Experiment.DONE:
        # A DONE experiment hands out no job (its budget spent, or marked so): the job would wait unseen.
        print(
            f"schedy: {exp.name!r} is DONE: no worker will be handed this job until "
            f"'schedy status {exp.name} RUNNING'.",
            file=sys.stderr,
        )


def _confirm(question: str) -> bool:
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        print(file=sys.stderr)
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_rm(args: argparse.Namespace) -> None:
    """Remove the experiment or the job, after confirmation unless ``-f``."""
    with connect(args) as db:
        exp = db.get_experiment(args.experiment)
        table = Table()
        if args.job is None:
            if not args.force:
                table.add_row(experiment_details(exp, status_and_counts(db, exp.name)[1]))
                print(table.paragraphs())
                if not _confirm(f"Are you sure you want to remove {exp.name} and all its jobs?"):
                    raise CommandError(f"{exp.name} was not removed.")
            exp.delete()
        else:
            job = exp.get_job(args.job)
            if not args.force:
                table.add_row(job_row(job))
                print(table.paragraphs())
                if not _confirm(f"Are you sure you want to remove {job.job_id}?"):
                    raise CommandError(f"{job.job_id} was not removed.")
            job.delete()
