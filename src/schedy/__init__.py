"""Schedy: a self-hosted experiment database and hyperparameter-search scheduler.

The client library. A worker is a loop::

    import schedy

    db = schedy.SchedyDB()                  # ~/.schedy/client.json or SCHEDY_* variables
    exp = db.get_experiment("MNIST")
    for job in exp.jobs():                  # claims RUNNING jobs, waits when there are none
        with job:                           # DONE at the end, CRASHED on an exception
            job.results["accuracy"] = train(**job.hyperparameters)

Public names: :class:`SchedyDB`, :class:`Experiment` and its searches
(:class:`ManualSearch`, :class:`RandomSearch`,
:class:`PopulationBasedTraining`, :class:`GridSearch`, :class:`TPESearch`), :data:`MINIMIZE` /
:data:`MAXIMIZE`, :class:`Job` (and :class:`ReportBuffer`, its reports sent together), and the modules
:mod:`schedy.random` (distributions), :mod:`schedy.pbt` (PBT strategies),
:mod:`schedy.errors` (everything Schedy raises), :mod:`schedy.stopping`
(early-stopping policies).
"""

from __future__ import annotations

from schedy import errors, pbt, random, stopping
from schedy._artifacts import Artifact
from schedy._db import SchedyDB
from schedy._experiments import (
    Experiment,
    GridSearch,
    ManualSearch,
    PopulationBasedTraining,
    RandomSearch,
    TPESearch,
)
from schedy._jobs import Job
from schedy._reports import ReportBuffer
from schedy._version import __version__
from schedy.pbt import MAXIMIZE, MINIMIZE

__all__ = [
    "MAXIMIZE",
    "MINIMIZE",
    "Artifact",
    "Experiment",
    "GridSearch",
    "Job",
    "ManualSearch",
    "PopulationBasedTraining",
    "RandomSearch",
    "ReportBuffer",
    "SchedyDB",
    "TPESearch",
    "__version__",
    "errors",
    "pbt",
    "random",
    "stopping",
]
