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
    table = _Columns()
    ids: list[str] = []
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
        ids.append(job.job_id)
        table.add(row)
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
    if artifacts and any(artifacts.get(job_id) for job_id in ids):
        columns.append("artifacts")
        table.add_column("artifacts", [list(artifacts.get(job_id, [])) for job_id in ids])
    if notes is None and experiment is not None and experiment._db is not None:
        from schedy._notes import job_notes

        notes = job_notes(experiment._db._transport, experiment.name)
    if notes and any(notes.get(job_id) for job_id in ids):
        columns.append("note")
        table.add_column("note", [notes.get(job_id) for job_id in ids])
    if not ids:
        return pd.DataFrame.from_records([], columns=columns).set_index("id")
    return table.frame(pd, columns).set_index("id")


def reports_to_dataframe(reports: Iterable[dict[str, Any]]) -> pandas.DataFrame:
    """One row per intermediate report, in the order received (see :meth:`schedy.Experiment.to_dataframe`).

    Columns ``job``, ``attempt`` (the job's run that sent it: 2 and up once the job was set back
    to QUEUED), ``step``, ``time``, then ``metrics.NAME`` for every metric seen.

    Raises:
        ImportError: pandas is not installed.

    """
    pd = _pandas()
    table = _Columns()
    names: dict[str, None] = {}
    job_ids: dict[str, str] = {}  # one string object per job, not one per report
    for report in reports:
        job = report["job"]
        row = {"job": job_ids.setdefault(job, job), "attempt": report.get("attempt", 1), "step": report["step"]}
        row["time"] = report["time"]
        for name, value in report["metrics"].items():
            names[name] = None
            row["metrics." + name] = value
        table.add(row)
    columns = ["job", "attempt", "step", "time", *("metrics." + name for name in names)]
    if not table.rows:
        # No reports: the columns with the dtypes pandas gives a frame of reports (int64 attempt and step, UTC
        # times), not ``object``, so that frames concatenate and compare alike. Inferred from one report, as
        # each pandas version infers them (pandas 3 keeps times in microseconds).
        sample = {"job": "", "attempt": 1, "step": 0, "time": datetime.now(UTC)}
        return pd.DataFrame.from_records([sample], columns=columns).iloc[:0]
    return table.frame(pd, columns)


# -- building a frame column by column ---------------------------------------------------------------------------
#
# ``pandas.DataFrame.from_records`` of one dict per row holds every row as a Python dict (a few hundred bytes
# each) until the frame is built: a million reports peaked at 7.7 times the frame's size. ``_Columns`` keeps
# each column instead, in chunks of ``_CHUNK`` rows turned into numpy arrays as they fill (a float column costs
# 8 bytes a row), and gives the frame ``from_records`` would: each column typed as pandas infers a column of
# Python objects in which a row without the key holds NaN. Chunks of one simple kind (all floats, all int64
# integers, floats and integers, UTC datetimes) join without looking at the values again; any other mix is
# inferred by pandas from the column's objects, as ``from_records`` does.

_CHUNK = 16_384
_NAN = float("nan")
_EXACT_INT = 2**53  # integers up to this size survive a round trip through a float

# A chunk: (kind, values, extra). Kinds: "i" int64 array; "f" float64 array (extra: None, or a mask of the rows
# that were integers); "m" float64 array of NaN only (rows without the key); "t" a pandas DatetimeArray (extra:
# its tzinfo object); "o" object array of the values as received.
_Chunk = tuple[str, Any, Any]


def _objects(values: list[Any]) -> Any:
    import numpy as np

    return np.fromiter(values, dtype=object, count=len(values))


def _chunk(pd: Any, values: list[Any]) -> _Chunk:
    """``values`` (one column's rows, NaN for a row without the key) as compact as keeps them exact."""
    import numpy as np

    types = set(map(type, values))
    if types == {float}:
        array = np.array(values, dtype=np.float64)
        return ("m" if np.isnan(array).all() else "f", array, None)
    if types == {int}:
        try:
            return ("i", np.array(values, dtype=np.int64), None)
        except OverflowError:
            return ("o", _objects(values), None)
    if types == {int, float}:
        if all(-_EXACT_INT <= value <= _EXACT_INT for value in values if type(value) is int):
            mask = np.fromiter((type(value) is int for value in values), dtype=bool, count=len(values))
            return ("f", np.array(values, dtype=np.float64), mask)
        return ("o", _objects(values), None)
    if datetime in types and types <= {datetime, float}:
        zones = {value.tzinfo for value in values if type(value) is datetime}
        if len(zones) == 1 and all(value != value for value in values if type(value) is float):
            inferred = pd.Series(_objects(values), dtype=object, copy=False).infer_objects()
            if isinstance(inferred.dtype, pd.DatetimeTZDtype):
                return ("t", inferred.array, zones.pop())
    return ("o", _objects(values), None)


