"""The experiment page's analysis and housekeeping, in real headless Chromium (issue 15).

Hyperparameter importance drawn as bars, notes kept by the service, the table
downloaded as CSV and JSON, an empty experiment explained, the search space
shown, a paused experiment told apart from a finished one, dark mode.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import schedy
from schedy.random import Uniform
from schedy.testing import ServiceProcess
from tests.dashboard import fill
from tests.dashboard.browser import Site, near, pixels, rgb

ACCENT = (9, 105, 218)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    process = ServiceProcess.start(tmp_path_factory.mktemp("analysis"))
    user = process.new_user("dana@example.com")
    api = fill.client(user)
    jobs = fill.random_search(api, "rs", 120)
    yield Site(process, user, api, jobs)
    api.close()
    process.stop()


def ready(page: Any, site: Site, fragment: str) -> None:
    page.goto(site.url(fragment))
    page.wait_for_selector("body[data-ready=true]")


def test_importance_is_drawn_as_bars_naming_the_method_the_loss_driver_first(site, page):
    ready(page, site, "#/e/rs")
    fig = 'figure[data-plot="importance"]'
    page.wait_for_selector(f"{fig}[data-count]")
    assert "PED-ANOVA" in page.inner_text(f"{fig} figcaption")
    assert page.get_attribute(fig, "data-objective") == "loss"
    drawn = json.loads(page.get_attribute(fig, "data-points"))
    assert drawn[0]["name"] == "lr"
    bars = json.loads(page.get_attribute(fig, "data-bars"))
    assert bars[0]["w"] > bars[1]["w"] >= bars[2]["w"]
    # The bars are painted: the middle of each holds the accent colour, and past the longest one's end, none.
    for bar in bars:
        if bar["w"] >= 4:
            mid = pixels(page, fig, (bar["x"] + bar["w"] / 2, bar["y"] + bar["h"] / 2) * 2)
            assert near(mid[0], ACCENT), (bar, mid)
    longest = bars[0]
    end = longest["x"] + longest["w"]
    past = pixels(page, fig, (end + 40, longest["y"] + 4, end + 42, longest["y"] + 6))
    assert not any(near(p, ACCENT) and p[3] > 60 for p in past)
    # Another objective, another answer.
    page.select_option("select[name=objective]", "accuracy")
    page.wait_for_selector(f'{fig}[data-objective="accuracy"]')
    assert page.get_attribute(fig, "data-direction") == "max"


def test_notes_edited_in_the_page_are_kept_by_the_service_after_a_reload(site, page):
    ready(page, site, "#/e/rs")
    notes = 'section[data-notes="experiment"]'
    page.wait_for_selector(f"{notes}[data-loaded=true]")
    assert page.input_value(f"{notes} textarea") == ""
    page.fill(f"{notes} textarea", "lr above 1e-2 diverges\nnext: wider layers")
    page.click(f'{notes} button[data-action="save-note"]')
    page.wait_for_selector(f'{notes}[data-saved]:not([data-saved=""])')
    page.reload()
    page.wait_for_selector(f"{notes}[data-loaded=true]")
    assert page.input_value(f"{notes} textarea") == "lr above 1e-2 diverges\nnext: wider layers"
    # When it was saved, written as every other time on the page (YYYY-MM-DD HH:MM:SS).
    assert re.fullmatch(r"saved \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", page.inner_text(f"{notes} .note-status").strip())
    answer = site.api.get(fill.exp_path("rs") + "notes/")
    assert answer.json()["text"] == "lr above 1e-2 diverges\nnext: wider layers"

    job = site.jobs[0]["id"]
    ready(page, site, f"#/e/rs/j/{job}")
    mine = 'section[data-notes="job"]'
    page.wait_for_selector(f"{mine}[data-loaded=true]")
    page.fill(f"{mine} textarea", "the first job")
    page.press(f"{mine} textarea", "Control+Enter")
    page.wait_for_selector(f'{mine}[data-saved]:not([data-saved=""])')
    page.reload()
    page.wait_for_selector(f"{mine}[data-loaded=true]")
    assert page.input_value(f"{mine} textarea") == "the first job"


def test_the_table_as_filtered_and_sorted_downloads_as_csv_and_json_with_the_notes(site, page):
    done = [j for j in site.jobs if j["status"] == "DONE"]
    noted = done[3]["id"]
    path = fill.exp_path("rs") + f"jobs/{noted}/notes/"
    assert site.api.put(path, content=json.dumps({"text": 'odd, "see logs"'})).status_code == 200
    ready(page, site, "#/e/rs?sort=res.loss&dir=asc&status=DONE")
    page.wait_for_selector("table.jobs thead th[data-key=note]")  # a note column once a job has one
    page.wait_for_selector("table.jobs tbody tr[data-job]")
    with page.expect_download() as caught:
        page.click('button[data-action="download-csv"]')
    csv_file = caught.value
    assert csv_file.suggested_filename == "rs-jobs.csv"
    lines = Path(csv_file.path()).read_text(encoding="utf-8").splitlines()
    header = next(csv.reader([lines[0]]))
    assert header[:2] == ["id", "status"]
    hps = {"hyperparameters.lr", "hyperparameters.layers", "hyperparameters.dropout"}
    assert hps | {"results.loss", "results.accuracy"} <= set(header)  # as schedy export names them
    rows = [dict(zip(header, r, strict=True)) for r in csv.reader(lines[1:])]
    assert len(rows) == len(done)
    assert {r["status"] for r in rows} == {"DONE"}
    finite = sorted((j for j in done if math.isfinite(j["results"]["loss"])), key=lambda j: j["results"]["loss"])
    assert [r["id"] for r in rows[: len(finite)]] == [j["id"] for j in finite]  # sorted as shown
    by_id = {j["id"]: j for j in done}
    first = rows[0]
    assert float(first["hyperparameters.lr"]) == by_id[first["id"]]["hyperparameters"]["lr"]  # in full, not rounded
    assert {r["results.loss"] for r in rows[len(finite) :]} == {"nan", "inf"}  # as schedy export writes them
    assert json.loads(first["results.loss_curve"]) == by_id[first["id"]]["results"]["loss_curve"]
    assert next(r for r in rows if r["id"] == noted)["note"] == 'odd, "see logs"'

    with page.expect_download() as caught:
        page.click('button[data-action="download-json"]')
    body = json.loads(Path(caught.value.path()).read_text(encoding="utf-8"))
    assert caught.value.suggested_filename == "rs-jobs.json"
    assert body["count"] == len(done)
    assert [j["id"] for j in body["jobs"]] == [r["id"] for r in rows]
    assert body["jobs"][0]["hyperparameters"] == by_id[first["id"]]["hyperparameters"]
    assert body["sort"] == {"key": "res.loss", "dir": 1}
    assert next(j for j in body["jobs"] if j["id"] == noted)["note"] == 'odd, "see logs"'


SPACE = {
    "lr": {"loguniform": {"low": 1e-4, "high": 0.1}},
    "model": {
        "choice": {
            "values": ["mlp", "cnn"],
            "branches": {"mlp": {"width": {"integer": {"low": 16, "high": 512, "log": True}}}},
        }
    },
}


def test_an_empty_experiment_says_there_is_no_job_yet_how_to_start_workers_and_shows_its_space(site, page):
    fill.put(
        site.api,
        fill.exp_path("empty one"),
        {"scheduler": {"TPESearch": {"resultName": "loss", "objective": "min", "distributions": SPACE}}},
    )
    ready(page, site, "#/e/empty%20one")
    page.wait_for_selector("[data-empty=true]")
    text = page.inner_text("[data-empty=true]")
    assert "No jobs yet" in text
    assert 'get_experiment("empty one")' in text
    assert "schedy run -n 4 'empty one' python train.py %h" in text
    assert not page.is_visible("table.jobs")  # no blank bordered box
    assert not page.is_visible("section.plots")  # nor empty axes
    space = page.locator("details.search-space")
    assert space.get_attribute("open") is not None  # open while there is nothing else to see
    assert "Search space (TPESearch, 3 hyperparameters)" in space.inner_text()
    rows = page.eval_on_selector_all(
        "table.space tr", "rs => rs.map(r => [r.dataset.hyperparameter, r.querySelector('td').innerText])"
    )
    assert rows == [
        ["lr", "loguniform(low=0.0001, high=0.1)"],
        ["model", 'choice(values=["mlp", "cnn"])'],
        ["width", "integer(low=16, high=512, log=true) only when model = mlp"],  # a branch says whose
    ]
    # The first job arrives: the table replaces the note, the space folds away but stays.
    body = {"status": "QUEUED", "hyperparameters": {"lr": 0.01, "model": "cnn"}}
    assert site.api.post(fill.exp_path("empty one") + "jobs/", content=json.dumps(body)).status_code == 201
    page.wait_for_selector("table.jobs tbody tr[data-job]")
    assert page.is_visible("section.plots")
    assert page.locator("[data-empty=true]").count() == 0
    assert page.locator("details.search-space").get_attribute("open") is None


def test_a_grid_search_says_how_many_cells_it_has_beside_its_jobs(site, page):
    grid = {"lr": [0.1, 0.01, 0.001], "layers": [1, 2, 3, 4], "opt": ["sgd", "adam"]}
    fill.put(site.api, fill.exp_path("grid"), {"scheduler": {"GridSearch": grid}})
    for _ in range(5):
        answer = site.api.post(fill.exp_path("grid") + "nextjob/", content=json.dumps({"worker": "w"}))
        assert answer.status_code == 200, answer.text
    ready(page, site, "#/e/grid")
    meta = page.inner_text("header .meta, .meta")
    assert "5 jobs of 24 cells" in meta, meta
    assert "Search space (GridSearch, 3 hyperparameters, 24 cells)" in page.inner_text("details.search-space summary")


def test_the_search_space_section_says_how_the_search_decides_and_its_options(site, page):
    tpe = {"TPESearch": {"resultName": "loss", "objective": "min", "distributions": SPACE, "nStartupJobs": 20}}
    stopping = {"asha": {"resultName": "loss", "objective": "min", "minStep": 1, "reductionFactor": 3}}
    fill.put(site.api, fill.exp_path("configured"), {"scheduler": tpe, "seed": 7, "maxRetries": 2, "maxJobs": 200,
                                                     "maxRunTime": 3600, "earlyStopping": stopping})  # fmt: skip
    for _ in range(3):  # the budget's count: jobs the search made
        answer = site.api.post(fill.exp_path("configured") + "nextjob/", content=json.dumps({"worker": "w"}))
        assert answer.status_code == 200, answer.text
    site.api.post(fill.exp_path("configured") + "jobs/", content=json.dumps({"hyperparameters": {}}))  # by hand
    ready(page, site, "#/e/configured")
    page.wait_for_selector("details.search-space")
    if page.locator("details.search-space").get_attribute("open") is None:  # closed once there are jobs
        page.click("details.search-space summary")
    settings = page.eval_on_selector_all(
        "table.settings tr", "rs => rs.map(r => [r.dataset.setting, r.querySelector('td').innerText])"
    )
    assert settings[0] == ["search", "TPE, minimises loss; the first 20 jobs quasi-random (sobol)"]
    assert ["budget", "200 jobs, 3 made by the search so far"] in settings
    assert ["seed", "7"] in settings
    assert ["retries", "a crashed job is tried again up to 2 times"] in settings
    assert ["max run time", "3600 s without heartbeats"] in settings
    assert [
        "early stopping",
        'asha(resultName="loss", objective="min", minStep=1, reductionFactor=3, maxStep=null)',
    ] in settings
    sobol = {"RandomSearch": {"distributions": {"x": {"uniform": {"low": 0, "high": 1}}}, "sampler": "sobol"}}
    fill.put(site.api, fill.exp_path("sobol sweep"), {"scheduler": sobol})
    ready(page, site, "#/e/sobol%20sweep")
    page.wait_for_selector("table.settings")
    assert page.inner_text("table.settings") == (
        "search\tquasi-random: the points of one scrambled Sobol sequence, in order"
    )


def badge_colour(page: Any, selector: str) -> tuple[int, int, int]:
    css = page.eval_on_selector(selector, "b => getComputedStyle(b).color")
    return rgb(css)


def test_a_paused_experiment_wears_its_own_badge_not_the_finished_one(site, page):
    dashboard = httpx.Client(base_url=site.process.url, headers={"Authorization": site.api.headers["Authorization"]})
    try:
        fill.put(site.api, fill.exp_path("paused"), {"scheduler": {"Manual": None}})
        fill.put(site.api, fill.exp_path("finished"), {"scheduler": {"Manual": None}})
        for name, status in (("paused", "QUEUED"), ("paused", "DONE"), ("finished", "DONE")):
            body = {"status": status, "hyperparameters": {"x": 1}, "results": {"loss": 1} if status == "DONE" else {}}
            assert site.api.post(fill.exp_path(name) + "jobs/", content=json.dumps(body)).status_code == 201
        fill.put(site.api, fill.exp_path("budget"), {"scheduler": {"Manual": None}, "maxJobs": 10})
        for name in ("paused", "finished", "budget"):
            answer = dashboard.put(f"dashboard/api/experiments/{name}/status/", json={"status": "DONE"})
            assert answer.status_code == 200, answer.text
    finally:
        dashboard.close()
    ready(page, site, "#/e/paused")
    header = "h1 .badge"
    page.wait_for_selector(f"{header}[data-status=PAUSED]")
    assert page.inner_text(header) == "PAUSED"
    assert "1 job remains queued or running" in page.get_attribute(header, "title")
    paused = badge_colour(page, header)
    ready(page, site, "#/e/finished")
    page.wait_for_selector(f"{header}[data-status=DONE]")
    done = badge_colour(page, header)
    assert done == (26, 127, 55)
    assert not near([*paused, 255], done, 60)
    ready(page, site, "#/e/budget")
    page.wait_for_selector(f"{header}[data-status=PAUSED]")
    assert "0 of its 10 jobs" in page.get_attribute(header, "title")
    # The list says the same.
    ready(page, site, "#/")
    page.wait_for_selector('tr[data-experiment="paused"] .badge[data-status=PAUSED]')
    page.wait_for_selector('tr[data-experiment="budget"] .badge[data-status=PAUSED]')
    page.wait_for_selector('tr[data-experiment="finished"] .badge[data-status=DONE]')


def test_the_badge_counts_the_jobs_the_search_made_not_those_added_by_hand_or_deleted(site, page):
    # A budget counts the jobs its search creates: hand-added jobs and deletions do not change it.
    with schedy.SchedyDB(config_override=site.user.client_config, heartbeat=0) as db:
        for name in ("short", "spent"):
            db.add_experiment(schedy.RandomSearch(name, {"x": Uniform(0, 1)}, max_jobs=3))
        short, spent = db.get_experiment("short"), db.get_experiment("spent")
        for _ in range(2):
            with short.next_job() as job:
                job.results["loss"] = job.hyperparameters["x"]
        for job in spent.jobs():  # 3 jobs, then the loop's last claim finds the budget spent: DONE
            with job:
                job.results["loss"] = job.hyperparameters["x"]
        for _ in range(2):  # by hand: 4 jobs in all, 2 of the budget's 3 made by the search
            short.add_job(hyperparameters={"x": 0.5}, status="DONE", results={"loss": 0.5})
        short.status = short.DONE
        short.push_updates()
        next(spent.all_jobs()).delete()  # the budget was spent: 2 jobs left, DONE, not paused
        assert db.get_experiment("spent").status == "DONE"
    header = "h1 .badge"
    ready(page, site, "#/e/short")
    page.wait_for_selector(f"{header}[data-status=PAUSED]")
    assert "marked DONE with 2 of its 3 jobs made" in page.get_attribute(header, "title")
    ready(page, site, "#/e/spent")
    page.wait_for_selector(f"{header}[data-status=DONE]")
    ready(page, site, "#/")
    page.wait_for_selector('tr[data-experiment="short"] .badge[data-status=PAUSED]')
    page.wait_for_selector('tr[data-experiment="spent"] .badge[data-status=DONE]')


def test_dark_mode_follows_the_system_preference_in_the_page_and_on_the_canvas(chromium, site):
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(site.url())
        assert rgb(page.eval_on_selector("body", "b => getComputedStyle(b).backgroundColor")) == (13, 17, 23)
        page.fill("input[name=email]", site.user.email)
        page.fill("input[name=password]", site.user.password)
        page.click("button[type=submit]")
        page.wait_for_selector("#who .email")
        ready(page, site, "#/e/rs")
        assert rgb(page.eval_on_selector("body", "b => getComputedStyle(b).color")) == (230, 237, 243)
        assert rgb(page.eval_on_selector("table.jobs thead th", "t => getComputedStyle(t).backgroundColor")) == (
            21,
            27,
            35,
        )
        fig = 'figure[data-plot="importance"]'
        page.wait_for_selector(f"{fig}[data-bars]")
        assert rgb(page.eval_on_selector(fig, "f => getComputedStyle(f).backgroundColor")) == (13, 17, 23)
        bar = json.loads(page.get_attribute(fig, "data-bars"))[0]
        mid = pixels(page, fig, (bar["x"] + bar["w"] / 2, bar["y"] + bar["h"] / 2) * 2)[0]
        assert near(mid, (68, 147, 248), 20), mid  # the dark accent, not the light one
        assert not near(mid, ACCENT, 20)
        # Its label is drawn in the light text colour (some pixel of it is bright).
        label = pixels(page, fig, (4, bar["y"], bar["x"] - 4, bar["y"] + bar["h"]))
        assert any(p[3] > 200 and min(p[:3]) > 180 for p in label)
        assert errors == []
    finally:
        context.close()


def test_an_experiment_of_one_job_says_so_in_the_singular(site, page):
    fill.put(site.api, fill.exp_path("single"), {"scheduler": {"Manual": None}})
    body = {"status": "DONE", "hyperparameters": {"x": 1}, "results": {"loss": 0.5}}
    assert site.api.post(fill.exp_path("single") + "jobs/", content=json.dumps(body)).status_code == 201
    ready(page, site, "#/e/single")
    page.wait_for_function("document.querySelector('.live').textContent.includes('updated')")
    assert page.inner_text(".live").startswith("1 job · updated ")  # not "1 jobs"
    assert page.inner_text(".meta .total").strip() == "1 job"


def test_one_non_finite_value_is_counted_in_the_singular_and_categories_are_unquoted(site, page):
    fill.put(site.api, fill.exp_path("one-nan"), {"scheduler": {"Manual": None}})
    for i, loss in enumerate([0.5, float("nan"), 0.25]):
        body = {"status": "DONE", "hyperparameters": {"opt": ["sgd", "adam"][i % 2]}, "results": {"loss": loss}}
        assert site.api.post(fill.exp_path("one-nan") + "jobs/", content=json.dumps(body)).status_code == 201
    ready(page, site, "#/e/one-nan")
    fig = 'figure[data-plot="history"]'
    page.wait_for_selector(f"{fig}[data-count]")
    note = page.inner_text(f"{fig} .plot-note")
    assert "1 non-finite value " in note
    assert "values" not in note
    page.wait_for_function("document.querySelector('.live').textContent.includes('updated')")
    assert page.inner_text(".live").startswith("3 jobs · updated ")
    # Parallel coordinates have no place for it on the objective's axis: they say it is left out.
    parallel = page.inner_text('figure[data-plot="parallel"] .plot-note')
    assert "1 job with a non-finite loss (NaN, ±Infinity) left out." in parallel
    ticks = json.loads(page.get_attribute('figure[data-plot="scatter"]', "data-ticks"))
    assert sorted(ticks) == ["adam", "sgd"]  # as in the table, not "\"sgd\""
    cells = page.eval_on_selector_all(
        "table.jobs tbody tr[data-job] td:nth-child(3)", "tds => tds.map(t => t.innerText)"
    )
    assert set(cells) == {"sgd", "adam"}
