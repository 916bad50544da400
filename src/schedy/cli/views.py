"""Experiments and jobs as table rows, for ``list``, ``show`` and ``push``.

The fields are those of the original CLI: ``name``, ``status``,
``scheduler`` and one field per hyperparameter distribution for an
experiment; ``id``, ``status``, then hyperparameters and results for a job.
``show`` adds what the service knows beyond them (job counts, times,
worker…) in further categories, which ``list`` leaves out so its columns
stay the original ones.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from schedy import Experiment, GridSearch, Job, PopulationBasedTraining, RandomSearch, TPESearch
from schedy._search import GridAxis, TPEParams, stored_tpe
from schedy.cli.table import DEFAULT_CATEGORY, Column
from schedy.errors import DefinitionError
from schedy.random import Choice, Distribution, FlatParam, flatten_space, parse_distribution
from schedy.stopping import StoppingPolicy

__all__ = [
    "EXPERIMENT_COLUMNS",
    "JOB_COLUMNS",
    "experiment_details",
    "experiment_row",
    "iso_time",
    "job_details",
    "job_row",
    "policy_text",
    "space_params",
    "space_values",
]

#: The columns of a list of experiments, and of jobs, even when it is empty.
EXPERIMENT_COLUMNS = [(DEFAULT_CATEGORY, "name"), (DEFAULT_CATEGORY, "status"), (DEFAULT_CATEGORY, "scheduler")]
JOB_COLUMNS = [(DEFAULT_CATEGORY, "id"), (DEFAULT_CATEGORY, "status")]

#: Job attributes the service manages, shown by ``show EXP JOB`` when set.
_JOB_EXTRAS = (
    "created_at",
    "started_at",
    "finished_at",
    "updated_at",
    "worker",
    "attempt",
    "end_reason",
    "stop_reason",
    "member",
    "generation",
    "parent",
    "lease_expires_at",
)
_STATUS_ORDER = ("QUEUED", "RUNNING", "DONE", "CRASHED", "PRUNED")


def distribution_text(dist: Distribution) -> str:
    """``loguniform ({"low": 1e-05, "high": 0.1})``, as the original CLI showed it."""
    return f"{dist.wire_name} ({json.dumps(dist.wire_args(), allow_nan=True)})"


#: How many of a grid's listed values ``list`` and ``show`` print before cutting the list short.
GRID_VALUES_SHOWN = 10


def grid_text(axis: GridAxis) -> str:
    """A grid's hyperparameter in one short line: its list, or its distribution and how many values.

    A list of more than :data:`GRID_VALUES_SHOWN` values is cut short, with its number of values.

    Example:
        >>> from schedy._search import grid_axis
        >>> grid_text(grid_axis([0.1, 0.01], "lr"))
        '[0.1, 0.01]'
        >>> grid_text(grid_axis(list(range(1000)), "n"))
        '[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, …] (1,000 values)'
        >>> grid_text(grid_axis({"integer": {"low": 1, "high": 1000000}}, "n"))
        'integer ({"low": 1, "high": 1000000}) (1,000,000 values)'

    """
    if isinstance(axis.wire, dict):
        return f"{distribution_text(parse_distribution(axis.wire, 'grid'))} ({axis.size:,} values)"
    if axis.size <= GRID_VALUES_SHOWN:
        return json.dumps(axis.wire, allow_nan=True)
    head = ", ".join(json.dumps(v, allow_nan=True) for v in axis.head(GRID_VALUES_SHOWN))
    return f"[{head}, …] ({axis.size:,} values)"


def _grid_param(name: str, axis: GridAxis) -> FlatParam:
    """A grid's hyperparameter as a distribution: its own (an integer range), or a choice of its list."""
    if isinstance(axis.wire, dict):
        return FlatParam(name, parse_distribution(axis.wire, name))
    return FlatParam(name, Choice(list(axis.wire)))


