"""What the dashboard draws, read back from the browser's pixels (issue 15's defects 1–5, 9).

Each test makes the data of the defect through the real API, opens the page in
real headless Chromium and reads the canvas: the colour of a curve's
segments, the ✕ at non-finite steps, the spacing of categories, the labels
of the PBT schedule, the best value shown.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from pathlib import Path
from statistics import mean
from typing import Any

import httpx
import pytest

import schedy
from schedy.testing import ServiceProcess
from tests.dashboard import fill
from tests.dashboard.browser import Site, is_red, near, open_page, painted, pixels, points, rgb

NAN, INF = math.nan, math.inf
RUNNING_BLUE = (9, 105, 218)
WORST_YELLOW = (253, 231, 37)
PRUNED_MARK = (154, 103, 0)
CONTINUE_EDGE = (66, 80, 102)


def add(
    api: httpx.Client, experiment: str, status: str, hyperparameters: dict[str, Any], results: dict[str, Any]
) -> dict[str, Any]:
    body = {"status": status, "hyperparameters": hyperparameters, "results": results}
    answer = api.post(fill.exp_path(experiment) + "jobs/", content=json.dumps(body))
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    process = ServiceProcess.start(tmp_path_factory.mktemp("drawn"))
    user = process.new_user("carol@example.com")
    api = fill.client(user)
    fill.put(api, fill.exp_path("curves"), {"scheduler": {"Manual": None}})
    jobs = {
        "tail-nan": add(api, "curves", "DONE", {"x": 1}, {"loss": 1.7, "curve": [2.2, 2.1, 1.9, NAN, NAN]}),
        "head-nan": add(api, "curves", "DONE", {"x": 2}, {"loss": 1.2, "curve": [1.6, NAN, 1.5, 1.3, 1.2]}),
        "worst": add(api, "curves", "DONE", {"x": 3}, {"loss": 3.0, "curve": [3.0, 3.0, 3.0, 3.0, 3.0]}),
        "running": add(api, "curves", "RUNNING", {"x": 4}, {"curve": [2.6, 2.5, 2.45]}),
        "pruned": add(api, "curves", "PRUNED", {"x": 5}, {"loss": 2.8, "curve": [2.9, 2.8]}),
    }
    yield Site(process, user, api, jobs)
    api.close()
    process.stop()


def ready(page: Any, site: Site, fragment: str) -> None:
    page.goto(site.url(fragment))
    page.wait_for_selector("body[data-ready=true] table.jobs tbody tr[data-job]")


def project(page: Any, selector: str, *args: Any) -> tuple[float, float]:
    x, y = page.eval_on_selector(selector, "(fig, args) => fig.project(...args)", list(args))
    return float(x), float(y)


def along(page: Any, selector: str, a: tuple[float, float], b: tuple[float, float], steps: int = 9) -> list[list[int]]:
    """Pixels painted along the segment from data point ``a`` to ``b`` (ends left out)."""
    (x0, y0), (x1, y1) = project(page, selector, *a), project(page, selector, *b)
    found: list[list[int]] = []
    for k in range(1, steps + 1):
        t = k / (steps + 1)
        found += painted(page, selector, x0 + t * (x1 - x0), y0 + t * (y1 - y0), radius=1.0)
    return found


def mostly(found: list[list[int]], colour: tuple[int, int, int]) -> bool:
    """Whether nine in ten of the pixels have about that colour."""
    return sum(near(p, colour) for p in found) >= 0.9 * len(found)


# --- learning curves: NaN, running, pruned ----------------------------------------------------


def test_curves_with_nan_are_drawn_in_their_colour_with_a_cross_only_at_the_nan_steps(site, page):
    ready(page, site, "#/e/curves")
    fig = 'figure[data-plot="curves"]'
    drawn = {c["job"]: c for c in points(page, fig)}
    ids = {name: job["id"] for name, job in site.jobs.items()}
    assert drawn[ids["tail-nan"]]["values"] == [2.2, 2.1, 1.9, "NaN", "NaN"]
    # Finite neighbours only: tail-nan 2, head-nan 2, worst 4, running 2, pruned 1.
    assert page.get_attribute(fig, "data-segments") == "11"

    tail = rgb(drawn[ids["tail-nan"]]["color"])
    on_tail = along(page, fig, (1, 2.2), (2, 2.1)) + along(page, fig, (2, 2.1), (3, 1.9))
    # (A few pixels blend with a grid line the segment crosses.)
    assert on_tail, "the curve ending in NaN is drawn"
    assert mostly(on_tail, tail), "in its colour"

    head = rgb(drawn[ids["head-nan"]]["color"])
    lone = painted(page, fig, *project(page, fig, 1, 1.6), radius=1.0)
    assert lone, "step 1 before a NaN is drawn (a dot)"
    assert any(near(p, head) for p in lone)
    after = along(page, fig, (3, 1.5), (4, 1.3)) + along(page, fig, (4, 1.3), (5, 1.2))
    assert after
    assert mostly(after, head)
    assert not any(is_red(p) for p in after)

    # A ✕ on the top edge at each NaN step, and nowhere else up there.
    for step in (2, 4, 5):
        x = project(page, fig, step, 0)[0]
        marks = [p for p in pixels(page, fig, (x - 4, 12, x + 4, 20)) if p[3] > 60]
        assert any(is_red(p) for p in marks), step
    x3 = project(page, fig, 3, 0)[0]
    assert not any(is_red(p) for p in pixels(page, fig, (x3 - 3, 12, x3 + 3, 20)) if p[3] > 60)
    assert "3 non-finite values" in page.inner_text(f"{fig} .plot-note")


def test_running_curves_are_dashed_blue_not_the_worst_colour_and_pruned_ones_end_in_a_square(site, page):
    ready(page, site, "#/e/curves")
    fig = 'figure[data-plot="curves"]'
    drawn = {c["job"]: c for c in points(page, fig)}
    running, worst, _pruned = (site.jobs[k]["id"] for k in ("running", "worst", "pruned"))
    assert rgb(drawn[worst]["color"]) == pytest.approx(WORST_YELLOW, abs=40)
    assert rgb(drawn[running]["color"]) == RUNNING_BLUE
    on_running = along(page, fig, (1, 2.6), (2, 2.5), steps=20)
    assert on_running
    assert mostly(on_running, RUNNING_BLUE)
    assert not any(near(p, WORST_YELLOW) for p in on_running)
    assert len(on_running) < 20 * 9 * 0.9, "dashed: gaps along the line"
    square = painted(page, fig, *project(page, fig, 2, 2.8), radius=2.0)
    assert square
    assert all(near(p, PRUNED_MARK, 30) for p in square)
    note = page.inner_text(f"{fig} .plot-note")
    assert "1 running job" in note
    assert "1 pruned job" in note


def test_one_curve_among_three_hundred_is_named_and_highlighted_on_hover(chromium, site):
    api = site.api
    fill.put(api, fill.exp_path("many-curves"), {"scheduler": {"Manual": None}})
    for i in range(300):
        v = 1 + i / 300
        add(api, "many-curves", "DONE", {"i": i}, {"loss": v, "curve": [v, v * 0.9, v * 0.8, v * 0.7]})
    target = add(api, "many-curves", "DONE", {"i": 300}, {"loss": 3.5, "curve": [5, 4.5, 4, 3.5]})
    page = open_page(chromium, site.url(), site.user)
    ready(page, site, "#/e/many-curves")
    fig = 'figure[data-plot="curves"]'
    assert page.get_attribute(fig, "data-count") == "301"
    x, y = project(page, fig, 2.5, 4.25)
    box = page.locator(f"{fig} canvas[role=img]").bounding_box()
    page.mouse.move(box["x"] + x, box["y"] + y)
    page.wait_for_selector(f'{fig}[data-hovered="{target["id"]}"]')
    assert target["id"] in page.inner_text(f"{fig} .plot-tip")
    highlighted = painted(page, fig, x, y, radius=1.5, canvas="canvas.plot-overlay")
    assert highlighted
    assert all(near(p, (36, 41, 47), 30) for p in highlighted)
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_selector(f'h1:has-text("Job {target["id"]}")')
    assert page.errors == []
    page.context.close()


# --- axes follow the declared space -----------------------------------------------------------

SPACE = {
    "lr": {"loguniform": {"low": 1e-4, "high": 0.1}},
    "dropout": {"uniform": {"low": 0, "high": 0.6}},
    "batch": {"choice": {"values": [32, 64, 128, 256]}},
    "opt": {"choice": {"values": ["sgd", "adam"]}},
}


def test_axes_follow_the_declared_distributions_and_choices_are_evenly_spaced_categories(site, page):
    api = site.api
    fill.put(api, fill.exp_path("axes"), {"scheduler": {"RandomSearch": SPACE}})
    for i in range(48):
        hps = {
            "lr": 10 ** (-4 + 3 * (i % 7) / 6),
            "dropout": [0.001, 0.3, 0.6][i % 3],
            "batch": [32, 64, 128, 256][i % 4],
            "opt": ["sgd", "adam"][i % 2],
        }
        add(api, "axes", "DONE", hps, {"loss": 1 + (i % 5) / 10})
    ready(page, site, "#/e/axes")
    scales = json.loads(page.get_attribute('figure[data-plot="parallel"]', "data-scales"))
    assert scales == ["log", "linear", "category", "category", "linear"]

    def scatter(name: str) -> str:
        return f'figure[data-plot="scatter"][data-hyperparameter="{name}"]'

    assert page.get_attribute(scatter("dropout"), "data-scale") == "linear"  # samples span 3 decades
    assert page.get_attribute(scatter("lr"), "data-scale") == "log"
    assert json.loads(page.get_attribute(scatter("batch"), "data-ticks")) == ["32", "64", "128", "256"]
    assert json.loads(page.get_attribute(scatter("opt"), "data-ticks")) == ["sgd", "adam"]  # not quoted

    def columns(name: str) -> dict[str, float]:
        hits = page.eval_on_selector(scatter(name), "fig => fig.hits.map((h) => [h.px, h.label])")
        by: dict[str, list[float]] = {}
        for px, label in hits:
            value = label.split(f"{name}=")[1].split(",")[0]
            by.setdefault(value, []).append(px)
        return {v: mean(xs) for v, xs in by.items()}

    dropout = columns("dropout")
    assert (dropout["0.3"] - dropout["0.001"]) / (dropout["0.6"] - dropout["0.001"]) == pytest.approx(0.5, abs=0.01)
    batch = columns("batch")
    gaps = [batch[b] - batch[a] for a, b in (("32", "64"), ("64", "128"), ("128", "256"))]
    assert max(gaps) - min(gaps) < 4, gaps  # evenly spaced, not 32 units to 128
    spread = page.eval_on_selector(scatter("batch"), "fig => fig.hits.map((h) => h.px)")
    assert len({round(x) for x in spread}) > 8, "jittered within each category"
    # Every hit target is painted on the canvas.
    for name in SPACE:
        unpainted = page.eval_on_selector(
            scatter(name),
            """fig => {
            const ctx = fig.canvas.getContext("2d"), ratio = fig.canvas.width / fig.canvas.clientWidth;
            return fig.hits.filter((p) =>
                ctx.getImageData(Math.round(p.px * ratio), Math.round(p.py * ratio), 1, 1).data[3] === 0).length;
        }""",
        )
        assert unpainted == 0, name


# --- PBT: schedule labels and ticks, lineage edges --------------------------------------------


def test_pbt_schedule_labels_fit_with_generation_ticks_and_lineage_edges_stand_out(site, page):
    jobs = {j["id"]: j for j in fill.pbt(site.api, "pbt", members=5, generations=7)}
    ready(page, site, "#/e/pbt")
    schedule = 'figure[data-plot="schedule"]'
    path = [p["job"] for p in points(page, schedule)]
    generations = sorted({jobs[j]["generation"] for j in path} | {jobs[path[-1]]["generation"]})
    assert json.loads(page.get_attribute(schedule, "data-ticks")) == [str(g) for g in range(1, generations[-1] + 1)]
    labels = json.loads(page.get_attribute(schedule, "data-labels"))
    assert labels
    assert all(len(label) <= 7 for label in labels)
    height = page.eval_on_selector(schedule, "fig => fig.canvas.clientHeight")
    left_edge = [p for p in pixels(page, schedule, (0, 0, 3, height)) if p[3] > 30]
    assert left_edge == [], "no label runs off the left edge"

    lineage = 'figure[data-plot="lineage"]'
    best_path = set(json.loads(page.get_attribute(lineage, "data-best-path")))
    nodes = points(page, lineage)
    byid = {n["job"]: n for n in nodes}
    continued = [
        n
        for n in nodes
        if n["parent"] and byid[n["parent"]]["member"] == n["member"] and not {n["job"], n["parent"]} <= best_path
    ]
    assert continued
    dark = 0
    for n in continued:
        a = project(page, lineage, byid[n["parent"]]["generation"] + 0.5, n["member"])
        dark += any(near(p, CONTINUE_EDGE, 35) for p in painted(page, lineage, *a, radius=1.0))
    assert dark >= 0.8 * len(continued)


# --- the objective: direction follows the result; the best is finite --------------------------


def test_the_direction_follows_the_result_and_the_best_is_never_non_finite(site, page):
    api = site.api
    fill.put(api, fill.exp_path("objective"), {"scheduler": {"Manual": None}})
    rows = [(0.5, 0.7), (-INF, 0.1), (NAN, 0.2), (0.3, INF), (0.9, 0.95), (0.4, NAN)]
    for i, (loss, accuracy) in enumerate(rows):
        add(api, "objective", "DONE", {"i": i}, {"loss": loss, "accuracy": accuracy})
    ready(page, site, "#/e/objective")

    def shown() -> tuple[str, str, str]:
        return (
            page.input_value("select[name=objective]"),
            page.input_value("select[name=direction]"),
            page.inner_text(".objective-bar .best strong"),
        )

    assert shown() == ("loss", "min", "0.3")
    page.select_option("select[name=objective]", "accuracy")
    page.wait_for_function("() => document.querySelector('select[name=objective]').value === 'accuracy'")
    assert shown() == ("accuracy", "max", "0.95")
    page.select_option("select[name=direction]", "min")
    page.wait_for_function("() => document.querySelector('.objective-bar .best strong').textContent === '0.1'")
    page.select_option("select[name=objective]", "loss")
    page.wait_for_function("() => document.querySelector('select[name=objective]').value === 'loss'")
    assert shown() == ("loss", "min", "0.3")
    page.select_option("select[name=objective]", "accuracy")
    page.wait_for_function("() => document.querySelector('select[name=objective]').value === 'accuracy'")
    assert shown() == ("accuracy", "min", "0.1")  # the choice made for accuracy is remembered
    history = 'figure[data-plot="history"]'
    assert float(page.get_attribute(history, "data-best")) == 0.1
    # The list (the service's reading) never shows a non-finite best either.
    page.goto(site.url("#/"))
    page.wait_for_selector('tr[data-experiment="objective"] .best a')
    assert float(page.get_attribute('tr[data-experiment="objective"] .best a', "data-value")) == 0.3


# --- a crash: its error and every attempt -----------------------------------------------------


def test_a_declared_objective_no_finished_job_has_is_said_not_replaced_by_another_result(site, page):
    api = site.api
    space = {"x": {"uniform": {"low": 0, "high": 1}}}
    tpe = {"TPESearch": {"resultName": "loss", "objective": "min", "distributions": space}}
    fill.put(api, fill.exp_path("misnamed"), {"scheduler": tpe})
    for i in range(3):  # the workers call it val_loss
        add(api, "misnamed", "DONE", {"x": i / 4}, {"val_loss": 0.5 + i, "epochs": 3})
    ready(page, site, "#/e/misnamed")
    slip = page.wait_for_selector(".objective-bar .objective-absent")
    # The select shows the result the plots use (the declared one), not the first result there is.
    assert page.input_value("select[name=objective]") == "loss"
    assert page.get_attribute('figure[data-plot="history"]', "data-objective") == "loss"
    assert slip.inner_text() == (
        "No finished job has a numeric “loss”, the result the search minimises (they have val_loss, epochs): "
        "it ranks them all worst and learns nothing. Check the result name the workers use."
    )
    # Looking at another result is still a choice away, and says nothing then.
    page.select_option("select[name=objective]", "val_loss")
    page.wait_for_selector('figure[data-plot="history"][data-objective="val_loss"]')
    assert page.locator(".objective-absent").count() == 0
    page.select_option("select[name=objective]", "loss")
    page.wait_for_selector(".objective-absent")
    # Once a job has it, the note goes.
    add(api, "misnamed", "DONE", {"x": 0.9}, {"loss": 0.25})
    page.wait_for_selector(".objective-bar .best strong")
    assert page.locator(".objective-absent").count() == 0
    assert page.inner_text(".objective-bar .best strong") == "0.25"

    # An early-stopping policy judges reports: final results named otherwise are no slip.
    asha = {"asha": {"resultName": "val_acc", "objective": "max", "minStep": 1, "reductionFactor": 3}}
    fill.put(api, fill.exp_path("policy"), {"scheduler": {"Manual": None}, "earlyStopping": asha})
    add(api, "policy", "DONE", {"x": 1}, {"test_acc": 0.9})
    ready(page, site, "#/e/policy")
    page.wait_for_selector(".objective-bar .best strong")
    assert page.input_value("select[name=objective]") == "test_acc"
    assert page.locator(".objective-absent").count() == 0


def test_the_job_page_shows_what_a_crash_raised_and_every_attempt(site, page, screenshots):
    with schedy.SchedyDB(config_override=site.user.client_config) as db:
        exp = schedy.ManualSearch("crashing")
        db.add_experiment(exp)
        exp.add_job(hyperparameters={"lr": 0.1})

        def train(job: schedy.Job) -> None:
            job.results["partial"] = 0.5
            raise ValueError("the loss exploded at epoch 3")

        with pytest.raises(ValueError, match="exploded"), exp.next_job() as job:
            train(job)
    page.goto(site.url(f"#/e/crashing/j/{job.job_id}"))
    page.wait_for_selector("body[data-ready=true] section.crash")
    assert page.inner_text("section.crash .error-type") == "ValueError"
    assert page.inner_text("section.crash .error-message") == "the loss exploded at epoch 3"
    page.click("section.crash summary")
    assert "in train" in page.inner_text("section.crash pre.traceback")
    assert page.inner_text('table.run tr[data-key="end reason"] td') == "raised"
    screenshots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshots / "crash.png"), clip={"x": 0, "y": 0, "width": 1280, "height": 700})
    page.click("[data-action=requeue]")
    page.wait_for_selector('table.attempts tr[data-attempt="2"]')
    rows = page.locator("table.attempts tbody tr")
    assert rows.count() == 2
    first = rows.nth(0).locator("td").all_inner_texts()
    assert first[0] == "1"
    assert first[2] == "CRASHED"
    assert first[3] == "raised"
    assert first[7] == "ValueError: the loss exploded at epoch 3"
    assert rows.nth(1).locator("td").all_inner_texts()[2] == "QUEUED"
    # Readable: the attempts get the page's width, and no id or time breaks over several lines.
    layout = page.evaluate(
        """() => {
          const section = document.querySelector("section.attempts");
          const columns = section.parentElement.getBoundingClientRect().width;
          const lines = [...section.querySelectorAll("tbody td:not(.attempt-error)")].map((td) => {
            const walk = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
            const tops = new Set();
            for (let text = walk.nextNode(); text; text = walk.nextNode()) {
              const range = document.createRange();
              range.selectNodeContents(text);
              for (const r of range.getClientRects()) tops.add(Math.round(r.top));
            }
            return tops.size;  // the lines its text takes
          });
          return {share: section.getBoundingClientRect().width / columns, lines: Math.max(...lines)};
        }"""
    )
    assert layout["share"] > 0.95, layout
    assert layout["lines"] == 1, layout
    assert page.locator("section.crash").count() == 0
    assert page.locator('table.results tr[data-key="partial"]').count() == 0  # the new attempt starts afresh


def test_a_crash_message_with_a_long_unbroken_token_wraps_inside_its_box(site, page):
    """A CUDA error quoting a path or a tensor: the page never scrolls sideways for it."""
    message = "CUDA out of memory while loading /data/" + "checkpoint_" * 40 + "final.pt"
    with schedy.SchedyDB(config_override=site.user.client_config) as db:
        exp = schedy.ManualSearch("long-crash")
        db.add_experiment(exp)
        exp.add_job(hyperparameters={"lr": 0.1})
        with pytest.raises(RuntimeError), exp.next_job() as job:
            raise RuntimeError(message)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(site.url(f"#/e/long-crash/j/{job.job_id}"))
    page.wait_for_selector("body[data-ready=true] section.crash")
    assert page.inner_text("section.crash .error-message") == message  # all of it, over several lines
    widths = page.evaluate(
        """() => {
          const box = document.querySelector("section.crash").getBoundingClientRect();
          const line = document.querySelector("section.crash .error-line").getBoundingClientRect();
          return {page: document.documentElement.scrollWidth, view: window.innerWidth,
                  box: box.right, line: line.right, lines: Math.round(line.height)};
        }"""
    )
    assert widths["page"] <= widths["view"], widths
    assert widths["line"] <= widths["box"], widths


# --- early stopping: curves from reports, pruned jobs, rungs; artifacts on the job page ---------


def test_a_median_rule_reporting_many_steps_draws_a_few_of_them_not_a_bar_each(site, page):
    """The median rule has a "rung" at every step: a job reporting 60 steps must not make a 60-bar figure."""
    api = site.api
    fill.put(
        api,
        fill.exp_path("median-many"),
        {
            "scheduler": {"RandomSearch": {"lr": {"loguniform": {"low": 1e-3, "high": 1.0}}}},
            "earlyStopping": {"median": {"resultName": "loss", "objective": "min", "warmupSteps": 0, "minJobs": 5}},
        },
    )
    for i in range(3):  # fewer jobs than minJobs: nobody is stopped, every job reports every step
        job = api.post(fill.exp_path("median-many") + "nextjob/", json={"heartbeat": 30, "worker": "w"}).json()
        batch = {"reports": [{"step": step, "metrics": {"loss": (i + 1) / step}} for step in range(1, 61)]}
        answer = api.post(fill.exp_path("median-many") + f"jobs/{job['id']}/reports/", json=batch)
        assert answer.status_code == 200, answer.text
    ready(page, site, "#/e/median-many")
    rungs = 'figure[data-plot="rungs"]'
    # Drawn at once, then again as the reports arrive (a page of them per refresh): wait for all 60 steps.
    page.wait_for_function(f"() => document.querySelector('{rungs}')?.dataset.rungs === '60'")
    rows = points(page, rungs)
    assert page.get_attribute(rungs, "data-rungs") == "60"
    assert 8 <= len(rows) <= 16
    steps = [r["step"] for r in rows]
    assert (steps[0], steps[-1]) == (1, 60)
    assert steps == sorted(set(steps))
    assert all(r["reached"] == 3 and r["survived"] == 3 for r in rows)
    assert page.eval_on_selector(rungs, "f => f.canvas.clientHeight") <= 16 * 26 + 80
    assert f"{len(rows)} of 60 steps shown" in page.inner_text(f"{rungs} .plot-note")


def test_curves_come_from_reports_pruned_jobs_stop_early_and_rungs_are_counted(site, page):
    api = site.api
    fill.put(
        api,
        fill.exp_path("asha"),
        {
            "scheduler": {"RandomSearch": {"lr": {"loguniform": {"low": 1e-3, "high": 1.0}}}},
            "earlyStopping": {
                "asha": {"resultName": "loss", "objective": "min", "minStep": 1, "reductionFactor": 3, "maxStep": 9}
            },
        },
    )
    ended: dict[str, int] = {}
    reasons: dict[str, str] = {}
    for i in range(12):
        job = api.post(fill.exp_path("asha") + "nextjob/", json={"heartbeat": 30, "worker": f"w{i % 3}"})
        assert job.status_code == 200, job.text
        job_id, tag = job.json()["id"], job.headers["ETag"]
        status, last = "DONE", 0.0
        for step in range(1, 10):
            last = (1 + (i * 7) % 12) / (step + 1)  # a fixed order of quality, better with steps
            metrics = {"loss": last, "nan_metric": NAN if step == 2 else step}
            verdict = api.post(
                fill.exp_path("asha") + f"jobs/{job_id}/reports/",
                content=json.dumps({"step": step, "metrics": metrics}),
            )
            assert verdict.status_code == 200, verdict.text
            ended[job_id] = step
            if verdict.json()["stop"]:
                status, reasons[job_id] = "PRUNED", verdict.json()["reason"]
                break
        body = {"status": status, "hyperparameters": job.json()["hyperparameters"], "results": {"loss": last}}
        fill.put(api, fill.exp_path("asha") + f"jobs/{job_id}/", body, **{"If-Match": tag})
    pruned = {j for j, step in ended.items() if step < 9}
    assert pruned, "ASHA stopped some"
    ready(page, site, "#/e/asha")
    fig = 'figure[data-plot="curves"]'
    page.wait_for_selector(f'{fig} select[name=curve] option[value="rep:loss"]', state="attached")
    assert page.input_value(f"{fig} select[name=curve]") == "rep:loss"
    drawn = {c["job"]: c for c in points(page, fig)}
    assert {j: c["steps"][-1] for j, c in drawn.items()} == ended
    assert page.get_attribute(fig, "data-pruned") == str(len(pruned))
    for job_id in pruned:  # a square where each pruned job stopped
        square = painted(page, fig, *project(page, fig, ended[job_id], drawn[job_id]["values"][-1]), radius=2.0)
        assert any(near(p, PRUNED_MARK, 30) for p in square), job_id
    rungs = 'figure[data-plot="rungs"]'
    stopping = api.get(fill.exp_path("asha") + "stopping/").json()
    rows = points(page, rungs)
    assert [(r["step"], r["reached"]) for r in rows] == [(r["step"], r["jobs"]) for r in stopping["rungs"]]
    assert rows[0]["reached"] == 12
    assert rows[0]["survived"] == rows[1]["reached"]
    # How many went on from the last rung (3, below max_step 9) too: those that trained to step 9.
    assert [r["survived"] for r in rows] == [r["continued"] for r in stopping["rungs"]]
    assert rows[-1]["step"] == 3
    assert rows[-1]["survived"] == sum(step == 9 for step in ended.values())
    assert "asha" in page.inner_text(f"{rungs} .plot-note")

    # The job page: its reported curve, and its artifacts with download links.
    job_id = next(iter(pruned))
    stored = api.put(fill.exp_path("asha") + f"jobs/{job_id}/artifacts/model.pt/", content=b"weights " * 100)
    assert stored.status_code == 201, stored.text
    page.goto(site.url(f"#/e/asha/j/{job_id}"))
    page.wait_for_selector('body[data-ready=true] section.artifacts tr[data-artifact="model.pt"]')
    curve = points(page, 'figure[data-plot="job-report"]')
    assert curve[0]["steps"] == list(range(1, ended[job_id] + 1))
    link = page.locator('section.artifacts a[download="model.pt"]')
    with page.expect_download() as download:
        link.click()
    assert Path(download.value.path()).read_bytes() == b"weights " * 100
    assert page.inner_text('section.artifacts tr[data-artifact="model.pt"] td:nth-child(2)') == "800 B"
    # Each cell's text ends before the next cell's begins (they ran together: "model.pt800 B6dd6…").
    edges = page.eval_on_selector_all(
        'section.artifacts tr[data-artifact="model.pt"] td',
        "tds => tds.map(td => { const r = document.createRange(); r.selectNodeContents(td);"
        " const b = r.getBoundingClientRect(); return [td.getBoundingClientRect().left, b.right]; })",
    )
    assert all(text_end < next_left for (_, text_end), (next_left, _) in itertools.pairwise(edges)), edges
    # The table is seen whole on a laptop's screen, with a usual checkpoint's name: its box does not cut
    # off the time it was stored (it sat in one third of the page, beside empty room, needing a scroll).
    # Stored after the job ended, as checkpoints often are: it shows on the open page, without a reload.
    named = api.put(fill.exp_path("asha") + f"jobs/{job_id}/artifacts/best-epoch-27.ckpt/", content=b"w")
    assert named.status_code == 201, named.text
    page.wait_for_selector('section.artifacts tr[data-artifact="best-epoch-27.ckpt"]', timeout=15_000)
    box = page.eval_on_selector("section.artifacts .wide-table", "b => [b.scrollWidth, b.clientWidth]")
    assert box[0] <= box[1], box
    # A finished job holds no lease: no empty "lease expires" row.
    assert page.locator("table.run tr[data-key='worker']").count() == 1
    assert page.locator("table.run tr[data-key='lease expires']").count() == 0
    # Why the service stopped it: the policy's reason, kept on the job, told on its page.
    assert api.get(fill.exp_path("asha") + f"jobs/{job_id}/").json()["stopReason"] == reasons[job_id]
    assert "rung" in reasons[job_id]
    assert page.inner_text("section.stopped h2") == "Stopped early"
    told = page.inner_text("section.stopped .stop-reason")
    assert told == f"The early-stopping policy said stop: {reasons[job_id]}"
    finished = next(j for j, step in ended.items() if step == 9)
    assert api.get(fill.exp_path("asha") + f"jobs/{finished}/").json()["stopReason"] is None
    page.goto(site.url(f"#/e/asha/j/{finished}"))
    page.wait_for_selector(f"body[data-ready=true] h1:has-text('Job {finished}')")
    page.wait_for_selector("section.artifacts")
    assert page.locator("section.stopped").count() == 0
    under = 'figure[data-plot="job-report"] canvas'
    assert json.loads(page.get_attribute(under, "data-x-ticks")) == ["2", "4", "6", "8"]
    # A job stopped at its first report: one point, and whole steps under it (not 0.5 or 1.5).
    first = next(j for j, step in ended.items() if step == 1)
    page.goto(site.url(f"#/e/asha/j/{first}"))
    points(page, 'figure[data-plot="job-report"]')
    assert json.loads(page.get_attribute(under, "data-x-ticks")) == ["0", "1", "2"]


def test_a_pruned_job_requeued_from_its_page_draws_only_its_new_run_and_is_not_shown_stopped(site, page):
    """Re-queued from its page after it was stopped, a job's page (open all along) redraws from its new run."""
    api = site.api
    asha = {"asha": {"resultName": "loss", "objective": "min", "minStep": 1, "reductionFactor": 3, "maxStep": 9}}
    fill.put(api, fill.exp_path("rerun"), {"scheduler": {"Manual": None}, "earlyStopping": asha})
    path = fill.exp_path("rerun")

    def run(losses: list[float]) -> tuple[str, str, bool]:
        job = api.post(path + "nextjob/", json={"heartbeat": 30})
        assert job.status_code == 200, job.text
        stop = False
        for step, loss in enumerate(losses, start=1):
            verdict = api.post(
                path + f"jobs/{job.json()['id']}/reports/", json={"step": step, "metrics": {"loss": loss}}
            )
            assert verdict.status_code == 200, verdict.text
            stop = verdict.json()["stop"]
        return job.json()["id"], job.headers["ETag"], stop

    for loss in (3.0, 2.0, 1.0):  # each the best so far at rung 1: each goes on
        add(api, "rerun", "QUEUED", {"x": loss}, {})
        job_id, tag, stop = run([loss])
        assert not stop
        fill.put(api, path + f"jobs/{job_id}/", {"status": "DONE", "results": {"loss": loss}}, **{"If-Match": tag})
    add(api, "rerun", "QUEUED", {"x": 9}, {})
    slow, tag, stop = run([9.0])
    assert stop, "the worst at rung 1 is stopped"
    fill.put(api, path + f"jobs/{slow}/", {"status": "PRUNED", "hyperparameters": {"x": 9}}, **{"If-Match": tag})
    page.goto(site.url(f"#/e/rerun/j/{slow}"))
    page.wait_for_selector("body[data-ready=true] section.stopped")
    fig = 'figure[data-plot="job-report"]'
    assert points(page, fig)[0]["values"] == [9.0]

    # Re-queued from its page (a PRUNED job can be, as a CRASHED one), it runs again as its next attempt.
    page.click("[data-action=requeue]")
    page.wait_for_selector("h1 .badge.status-QUEUED")
    stored = api.get(path + f"jobs/{slow}/").json()
    assert (stored["status"], stored["attempt"], stored["stopReason"]) == ("QUEUED", 2, None)
    again, tag, stop = run([0.5, 0.4, 0.3])
    assert (again, stop) == (slow, False)
    page.wait_for_function(
        "(fig) => JSON.parse(document.querySelector(fig).dataset.points || '[]')[0]?.values.length === 3", arg=fig
    )
    drawn = points(page, fig)[0]
    assert (drawn["steps"], drawn["values"]) == ([1, 2, 3], [0.5, 0.4, 0.3])
    assert page.locator("section.stopped").count() == 0
    # The experiment's page draws the new run too, not both runs joined into one curve.
    ready(page, site, "#/e/rerun")
    curves = 'figure[data-plot="curves"]'
    page.wait_for_selector(f'{curves} select[name=curve] option[value="rep:loss"]', state="attached")
    assert {c["job"]: c["values"] for c in points(page, curves)}[slow] == [0.5, 0.4, 0.3]


