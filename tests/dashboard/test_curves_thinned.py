"""The learning curves of a job that reports every batch, drawn in real Chromium from thinned reports."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest

from schedy.testing import ServiceProcess
from tests.dashboard import fill
from tests.dashboard.browser import Site, is_red, pixels, points

CURVES = 'figure[data-plot="curves"]'
PER_JOB = 500  # reports.js: the points the page keeps per job


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    process = ServiceProcess.start(tmp_path_factory.mktemp("thinned"))
    user = process.new_user("erin@example.com")
    api = fill.client(user)
    yield Site(process, user, api, None)
    api.close()
    process.stop()


def _report(api: Any, job_id: str, steps: range) -> None:
    for start in range(steps.start, steps.stop, 1000):
        batch = [
            {"step": s, "metrics": {"loss": math.nan if s == 1234 else 1 / (s + 1)}}
            for s in range(start, min(start + 1000, steps.stop))
        ]
        answer = api.post(fill.exp_path("batches") + f"jobs/{job_id}/reports/", content=json.dumps({"reports": batch}))
        assert answer.status_code == 200, answer.text


def _drawn(page: Any, last_step: int) -> dict[str, Any]:
    page.wait_for_function(
        "([fig, last]) => { const p = JSON.parse(document.querySelector(fig)?.dataset.points || '[]');"
        " return p.length && p[0].steps[p[0].steps.length - 1] === last; }",
        arg=[CURVES, last_step],
        timeout=30_000,
    )
    (curve,) = points(page, CURVES)
    return curve


def test_a_job_of_thousands_of_reports_is_drawn_from_a_few_hundred_with_its_nan_marked(site, page):
    api = site.api
    fill.put(api, fill.exp_path("batches"), {"scheduler": {"Manual": None}})
    assert api.post(fill.exp_path("batches") + "jobs/", json={}).status_code == 201
    job = api.post(fill.exp_path("batches") + "nextjob/", json={"heartbeat": 60})
    job_id = job.json()["id"]
    _report(api, job_id, range(3000))
    page.goto(site.url("#/e/batches"))
    page.wait_for_selector(
        f'body[data-ready=true] {CURVES} select[name=curve] option[value="rep:loss"]', state="attached"
    )
    curve = _drawn(page, 2999)
    steps, values = curve["steps"], curve["values"]
    assert steps[0] == 0
    assert PER_JOB <= len(steps) <= PER_JOB + 1  # evenly spaced, and the NaN
    assert values[steps.index(1234)] == "NaN"  # the NaN is kept, and marked on the top edge
    x = page.eval_on_selector(CURVES, "(fig, s) => fig.project(s, 0)[0]", 1234)
    marks = [p for p in pixels(page, CURVES, (x - 4, 12, x + 4, 20)) if p[3] > 60]
    assert any(is_red(p) for p in marks)
    # The page stays open while the job reports on: the new reports arrive thinned, and the page keeps
    # at most about twice PER_JOB points per job, thinning its own list beyond that.
    _report(api, job_id, range(3000, 6000))
    assert len(_drawn(page, 5999)["steps"]) <= 2 * PER_JOB + 1
    _report(api, job_id, range(6000, 9000))
    curve = _drawn(page, 8999)
    assert PER_JOB <= len(curve["steps"]) <= 2 * PER_JOB + 1
    assert 1234 in curve["steps"]
    assert curve["steps"] == sorted(curve["steps"])
