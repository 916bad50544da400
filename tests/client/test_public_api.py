"""The public surface: names, import paths and documented signatures."""

from __future__ import annotations

import inspect
import tomllib
from pathlib import Path

import schedy
from schedy import pbt


def test_all_is_pinned() -> None:
    assert sorted(schedy.__all__) == sorted(
        [
            "Artifact",
            "Experiment",
            "GridSearch",
            "Job",
            "MAXIMIZE",
            "MINIMIZE",
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
    )
    for name in schedy.__all__:
        assert hasattr(schedy, name), name


def test_public_names_are_exactly_all() -> None:
    public = {name for name in vars(schedy) if not name.startswith("_")}
    # Submodules imported under the package show up as attributes too.
    assert public - set(schedy.__all__) <= {"annotations", "testing", "server", "cli", "integrations"}


def test_documented_import_paths() -> None:
    import schedy.errors
    import schedy.pbt
    import schedy.random

    assert schedy.errors.NoJobError.__module__ == "schedy.errors"
    assert schedy.random.Uniform.__module__ == "schedy.random"
    assert schedy.pbt.Truncate.__module__ == "schedy.pbt"
    assert schedy.stopping.ASHA.__module__ == "schedy.stopping"
    assert schedy.errors.JobPruned.__module__ == "schedy.errors"


def params(obj: object) -> list[tuple[str, object]]:
    return [(p.name, p.default) for p in inspect.signature(obj).parameters.values()]  # type: ignore[arg-type]


EMPTY = inspect.Parameter.empty


def test_documented_signatures() -> None:
    assert params(schedy.SchedyDB)[:2] == [("config_path", None), ("config_override", None)]
    # The original positional parameters first; Schedy's own options are keyword-only after them.
    options = [
        ("early_stopping", None),
        ("max_jobs", None),
        ("seed", None),
        ("max_retries", None),
        ("max_run_time", None),
    ]
    assert params(schedy.Experiment) == [("name", EMPTY), ("status", "RUNNING"), *options]
    assert params(schedy.ManualSearch) == [("name", EMPTY), ("status", "RUNNING"), *options]
    assert params(schedy.RandomSearch) == [
        ("name", EMPTY),
        ("distributions", EMPTY),
        ("status", "RUNNING"),
        *options,
        ("sampler", "iid"),
    ]
    assert [name for name, _ in params(schedy.PopulationBasedTraining)] == [
        "name",
        "objective",
        "result_name",
        "exploit",
        "explore",
        "initial_distributions",
        "population_size",
        "status",
        "max_generations",
        "early_stopping",
        "max_jobs",
        "seed",
        "max_retries",
        "max_run_time",
    ]
    assert params(schedy.Job) == [
        ("job_id", EMPTY),
        ("experiment", EMPTY),
        ("hyperparameters", EMPTY),
        ("status", "QUEUED"),
        ("results", None),
        ("etag", None),
    ]
    assert params(schedy.Job.put) == [("self", EMPTY), ("safe", True)]
    assert params(schedy.Job.delete) == [("self", EMPTY), ("ensure", True)]
    assert params(schedy.Experiment.delete) == [("self", EMPTY), ("ensure", True)]
    for method in ("add_experiment", "get_experiment", "get_experiments"):
        assert callable(getattr(schedy.SchedyDB, method))
    for method in ("add_job", "next_job", "all_jobs", "get_job", "push_updates", "jobs", "to_dataframe"):
        assert callable(getattr(schedy.Experiment, method))
    assert params(schedy.Job.report) == [("self", EMPTY), ("step", EMPTY), ("metrics", EMPTY)]
    for method in ("try_run", "__enter__", "__exit__", "reports"):
        assert callable(getattr(schedy.Job, method))


def test_status_constants() -> None:
    assert (schedy.Experiment.RUNNING, schedy.Experiment.DONE) == ("RUNNING", "DONE")
    assert [schedy.Job.QUEUED, schedy.Job.RUNNING, schedy.Job.CRASHED, schedy.Job.PRUNED, schedy.Job.DONE] == [
        "QUEUED",
        "RUNNING",
        "CRASHED",
        "PRUNED",
        "DONE",
    ]
    assert (pbt.MINIMIZE, pbt.MAXIMIZE) == ("min", "max")
    assert pbt.Truncate().proportion == 0.2
    assert (pbt.Perturb().min_factor, pbt.Perturb().max_factor) == (0.8, 1.2)


def test_job_id_alias_and_service_fields() -> None:
    job = schedy.Job("abc", schedy.ManualSearch("E"), {})
    assert job.id == "abc"
    assert job.results == {}
    for attr in ("created_at", "started_at", "finished_at", "worker", "member", "generation", "parent", "attempt"):
        assert getattr(job, attr) is None


def test_version_matches_the_distribution() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert schedy.__version__ == pyproject["project"]["version"]


def test_the_client_has_no_third_party_runtime_dependency() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["dependencies"] == []
