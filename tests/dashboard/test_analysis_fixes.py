"""Analysis views a tester found wrong, read from what real headless Chromium draws (SQLite).

The job table's order of ±Infinity and of columns mixing numbers and texts; the objective direction
guessed from a result's name (by words, the same in the service and the page); the median rule's
sampled rungs; the importance caption's count of best jobs; the notes of jobs whose objective is not a
number and of "log x" on a non-positive EDF; who declared the objective.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from schedy.server.dashboard.objective import guess, guessed_direction
from schedy.testing import ServiceProcess
from tests.dashboard import fill
from tests.dashboard.browser import Site

NAN, INF = math.nan, math.inf
MISSING = object()
LOSSES: list[Any] = [3, 10, 2, NAN, 100, INF, -5, MISSING, 1e-3, -INF, "n/a", "oops"]
HS: list[Any] = [128, "auto", 64, 512, 2, "auto", 4, 8, 16, 32, 256, 1024]
HISTORY, EDF, PARALLEL = ('figure[data-plot="history"]', 'figure[data-plot="edf"]', 'figure[data-plot="parallel"]')
IMPORTANCE, RUNGS = 'figure[data-plot="importance"]', 'figure[data-plot="rungs"]'

# name -> the direction guessed for it, by the service and by the page alike.
NAMES = {
    "val_loss": "min",
    "valLoss": "min",
    "valloss": "min",
    "runtime": "min",
    "eval_runtime": "min",
    "score_time": "min",
    "top1err": "min",
    "num_errors": "min",
    "loss2": "min",
    "MSE": "min",
    "inferred_loss": "min",
    "terrain_err": "min",
    "sentiment_acc": "max",
    "sentiment": "max",
    "terrain_iou": "max",
    "inferred_score": "max",
    "maestro": "max",
    "maestro_mae": "min",
    "f1": "max",
    "top5acc": "max",
    "valacc": "max",
    "accuracy": "max",
    "mean_reward": "max",
    "précision": "max",
    "损失": "max",
    "x": "max",
}


def test_the_service_guesses_a_direction_from_whole_words() -> None:
    assert {name: guessed_direction(name) for name in NAMES} == NAMES
    found = guess({"sentiment_acc": 0.5})
    assert found is not None
    assert found.direction == "max"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    process = ServiceProcess.start(tmp_path_factory.mktemp("fixes"))
    user = process.new_user("fixes@example.com")
    api = fill.client(user)
    fill.put(api, fill.exp_path("odd"), {"scheduler": {"Manual": None}})
    jobs = []
    for i, (loss, h) in enumerate(zip(LOSSES, HS, strict=True)):
        results: dict[str, Any] = {} if loss is MISSING else {"loss": loss}
        results["sentiment_acc"] = i / 10
        body = {"status": "DONE", "hyperparameters": {"h": h}, "results": results}
        answer = api.post(fill.exp_path("odd") + "jobs/", content=json.dumps(body))
        assert answer.status_code == 201, answer.text
        jobs.append(answer.json()["id"])
    _median(api)
    yield Site(process, user, api, jobs)
    api.close()
    process.stop()


def _median(api: Any) -> None:
    """A random search with a median rule: 4 jobs report steps 1-40, 3 worse ones are stopped at steps 4, 8, 12."""
    policy = {"median": {"resultName": "loss", "objective": "min", "warmupSteps": 0, "minJobs": 3}}
    fill.put(
        api,
        fill.exp_path("median"),
        {"scheduler": {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}}, "earlyStopping": policy},
    )
    path = fill.exp_path("median")
    for good in range(7):
        job = api.post(path + "nextjob/", json={"heartbeat": 600})
        assert job.status_code == 200, job.text
        job_id, tag = job.json()["id"], job.headers["ETag"]
        steps = range(1, 41) if good < 4 else [4 * (good - 3)]
        reports = [{"step": s, "metrics": {"loss": 1.0 if good < 4 else 10.0}} for s in steps]
        answer = api.post(path + f"jobs/{job_id}/reports/", content=json.dumps({"reports": reports}))
        assert answer.status_code == 200, answer.text
        if good < 4:
            body = {"status": "DONE", "hyperparameters": job.json()["hyperparameters"], "results": {"loss": 1.0}}
            fill.put(api, path + f"jobs/{job_id}/", body, **{"If-Match": tag})


def _order(page: Any, key: str, sort: str) -> list[str]:
    """The job ids in the table's order after a click on ``key``'s header (``sort``: "ascending", "descending")."""
    page.click(f'table.jobs th[data-key="{key}"] button')
    expect(page.locator(f'table.jobs th[data-key="{key}"]')).to_have_attribute("aria-sort", sort)
    order: list[str] = page.eval_on_selector_all(
        "table.jobs tbody tr[data-job]", "rows => rows.map((r) => r.dataset.job)"
    )
    return order


def test_the_table_sorts_infinities_and_texts_after_the_numbers_and_the_notes_count_texts(site, page) -> None:
    page.goto(site.url("#/e/odd"))
    page.wait_for_selector("body[data-ready=true] table.jobs tbody tr[data-job] >> nth=0")
    page.wait_for_selector(f"{EDF}[data-count]")
    by = dict(zip(site.jobs, range(len(LOSSES)), strict=True))

    def losses(order: list[str]) -> list[Any]:
        return [LOSSES[by[j]] for j in order]

    expected_up = [-5, 1e-3, 2, 3, 10, 100, "n/a", "oops", -INF, INF]
    up = losses(_order(page, "res.loss", "ascending"))
    assert up[:10] == expected_up
    assert math.isnan(up[10])
    assert up[11] is MISSING
    down = losses(_order(page, "res.loss", "descending"))
    assert down[:10] == [100, 10, 3, 2, 1e-3, -5, "oops", "n/a", INF, -INF]
    assert math.isnan(down[10])
    assert down[11] is MISSING
    hs = [HS[by[j]] for j in _order(page, "hp.h", "ascending")]
    assert hs == [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, "auto", "auto"]

    # Two finished jobs have a text as their loss: the plots of the objective leave them out and say so.
    for fig in (HISTORY, EDF, PARALLEL):
        assert "2 jobs whose loss is not a number left out." in page.inner_text(f"{fig} .plot-note"), fig
    # "log x" on an EDF with values ≤ 0 stays linear and says so.
    page.check(f"{EDF} input[name=logX]")
    expect(page.locator(f"{EDF} .plot-note")).to_contain_text("Log scale", timeout=5000)
    assert page.get_attribute(EDF, "data-log-x") == "false"
    assert "Log scale needs positive values: drawn linear." in page.inner_text(f"{EDF} .plot-note")
    # 6 finite losses: the best 2 are compared with all 6 (not "the best 10 %").
    page.wait_for_selector(f"{IMPORTANCE}[data-count]")
    note = page.inner_text(f"{IMPORTANCE} .plot-note")
    assert "among the best 2 (the best 10 %, at least 2) than among all 6." in note

    # The page guesses a direction as the service does, and picking a result follows it.
    module = page.evaluate(
        """async (names) => {
            const {guessedDirection} = await import("./dashboard/static/page_experiment.js");
            return Object.fromEntries(names.map((n) => [n, guessedDirection(n)]));
        }""",
        list(NAMES),
    )
    assert module == NAMES
    assert page.input_value(".objective-bar select[name=direction]") == "min"  # loss
    page.select_option(".objective-bar select[name=objective]", "sentiment_acc")
    expect(page.locator(".objective-bar select[name=direction]")).to_have_value("max", timeout=5000)


def test_median_rungs_draw_16_steps_and_the_policy_is_named_as_the_declarer(site, page) -> None:
    page.goto(site.url("#/e/median"))
    expect(page.locator(RUNGS)).to_have_attribute("data-rungs", "40")  # the summary is in
    assert page.get_attribute(RUNGS, "data-rungs") == "40"
    assert page.get_attribute(RUNGS, "data-count") == "16"
    steps = [row["step"] for row in json.loads(page.get_attribute(RUNGS, "data-points"))]
    assert len(set(steps)) == 16
    assert {1, 4, 8, 12, 40} <= set(steps)
    assert "16 of 40 steps shown" in page.inner_text(f"{RUNGS} .plot-note")
    assert page.inner_text(".objective-bar .declared-by").strip() == "(declared by the early-stopping policy)"