def test_parallel_coordinates_carry_a_job_across_a_hyperparameter_it_does_not_have(site, page):
    """A conditional hyperparameter (momentum only for sgd): an adam job's line still reaches its loss, dashed."""
    fill.put(site.api, fill.exp_path("branches"), {"scheduler": {"Manual": None}})
    for momentum, loss in ((0.9, 0.1), (1.0, 0.2), (0.95, 0.15)):
        add(site.api, "branches", "DONE", {"opt": "sgd", "momentum": momentum}, {"loss": loss})
    adam = add(site.api, "branches", "DONE", {"opt": "adam"}, {"loss": 3.0})["id"]
    ready(page, site, "#/e/branches")
    selector = 'figure[data-plot="parallel"]'
    points(page, selector)
    assert json.loads(page.get_attribute(selector, "data-axes")) == ["opt", "momentum", "loss"]
    # From adam on the opt axis towards its loss: the half before the momentum axis, which no sgd
    # line crosses (theirs run from sgd, above, to momentum near the top).
    (x0, y0), (x2, y2) = project(page, selector, 0, "adam", adam), project(page, selector, 2, 3.0, adam)
    samples = [(x0 + t * (x2 - x0), y0 + t * (y2 - y0)) for t in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45)]
    inked = [bool(painted(page, selector, x, y, radius=1.0)) for x, y in samples]
    assert sum(inked) >= 3, inked  # dashed: painted, with gaps
    assert not all(inked), inked
    assert "Dashed: across a hyperparameter a job does not have" in page.inner_text(selector)
    # The sgd jobs, which have every value, are solid and carry no such note on their own.
    (s0, t0), (s1, t1) = project(page, selector, 0, "sgd", None), project(page, selector, 1, 1.0, None)
    assert s0 < s1
    assert t0 > t1  # sgd sits below momentum 1.0 (near the top): the two spans do not meet
