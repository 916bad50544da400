"""The dashboard's learning-curve reports (``perJob``) stay under the answer's cap however many jobs reported.

The real :class:`~schedy.server.dashboard.service.Dashboard` on a real store (SQLite and PostgreSQL), its cap
lowered: more jobs than the cap holds at 16 reports each must come in several answers (``more``), none over
the cap, and together hold each job's curve (its first, last and non-finite reports among them).
"""

from __future__ import annotations

import json
import math
from itertools import pairwise

import pytest
from sqlalchemy import insert

from schedy.server.dashboard import service
from schedy.server.dashboard.service import Dashboard
from schedy.server.store import Store, report_samples, stats, users
from schedy.server.store import experiments as store_experiments
from schedy.server.store.tables import jobs, reports

CAP = 400  # the lowered REPORTS_PER_ANSWER
JOBS = 100  # 100 jobs at 16 reports at least: 1,600 to send, four times the cap
SHORT, LONG = 5, 60  # odd jobs report 5 steps, even jobs 60 (thinned to 16)



@pytest.fixture(autouse=True)
def _settled(monkeypatch) -> None:
    """Reports written by this test's own store (its times made up) are all committed: none is held back.

    tests/server/test_dashboard_reports_settle.py tests the holding back.
    """
    monkeypatch.setattr(service.store_reports, "unsettled_from", lambda *args: None)

def _fill(store: Store, *, interleaved: bool, long: bool = True) -> int:
    """A user with experiment ``wide``: JOBS jobs and their reports (one NaN, one Infinity); the user's id."""
    with store.write() as conn:
        owner = users.create(conn, "wide@example.com", None)
        row = store_experiments.create(conn, owner, "wide", "RUNNING", "Manual", "null", "{}")
        assert row is not None
        exp = int(row.id)
        rows = [
            {"job_id": f"j{i}", "status": "DONE", "hyperparameters": "{}", "results": "{}", "created_at": 1000.0 + i}
            for i in range(JOBS)
        ]
        assert stats.insert_many(conn, exp, rows) == JOBS
        pks = dict(conn.execute(jobs.select().with_only_columns(jobs.c.job_id, jobs.c.pk)).all())

        def metrics(i: int, step: int) -> str:
            value = {(10, 33): "NaN", (20, 0): "Infinity"}.get((i, step), repr(i + 1 / (step + 1)))
            return '{"loss":' + value + "}"

        def one(i: int, step: int) -> dict[str, object]:
            return {
                "experiment_id": exp,
                "job_pk": pks[f"j{i}"],
                "step": step,
                "metrics": metrics(i, step),
                "created_at": 2000.0,
                "attempt": 1,
            }

        steps = lambda i: SHORT if i % 2 or not long else LONG  # noqa: E731
        if interleaved:  # every job reports at once: each one's reports spread over the whole range of keys
            sent = [one(i, s) for s in range(LONG) for i in range(JOBS) if s < steps(i)]
        else:  # one job after the other
            sent = [one(i, s) for i in range(JOBS) for s in range(steps(i))]
        conn.execute(insert(reports), sent)
    return owner


def _read_all(dashboard: Dashboard, owner: int) -> tuple[list[dict], dict[str, list[tuple[int, float]]]]:
    answers, after = [], 0
    while True:
        body = json.loads(dashboard.reports(owner, "wide", after, per_job=500))
        answers.append(body)
        assert body["after"] >= after
        after = body["after"]
        if not body["more"]:
            break
        assert len(answers) < 40, "the answers never end"
    curves: dict[str, list[tuple[int, float]]] = {}
    for body in answers:
        for job, step, metrics in zip(body["job"], body["step"], body["metrics"], strict=True):
            curves.setdefault(job, []).append((step, float(metrics["loss"])))
    return answers, curves


@pytest.mark.parametrize("interleaved", [False, True], ids=["one-after-the-other", "interleaved"])
def test_curves_of_more_jobs_than_the_cap_holds_come_in_answers_under_it(store, monkeypatch, interleaved):
    monkeypatch.setattr(service, "REPORTS_PER_ANSWER", CAP)
    owner = _fill(store, interleaved=interleaved)
    dashboard = Dashboard(store)
    answers, curves = _read_all(dashboard, owner)
    assert len(answers) > 1
    assert all(len(body["job"]) <= CAP for body in answers)
    assert answers[0]["thinned"] is True
    assert sorted(curves) == sorted(f"j{i}" for i in range(JOBS))  # every job's curve, none lost between answers
    for i in range(JOBS):
        steps = [s for s, _ in curves[f"j{i}"]]
        assert steps == sorted(steps)
        assert len(set(steps)) == len(steps)
        if i % 2:
            assert steps == list(range(SHORT))  # short: whole
        else:
            assert (steps[0], steps[-1]) == (0, LONG - 1)  # the first and the last, however thinned
            assert report_samples.MIN_PER_JOB <= len(steps) <= LONG
            assert max(b - a for a, b in pairwise(steps)) <= math.ceil((LONG - 1) / (report_samples.MIN_PER_JOB - 1))
    assert math.isnan(dict(curves["j10"])[33])  # the non-finite values are kept
    assert dict(curves["j20"])[0] == math.inf
    # Not every report of the long jobs: thinned, so the answers together hold far fewer than were sent.
    assert sum(len(c) for c in curves.values()) < (JOBS // 2) * (SHORT + LONG) * 0.6
    # Everything considered is behind the last key: a new read holds only what came since.
    again = json.loads(dashboard.reports(owner, "wide", answers[-1]["after"], per_job=500))
    assert (again["job"], again["more"]) == ([], False)


def test_few_jobs_still_come_in_one_answer(store, monkeypatch):
    """Under the cap, one answer as before: each job thinned to what its share allows."""
    monkeypatch.setattr(service, "REPORTS_PER_ANSWER", 5_000)
    owner = _fill(store, interleaved=True)
    answers, curves = _read_all(Dashboard(store), owner)
    assert len(answers) == 1
    assert (answers[0]["more"], answers[0]["thinned"]) == (False, True)
    assert len(curves["j0"]) == 50  # 5,000 shared by 100 jobs
    assert curves["j1"] == [(s, 1 + 1 / (s + 1)) for s in range(SHORT)]


def test_short_curves_past_the_cap_come_whole_in_answers_under_it(store, monkeypatch):
    """No job to thin, but more reports than the cap: the first ones by key, then the next ones."""
    monkeypatch.setattr(service, "REPORTS_PER_ANSWER", 120)
    owner = _fill(store, interleaved=True, long=False)
    answers, curves = _read_all(Dashboard(store), owner)
    assert [len(body["job"]) for body in answers] == [120, 120, 120, 120, 20]
    assert not any(body["thinned"] for body in answers)
    assert curves.pop("j20")[0] == (0, math.inf)
    assert curves == {f"j{i}": [(s, i + 1 / (s + 1)) for s in range(SHORT)] for i in range(JOBS) if i != 20}
