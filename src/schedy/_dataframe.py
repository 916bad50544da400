"""Jobs as a pandas DataFrame (pandas is optional: ``pip install pandas``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas

    from schedy._jobs import Job

__all__ = ["error_text", "jobs_to_dataframe", "reports_to_dataframe"]

#: Service-managed job fields, in column order; a column appears when any job has a value.
_MANAGED = (
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "worker",
    "member",
    "generation",
    "parent",
    "attempt",
    "end_reason",
    "stop_reason",
    "error",
)


def error_text(error: Mapping[str, str] | None) -> str | None:
    """A job's :attr:`~schedy.Job.error` as its ``error`` column shows it: ``"Type: message"`` (or the type alone)."""
    if error is None:
        return None
    message = error.get("message", "")
    return f"{error.get('type', '')}: {message}" if message else error.get("type", "")


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as exc:
        raise ImportError(
            "Experiment.to_dataframe() needs pandas, which is not installed: "
            "pip install pandas (or pip install './[pandas]' from a checkout of this project; the package "
            "index's 'schedy[pandas]' is an unrelated 2018 client)."
        ) from exc
    return pandas


def jobs_to_dataframe(
    jobs: Iterable[Job],
    artifacts: Mapping[str, list[dict[str, Any]]] | None = None,
    notes: Mapping[str, str] | None = None,
) -> pandas.DataFrame:
    """One row per job, indexed by job id (see :meth:`schedy.Experiment.to_dataframe`).

    When any job has artifacts, a last column ``artifacts`` holds each job's
    list of ``{"name", "size", "sha256", "url"}`` (an empty list for a job
    with none). ``artifacts`` maps job ids to those lists; by default they
    are read from the service of the jobs' experiment (none for jobs made
    by hand, with no service). Likewise, when any job has a note, a column
    ``note`` holds it (``None`` for the others); ``notes`` maps job ids to
    notes, read from the service by default.

    Raises:
        ImportError: pandas is not installed (checked before any job is read).

    """
    pd = _pandas()
    rows: list[dict[str, Any]] = []
    hp_names: dict[str, None] = {}
    result_names: dict[str, None] = {}
    managed_present: set[str] = set()
    experiment = None
    for job in jobs:
        experiment = job.experiment
        row: dict[str, Any] = {"id": job.job_id, "status": job.status}
        for name, value in job.hyperparameters.items():
            hp_names[name] = None
            row["hyperparameters." + name] = value
        for name, value in job.results.items():
            result_names[name] = None
            row["results." + name] = value
        for attr in _MANAGED:
            value = error_text(job.error) if attr == "error" else getattr(job, attr)
            if value is not None:
                managed_present.add(attr)
                row[attr] = value
        rows.append(row)
    columns = [
        "id",
        "status",
        *("hyperparameters." + name for name in hp_names),
        *("results." + name for name in result_names),
        *(attr for attr in _MANAGED if attr in managed_present),
    ]
    if artifacts is None and experiment is not None and experiment._db is not None:
        from schedy._artifacts import experiment_listing

        artifacts = experiment_listing(experiment._db._transport, experiment.name)
    if artifacts and any(artifacts.get(row["id"]) for row in rows):
        columns.append("artifacts")
        for row in rows:
            row["artifacts"] = list(artifacts.get(row["id"], []))
    if notes is None and experiment is not None and experiment._db is not None:
        from schedy._notes import job_notes

        notes = job_notes(experiment._db._transport, experiment.name)
    if notes and any(notes.get(row["id"]) for row in rows):
        columns.append("note")
        for row in rows:
            row["note"] = notes.get(row["id"])
    frame = pd.DataFrame.from_records(rows, columns=columns)
    return frame.set_index("id")


def reports_to_dataframe(reports: Iterable[dict[str, Any]]) -> pandas.DataFrame:
    """One row per intermediate report, in the order received (see :meth:`schedy.Experiment.to_dataframe`).

    Columns ``job``, ``attempt`` (the job's run that sent it: 2 and up once the job was set back
    to QUEUED), ``step``, ``time``, then ``metrics.NAME`` for every metric seen.

    Raises:
        ImportError: pandas is not installed.

    """
    pd = _pandas()
    rows: list[dict[str, Any]] = []
    names: dict[str, None] = {}
    for report in reports:
        row = {"job": report["job"], "attempt": report.get("attempt", 1), "step": report["step"]}
        row["time"] = report["time"]
        for name, value in report["metrics"].items():
            names[name] = None
            row["metrics." + name] = value
        rows.append(row)
    columns = ["job", "attempt", "step", "time", *("metrics." + name for name in names)]
    if not rows:
        # No reports: the columns with the dtypes pandas gives a frame of reports (int64 attempt and step, UTC
        # times), not ``object``, so that frames concatenate and compare alike. Inferred from one report, as
        # each pandas version infers them (pandas 3 keeps times in microseconds).
        sample = {"job": "", "attempt": 1, "step": 0, "time": datetime.now(UTC)}
        return pd.DataFrame.from_records([sample], columns=columns).iloc[:0]
    return pd.DataFrame.from_records(rows, columns=columns)
