"""A policy state built in bulk from every report equals the state fed report by report.

A service process builds its state from every stored report at its first report to an experiment (after a
restart: 2M reports at 100k jobs of 20), with :meth:`StoppingPolicy.build`; every later decision must be the one
the state fed one report at a time would give.
"""

from __future__ import annotations

import math
import random
from typing import Any

import httpx
import numpy as np
import pytest

import schedy
from schedy import errors
from schedy.random import Uniform
from schedy.server.service.reports import _value, _values, run_name
from schedy.server.stopping import ASHA, Hyperband, Median, Report, StoppingPolicy
from schedy.server.stopping import median as median_module
from schedy.server.stopping.base import ReportArrays
from schedy.stopping import ASHA as ClientASHA
from schedy.stopping import Hyperband as ClientHyperband
from schedy.stopping import Median as ClientMedian
from schedy.testing import ServiceProcess

POLICIES = [
    ASHA("loss", "min"),
    ASHA("acc", "max", min_step=2, reduction_factor=2, max_step=30),
    Hyperband("loss", "min", 1, 27),
    Hyperband("acc", "max", 2, 50, reduction_factor=2),
    Median("loss", "min", min_jobs=3),
    Median("acc", "max", warmup_steps=2, min_jobs=1),
    Median("loss", "min", min_jobs=3, compare="value"),
]


def random_reports(rng: random.Random, jobs: int, last_step: int = 30) -> list[tuple[str, int, float | None]]:
    """Interleaved jobs reporting increasing (sometimes skipped or repeated) steps; NaN, missing, ±inf and ties."""
    steps = {f"job-{i}": 0 for i in range(jobs)}
    reports = []
    while steps:
        job = rng.choice(sorted(steps))
        step = steps[job] + rng.choice([0, 1, 1, 1, 2, 5])
        value = rng.choice(
            [None, math.nan, math.inf, -math.inf, 1e300, -1e300, float(rng.randint(0, 3))] + [rng.random()] * 12
        )
        reports.append((job, step, value))
        steps[job] = step
        if step >= last_step or rng.random() < 0.02:
            del steps[job]
    return reports


def arrays(reports: list[tuple[str, int, float | None]]) -> ReportArrays:
    ids = sorted({job for job, _, _ in reports}, reverse=True)  # job indices need not follow first reports
    index = {job: i for i, job in enumerate(ids)}
    return ReportArrays(
        ids,
        np.array([index[job] for job, _, _ in reports], dtype=np.int64),
        np.array([step for _, step, _ in reports], dtype=np.int64),
        np.array([math.nan if value is None else value for _, _, value in reports], dtype=np.float64),
    )


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: f"{p.name}-{p.objective}")
@pytest.mark.parametrize("seed", range(12))
def test_a_state_built_in_bulk_decides_as_the_one_fed_report_by_report(policy: StoppingPolicy, seed: int):
    rng = random.Random(seed)
    history = random_reports(rng, rng.choice([0, 1, 5, 40, 150]))
    fed = policy.new_state()
    verdicts = [policy.observe(fed, Report(*report)) for report in history]
    built = policy.build(arrays(history))
    assert built.state == fed
    assert policy.rungs(built.state) == policy.rungs(fed)
    first_stops: dict[str, tuple[int, Any]] = {}
    for position, ((job, _, _), verdict) in enumerate(zip(history, verdicts, strict=True)):
        if verdict.stop:
            first_stops.setdefault(job, (position, verdict))
    ids = arrays(history).job_ids
    assert {ids[j]: stop for j, stop in built.stops.items()} == first_stops
    # The next reports (old jobs going on, new ones) get the same verdicts from both states.
    more = [(f"new-{job}" if rng.random() < 0.5 else job, step, value) for job, step, value in random_reports(rng, 30)]
    assert [policy.observe(built.state, Report(*r)) for r in more] == [policy.observe(fed, Report(*r)) for r in more]
    assert built.state == fed


def sparse_reports(rng: random.Random, jobs: int, last_step: int = 20) -> list[tuple[str, int, float | None]]:
    """Interleaved jobs whose values are often missing or non-finite: a metric sent every second step, a first
    report without it, jobs that diverge for good (what the median rule's running averages must skip)."""
    kinds = {f"job-{i}": rng.choice(["every", "odd", "even", "diverges", "never", "noisy"]) for i in range(jobs)}
    steps = dict.fromkeys(kinds, 0)
    diverged: set[str] = set()
    reports = []
    while steps:
        job = rng.choice(sorted(steps))
        step = steps[job] + rng.choice([0, 1, 1, 1, 2])
        kind = kinds[job]
        if kind == "diverges" and rng.random() < 0.2:
            diverged.add(job)
        value: float | None = rng.choice([0.1, 0.2, 0.5, 1.0, rng.random(), rng.random()])
        if (
            (kind == "odd" and step % 2 == 0)
            or (kind == "even" and step % 2 == 1)
            or job in diverged
            or kind == "never"
            or (kind == "noisy" and rng.random() < 0.4)
        ):
            value = rng.choice([None, math.nan, math.inf, -math.inf])
        reports.append((job, step, value))
        steps[job] = step
        if step >= last_step or rng.random() < 0.02:
            del steps[job]
    return reports


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: f"{p.name}-{p.objective}")
@pytest.mark.parametrize("seed", range(8))
def test_a_state_built_in_bulk_decides_as_the_one_fed_with_many_missing_and_non_finite_values(
    policy: StoppingPolicy, seed: int
):
    rng = random.Random(1000 + seed)
    history = sparse_reports(rng, rng.choice([1, 6, 40, 120]))
    fed = policy.new_state()
    verdicts = [policy.observe(fed, Report(*report)) for report in history]
    built = policy.build(arrays(history))
    assert built.state == fed
    assert policy.rungs(built.state) == policy.rungs(fed)
    ids = arrays(history).job_ids
    first_stops: dict[str, tuple[int, Any]] = {}
    for position, ((job, _, _), verdict) in enumerate(zip(history, verdicts, strict=True)):
        if verdict.stop:
            first_stops.setdefault(job, (position, verdict))
    assert {ids[j]: stop for j, stop in built.stops.items()} == first_stops
    more = [(f"new-{job}" if rng.random() < 0.5 else job, step, value) for job, step, value in sparse_reports(rng, 30)]
    assert [policy.observe(built.state, Report(*r)) for r in more] == [policy.observe(fed, Report(*r)) for r in more]
    assert built.state == fed


