"""Learning curves of jobs that report every batch: the dashboard reads them thinned (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import json
import math
import time

from schedy.server.dashboard.service import SETTLE_SECONDS
from tests.dashboard import fill
from tests.dashboard.test_api import API, cookie_login

NAN = float("nan")


def _reporting_job(api, name: str, steps: int, value) -> str:
    """Claim a job and send it ``steps`` reports ``{"loss": value(step)}``, a thousand per request."""
    job = api.post(fill.exp_path(name) + "nextjob/", json={"heartbeat": 60})
    assert job.status_code == 200, job.text
    job_id = job.json()["id"]
    _report(api, name, job_id, range(steps), value)
    return job_id


def _report(api, name: str, job_id: str, steps, value) -> None:
    steps = list(steps)
    for start in range(0, len(steps), 1000):
        batch = [{"step": s, "metrics": {"loss": value(s)}} for s in steps[start : start + 1000]]
        answer = api.post(fill.exp_path(name) + f"jobs/{job_id}/reports/", content=json.dumps({"reports": batch}))
        assert answer.status_code == 200, answer.text


def _curves(answer) -> dict[str, list[tuple[int, float]]]:
    body = answer.json()
    out: dict[str, list[tuple[int, float]]] = {}
    for job, step, metrics in zip(body["job"], body["step"], body["metrics"], strict=True):
        out.setdefault(job, []).append((step, float(metrics["loss"])))
    return out


def test_each_jobs_reports_come_thinned_with_first_last_and_non_finite_ones_kept(service):
    api = fill.client(service.user)
    try:
        _thinned_then_new(service, api)
    finally:
        api.close()


def _thinned_then_new(service, api) -> None:
    fill.put(api, fill.exp_path("batches"), {"scheduler": {"Manual": None}})
    for _ in range(2):
        assert api.post(fill.exp_path("batches") + "jobs/", json={}).status_code == 201

    def long_value(step: int) -> float:
        return {1234: NAN, 2345: math.inf}.get(step, 1 / (step + 1))

    long = _reporting_job(api, "batches", 3000, long_value)
    short = _reporting_job(api, "batches", 10, lambda s: float(s))
    settle = service.process.database_url.startswith("postgresql")
    if settle:
        time.sleep(SETTLE_SECONDS + 0.2)  # PostgreSQL: the last seconds' reports come in a later answer
    http, _ = cookie_login(service)
    try:
        _read(http, api, long, short, settle)
    finally:
        http.close()


def _read(http, api, long: str, short: str, settle: bool) -> None:
    path = API + "experiments/batches/reports/"
    thinned = http.get(path, params={"after": 0, "perJob": 100})
    assert thinned.status_code == 200, thinned.text
    body = thinned.json()
    assert (body["more"], body["thinned"]) == (False, True)
    curves = _curves(thinned)
    assert curves[short] == [(s, float(s)) for s in range(10)]  # short enough: whole
    steps = [s for s, _ in curves[long]]
    assert steps == sorted(steps)
    assert (steps[0], steps[-1]) == (0, 2999)
    assert 100 <= len(steps) <= 102  # 100 evenly spaced, and the two non-finite ones
    evenly = [s for s in steps if s not in (1234, 2345)]
    assert max(b - a for a, b in itertools.pairwise(evenly)) <= math.ceil(2999 / 99)
    marked = dict(curves[long])
    assert math.isnan(marked[1234])
    assert marked[2345] == math.inf
    # Everything the answer considered is behind its key: the next read holds only new reports.
    _report(api, "batches", long, range(3000, 3005), lambda s: 0.5)
    if settle:
        time.sleep(SETTLE_SECONDS + 0.2)
    new = http.get(path, params={"after": body["after"], "perJob": 100})
    assert new.json()["thinned"] is False
    assert _curves(new) == {long: [(s, 0.5) for s in range(3000, 3005)]}
    # Without perJob: every report, in pages (a job's page reads its whole series this way).
    whole = http.get(path, params={"after": 0})
    assert (whole.json()["more"], whole.json()["thinned"]) == (False, False)
    assert len(_curves(whole)[long]) == 3005
    refused = http.get(path, params={"after": 0, "perJob": 1})
    assert refused.status_code == 422