def _as_objects(pd: Any, chunk: _Chunk) -> Any:
    """A chunk's values as the Python objects it was made of (NaN for the rows without the key)."""
    import numpy as np

    kind, values, extra = chunk
    if kind == "o":
        return values
    if kind == "m":
        return np.full(len(values), _NAN, dtype=object)
    if kind == "t":
        objects = np.asarray(values.to_pydatetime(), dtype=object)
        objects[np.asarray(values.isna())] = _NAN
        return objects
    objects = values.astype(object)
    if kind == "f" and extra is not None:
        for index in np.flatnonzero(extra):
            objects[index] = int(values[index])
    return objects


def _join(pd: Any, chunks: list[_Chunk]) -> Any:
    """One column from its chunks, typed as ``from_records`` types the same values."""
    import numpy as np

    kinds = {kind for kind, _, _ in chunks}
    if kinds == {"i"}:
        return np.concatenate([values for _, values, _ in chunks])
    if kinds <= {"i", "f", "m"}:
        return np.concatenate([values.astype(np.float64, copy=False) for _, values, _ in chunks])
    if "t" in kinds and kinds <= {"t", "m"}:
        dated = [(values, zone) for kind, values, zone in chunks if kind == "t"]
        first, zone = dated[0]
        if all(values.dtype == first.dtype and other is zone for values, other in dated):
            parts = [
                pd.Series(values, copy=False)
                if kind == "t"
                else pd.Series(pd.NaT, index=pd.RangeIndex(len(values)), dtype=first.dtype)
                for kind, values, _ in chunks
            ]
            return pd.concat(parts, ignore_index=True).array
    objects = np.concatenate([_as_objects(pd, chunk) for chunk in chunks])
    return pd.Series(objects, dtype=object, copy=False).infer_objects().array


class _Columns:
    """Rows added one at a time, kept column by column (see the comment above)."""

    def __init__(self) -> None:
        self.rows = 0
        self._flushed = 0
        self._pending: dict[str, list[Any]] = {}
        self._chunks: dict[str, list[_Chunk]] = {}

    def add(self, row: dict[str, Any]) -> None:
        """Add a row; a column the row lacks gets NaN (as in ``from_records``)."""
        pending = self._pending
        for name in row:
            if name not in pending:
                self._new(name)
        for name, values in pending.items():
            values.append(row.get(name, _NAN))
        self.rows += 1
        if self.rows - self._flushed >= _CHUNK:
            self._flush()

    def add_column(self, name: str, values: list[Any]) -> None:
        """A whole column at once (after the rows; one value per row)."""
        self._flush()
        self._pending.pop(name, None)
        self._chunks[name] = [
            _chunk(_pandas(), values[start : start + _CHUNK]) for start in range(0, len(values), _CHUNK)
        ]

    def frame(self, pd: Any, columns: list[str]) -> pandas.DataFrame:
        """The frame of ``columns`` (each added before), its chunks released as each column is joined."""
        self._flush()
        data = {name: _join(pd, self._chunks.pop(name)) for name in columns}
        return pd.DataFrame(data, columns=columns, copy=False)

    def _new(self, name: str) -> None:
        missing = self._flushed
        self._chunks[name] = [] if not missing else [("m", _full_nan(missing), None)]
        self._pending[name] = [_NAN] * (self.rows - self._flushed)

    def _flush(self) -> None:
        if self.rows == self._flushed:
            return
        pd = _pandas()
        for name, values in self._pending.items():
            self._chunks[name].append(_chunk(pd, values))
            values.clear()
        self._flushed = self.rows


def _full_nan(length: int) -> Any:
    import numpy as np

    return np.full(length, _NAN)