def policy_text(policy: StoppingPolicy) -> str:
    """An early-stopping policy as ``schedy add --early-stopping`` takes it, e.g. ``asha:loss:min:min_step=1,…``."""
    wire = policy.to_wire()[policy.wire_name]
    options = []
    for key, value in wire.items():
        if key in ("resultName", "objective") or value is None:
            continue
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
        options.append(f"{snake}={value}")
    return f"{policy.wire_name}:{wire['resultName']}:{wire['objective']}" + (":" + ",".join(options) if options else "")


def space_params(exp: Experiment) -> list[FlatParam]:
    """The experiment's hyperparameters, branches after their choice (:func:`~schedy.random.flatten_space`).

    A grid's list of values is given as a :class:`~schedy.random.Choice` of them, its range as the distribution
    (never listed); a manual search has none.
    """
    if isinstance(exp, GridSearch):
        return [_grid_param(name, axis) for name, axis in exp._grid_axes().items()]
    if isinstance(exp, (TPESearch, RandomSearch)):
        return flatten_space(exp.distributions)
    if isinstance(exp, PopulationBasedTraining):
        return flatten_space(exp.initial_distributions)
    return []


def space_values(exp: Experiment) -> dict[str, Distribution | list[Any]]:
    """The experiment's hyperparameters (every branch's too): a distribution, or a grid's list of values."""
    if isinstance(exp, GridSearch):
        return dict(exp.grid)
    return {param.name: param.dist for param in space_params(exp)}


def _stored_tpe(exp: Experiment) -> tuple[TPEParams, dict[str, Any], list[str]] | None:
    """A TPE search this client reads only within today's bounds: its parameters, as stored, and the notes.

    An earlier version stored it with an option allowed then (e.g. ``n_ei_candidates=5000``, 1 to 1,000
    today): the client keeps it as an unknown search, the service runs it within today's bounds, and
    ``list``/``show`` show it as stored (:func:`schedy._search.stored_tpe`).
    """
    stored = exp._unknown_scheduler
    if stored is None or stored[0] != TPESearch.scheduler_name or not isinstance(stored[1], dict):
        return None
    try:
        params, notes = stored_tpe(stored[1])
    except DefinitionError:
        return None
    return params, stored[1], notes


def _scheduler_name(exp: Experiment) -> str:
    """The scheduler's name; a search this client cannot read keeps the name it is stored under."""
    if type(exp).scheduler_name:
        return str(type(exp).scheduler_name)
    stored = exp._unknown_scheduler
    if stored is None:
        return "(unknown to this client)"
    return stored[0] if _stored_tpe(exp) is not None else f"{stored[0]} (unknown to this client)"


def experiment_row(exp: Experiment) -> dict[Column, Any]:
    """``name``, ``status``, ``scheduler``, and each hyperparameter's distribution (a grid: its values)."""
    row: dict[Column, Any] = {
        (DEFAULT_CATEGORY, "name"): exp.name,
        (DEFAULT_CATEGORY, "status"): exp.status,
        (DEFAULT_CATEGORY, "scheduler"): _scheduler_name(exp),
    }
    distributions: Mapping[str, Distribution] = {}
    stored = _stored_tpe(exp)
    if stored is not None:
        distributions = stored[0].distributions
    elif isinstance(exp, (RandomSearch, TPESearch)):
        distributions = exp.distributions
    elif isinstance(exp, PopulationBasedTraining):
        distributions = exp.initial_distributions
    elif isinstance(exp, GridSearch):
        for name, axis in exp._grid_axes().items():
            row[("hyperparameter", name)] = grid_text(axis)  # a long list cut short, a range as its distribution
    for name, dist in distributions.items():
        row[("hyperparameter", name)] = distribution_text(dist)
    return row


#: The TPE options ``show`` prints (those not at their defaults): wire key → label.
_TPE_LABELS = {
    "nStartupJobs": "startup jobs",
    "startup": "startup",
    "nEiCandidates": "ei candidates",
    "priorWeight": "prior weight",
    "maxObservations": "max observations",
}