@pytest.mark.parametrize("seed", range(6))
def test_the_median_rules_build_in_small_blocks_decides_the_same(monkeypatch, seed):
    """The walk leaves out, block by block, the reports of jobs stopped before: blocks of 5 reports here."""
    monkeypatch.setattr(median_module, "_BLOCK", 5)
    policy = Median("loss", "min", min_jobs=2)
    history = random_reports(random.Random(seed), 60)
    fed = policy.new_state()
    verdicts = [policy.observe(fed, Report(*report)) for report in history]
    built = policy.build(arrays(history))
    assert built.state == fed
    assert len(built.stops) == len({job for (job, _, _), v in zip(history, verdicts, strict=True) if v.stop}) > 0


def test_the_default_build_feeds_the_reports_one_by_one():
    policy = ASHA("loss", "min")
    history = random_reports(random.Random(3), 50)
    fed = policy.new_state()
    for report in history:
        policy.observe(fed, Report(*report))
    assert StoppingPolicy.build(policy, arrays(history)).state == fed


def test_metrics_decoded_in_bulk_give_the_values_decoded_one_by_one():
    odd = ["1", "true", "null", "NaN", "-Infinity", "Infinity", '"x"', "1e400", str(10**400), "-0.0", "[1]", "0.1"]
    metrics = [f'{{"loss":{value},"acc":0.5}}' for value in odd] + ['{"acc":0.5}', "{}"]
    one_by_one = [_value(text, "loss") for text in metrics]
    expected = np.array([math.nan if value is None else value for value in one_by_one])
    assert np.array_equal(_values(metrics, "loss"), expected, equal_nan=True)
    assert _values(['{"loss":0.25}', '{"loss":0.5}'], "loss").tolist() == [0.25, 0.5]


SPACE = {"x": Uniform(0, 1)}


def _run_name(job: Any) -> str:
    """The name the service's policy knows the job's first attempt by (its pk, which its ETag carries)."""
    pk, _version = job.etag.removeprefix("W/").strip('"').split("-")
    return run_name(int(pk, 16), 1)


@pytest.mark.parametrize(
    "policy",
    [ClientASHA("loss", "min", 1, 2), ClientHyperband("loss", "min", 1, 9, 2), ClientMedian("loss", "min", min_jobs=3)],
    ids=["asha", "hyperband", "median"],
)
def test_a_restarted_service_process_decides_the_next_reports_as_the_old_one_would(service, tmp_path, policy):
    """A second process on the same database builds its state from the stored reports at its first report."""
    server_policy = {
        ClientASHA: ASHA("loss", "min", 1, 2),
        ClientHyperband: Hyperband("loss", "min", 1, 9, 2),
        ClientMedian: Median("loss", "min", min_jobs=3),
    }[type(policy)]
    reference = server_policy.new_state()
    rng = random.Random(7)

    started = [0]

    def run_jobs(experiment: Any, jobs: int) -> list[bool]:
        """Each job reports steps 1 … 9 until told to stop; what the service answered, and the reference.

        Later jobs tend to be better (a search that improves), so some go on past their first rungs or steps
        in the second process too: the median of the jobs the rule kept falls as it keeps the better ones.
        """
        answers = []
        for _ in range(jobs):
            scale = 0.93 ** started[0]
            started[0] += 1
            with experiment.next_job() as job:
                for step in range(1, 10):
                    value = rng.choice([None, math.nan, *(scale * rng.random() for _ in range(3))])
                    stop = job.report(step, loss=value)
                    expected = server_policy.observe(reference, Report(_run_name(job), step, value))
                    answers.append(stop == expected.stop)
                    if stop:
                        raise errors.JobPruned()
        return answers

    config = dict(service.client_config)
    with schedy.SchedyDB(config_override=config) as db:
        db.add_experiment(schedy.RandomSearch("restarted", SPACE, early_stopping=policy))
        assert all(run_jobs(db.get_experiment("restarted"), 40))
    second = ServiceProcess.start(tmp_path / "second", service.process.database_url)
    try:
        with schedy.SchedyDB(config_override={**config, "root": second.url}) as db:
            experiment = db.get_experiment("restarted")
            answers = run_jobs(experiment, 15)
            assert all(answers)
            assert len(answers) > 15
            stopped = sum(j.status == "PRUNED" for j in experiment.all_jobs())
            assert 0 < stopped < 55
        # The new process's state counts every report once (none fed twice by its first sweep, PostgreSQL).
        token = httpx.post(second.url + "token/", json={"email": service.email, "token": service.api_token})
        summary = httpx.get(
            second.url + "experiments/restarted/stopping/",
            headers={"Authorization": f"Bearer {token.json()['token']}"},
        )
        assert summary.json()["rungs"] == server_policy.rungs(reference)
    finally:
        second.stop()