def experiment_details(
    exp: Experiment,
    counts: Mapping[str, int] | None,
    created: int | None = None,
    rungs: str | None = None,
    best: Mapping[Column, str] | None = None,
) -> dict[Column, Any]:
    """:func:`experiment_row`, plus the search settings, early stopping, budget, job counts and times (``show``).

    ``created``: how many jobs the search created (what a budget counts), shown beside a budget.
    ``rungs``: the early-stopping rungs so far, shown after the policy.
    ``best``: lines on the best job, shown after the job counts.
    """
    row = experiment_row(exp)
    # A TPE search stored past today's bounds is shown as stored, with a note on what the service runs.
    stored = (exp.params, exp.params.to_wire(), []) if isinstance(exp, TPESearch) else _stored_tpe(exp)
    if stored is not None:
        params, tpe, notes = stored
        row[("search", "objective")] = f"{params.objective} {params.result_name}"
        # Labelled as the other lines are (words), --startup-jobs as "startup jobs"; options left out are defaults.
        for key, label in _TPE_LABELS.items():
            if key in tpe:
                row[("search", label)] = tpe[key]
        if notes:
            row[("search", "note")] = "; ".join(notes)
    elif isinstance(exp, RandomSearch) and exp.sampler != "iid":
        row[("search", "sampler")] = exp.sampler
    elif isinstance(exp, GridSearch):
        cells = 1
        for axis in exp._grid_axes().values():
            cells *= axis.size
        row[("search", "cells")] = cells
    policy = exp.early_stopping
    if policy is not None:
        row[("search", "early stopping")] = policy_text(policy)
        if rungs:
            row[("search", "rungs")] = rungs
    if exp.max_jobs is not None:
        row[("search", "max jobs")] = exp.max_jobs
        if created is not None:
            row[("search", "jobs made")] = created  # by the search: hand-added jobs and retries not counted
    if isinstance(exp, PopulationBasedTraining):
        pbt = "pbt"
        row[(pbt, "objective")] = f"{exp.objective} {exp.result_name}"
        row[(pbt, "exploit")] = f"truncate {exp.exploit.proportion}"
        for name, perturb in exp.explore.items():
            row[(pbt, f"explore {name}")] = f"perturb by a factor in [{perturb.min_factor}, {perturb.max_factor})"
        if exp.population_size is not None:
            row[(pbt, "population")] = exp.population_size
        if exp.max_generations is not None:
            row[(pbt, "max generations")] = exp.max_generations
    if counts is not None:
        ordered = sorted(counts, key=lambda s: (_STATUS_ORDER.index(s) if s in _STATUS_ORDER else 99, s))
        row[("service", "jobs")] = ", ".join(f"{counts[s]} {s}" for s in ordered if counts[s]) or "none"
    row.update(best or {})
    for key in ("createdAt", "updatedAt"):
        if isinstance(exp.extra.get(key), str):
            row[("service", "created" if key == "createdAt" else "updated")] = exp.extra[key]
    for key, label in (("seed", "seed"), ("maxRetries", "max retries"), ("maxRunTime", "max run time")):
        if exp.extra.get(key) is not None:
            row[("service", label)] = exp.extra[key]
    return row


def job_row(job: Job) -> dict[Column, Any]:
    """``id``, ``status``, then one field per hyperparameter and per result."""
    row: dict[Column, Any] = {(DEFAULT_CATEGORY, "id"): job.job_id, (DEFAULT_CATEGORY, "status"): job.status}
    for name, value in job.hyperparameters.items():
        row[("hyperparameter", name)] = value
    for name, value in job.results.items():
        row[("result", name)] = value
    return row


def job_details(job: Job) -> dict[Column, Any]:
    """:func:`job_row`, plus what the service records (times, worker, attempt…), for ``show``."""
    row = job_row(job)
    for attr in _JOB_EXTRAS:
        value = getattr(job, attr)
        if value is not None:
            row[("service", attr)] = iso_time(value) if isinstance(value, datetime) else value
    return row


def iso_time(moment: datetime) -> str:
    """As the service writes times (``2024-05-01T12:00:00.000Z``)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
