"""The experiment page's analysis plots in real headless Chromium (issue 15): what is drawn.

Parallel coordinates brushed on several axes (the selection filters the history,
the scatters and the job table; a click clears; axes move; a colour legend), the
history's log-y and x by finish time with a best-so-far that ignores NaN, the EDF
in both directions, the scatters' log-y, the contour of two hyperparameters and the
timeline of jobs per worker. Each reads the plot's data-* attributes and its pixels.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from schedy.testing import ServiceProcess
from tests.dashboard import fill
from tests.dashboard.browser import Site, near, painted, pixels, points

SPACE = {
    "lr": {"loguniform": {"low": 1e-4, "high": 0.1}},
    "layers": {"choice": {"values": [1, 2, 3, 4]}},
    "dropout": {"uniform": {"low": 0.0, "high": 0.5}},
}
PARALLEL = 'figure[data-plot="parallel"]'
HISTORY = 'figure[data-plot="history"]'
EDF = 'figure[data-plot="edf"]'
CONTOUR = 'figure[data-plot="contour"]'
TIMELINE = 'figure[data-plot="timeline"]'
BRUSH_BLUE = (9, 105, 218)


def add(
    api: httpx.Client, experiment: str, status: str, hps: dict[str, Any], results: dict[str, Any]
) -> dict[str, Any]:
    answer = api.post(
        fill.exp_path(experiment) + "jobs/",
        content=json.dumps({"status": status, "hyperparameters": hps, "results": results}),
    )
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    process = ServiceProcess.start(tmp_path_factory.mktemp("analysis"))
    user = process.new_user("dana@example.com")
    api = fill.client(user)
    fill.put(api, fill.exp_path("grid"), {"scheduler": {"RandomSearch": SPACE}})
    jobs = []
    for i in range(64):
        lr = 10 ** (-4 + 3 * (i % 8) / 7)
        layers, dropout = [1, 2, 3, 4][i % 4], round(0.5 * ((i * 7) % 16) / 15, 4)
        loss = round((math.log10(lr) + 2.5) ** 2 + 0.1 * layers + dropout + 0.01, 6)
        hps = {"lr": lr, "layers": layers, "dropout": dropout}
        jobs.append(add(api, "grid", "DONE", hps, {"loss": math.nan if i == 9 else loss, "accuracy": 1 / (1 + loss)}))
    yield Site(process, user, api, jobs)
    api.close()
    process.stop()


def ready(page: Any, site: Site, fragment: str) -> None:
    page.goto(site.url(fragment))
    page.wait_for_selector("body[data-ready=true] table.jobs tbody tr[data-job]")


def layout(page: Any) -> dict[str, Any]:
    """Where parallel coordinates drew their axes: page coordinates of each axis and of the frame."""
    found: dict[str, Any] = page.eval_on_selector(
        PARALLEL,
        """fig => { const r = fig.canvas.getBoundingClientRect(), l = fig.layout;
            return {left: r.left, top: r.top, xs: l.xs, names: l.axes.map((a) => a.name),
                    y0: l.frame.y0, y1: l.frame.y1}; }""",
    )
    return found


def drag(page: Any, x: float, y0: float, y1: float, dx: float = 0) -> None:
    page.mouse.move(x, y0)
    page.mouse.down()
    for k in range(1, 6):
        page.mouse.move(x + dx * k / 5, y0 + (y1 - y0) * k / 5)
    page.mouse.up()


def brush(page: Any, name: str, t0: float, t1: float) -> None:
    """Drag along axis ``name`` from position t0 to t1 (0: bottom, 1: top of the frame)."""
    at = layout(page)
    x = at["left"] + at["xs"][at["names"].index(name)]

    def y(t: float) -> float:
        return float(at["top"] + at["y0"] - t * (at["y0"] - at["y1"]))

    drag(page, x, y(t0), y(t1))


def selected(page: Any) -> str:
    return str(page.get_attribute(PARALLEL, "data-selected"))


def dropout_pos(v: float) -> float:
    """The position of a dropout value on its (declared, linear 0 to 0.5) axis."""
    return 0.03 + 0.94 * v / 0.5


def test_brushing_parallel_coordinates_selects_jobs_in_every_view_and_the_table(site, page, screenshots):
    ready(page, site, "#/e/grid")
    assert json.loads(page.get_attribute(PARALLEL, "data-axes")) == ["lr", "layers", "dropout", "loss"]
    legend = json.loads(page.get_attribute(PARALLEL, "data-legend"))
    assert legend["direction"] == "min"
    losses = [j["results"]["loss"] for j in site.jobs if not math.isnan(j["results"]["loss"])]
    assert (legend["best"], legend["worst"]) == (pytest.approx(min(losses)), pytest.approx(max(losses)))
    # The legend's bar: dark (best) at its top, light at its bottom.
    at = layout(page)
    width = page.eval_on_selector(PARALLEL, "fig => fig.canvas.clientWidth")
    top = pixels(page, PARALLEL, (width - 60, at["y1"] + 2, width - 58, at["y1"] + 4))[0]
    bottom = pixels(page, PARALLEL, (width - 60, at["y0"] - 4, width - 58, at["y0"] - 2))[0]
    assert near(top, (68, 1, 84), 50), top
    assert near(bottom, (253, 231, 37), 50), bottom

    finished = list(site.jobs)
    brush(page, "dropout", 0.5, 0.98)
    page.wait_for_function(f"document.querySelector('{PARALLEL}').dataset.selected !== ''")
    t0, t1 = json.loads(page.get_attribute(PARALLEL, "data-brushes"))["dropout"]
    inside = {j["id"] for j in finished if t0 <= dropout_pos(j["hyperparameters"]["dropout"]) <= t1}
    assert 10 < len(inside) < 50
    assert selected(page) == str(len(inside))
    # The history, the scatters and the table show only the selection.
    assert {p["job"] for p in points(page, HISTORY)} == inside
    scatter = 'figure[data-plot="scatter"][data-hyperparameter="lr"]'
    assert {p["job"] for p in points(page, scatter)} == inside
    assert page.get_attribute(".shown", "data-shown") == str(len(inside))
    assert "selected" in page.inner_text(f"{HISTORY} .plot-note")
    # The brushed range is drawn on its axis.
    x = at["xs"][at["names"].index("dropout")]
    mid = at["y0"] - (t0 + t1) / 2 * (at["y0"] - at["y1"])
    assert any(near(p, BRUSH_BLUE, 60) for p in painted(page, PARALLEL, x + 5, mid, radius=1.5))
    # The selection is in the URL: opened elsewhere (shared, or Back), the view is the same.
    page.wait_for_function("() => location.hash.includes('brush=')")
    shared = page.evaluate("() => location.href")
    assert "brush=dropout" in shared
    other = page.context.new_page()
    other.goto(shared)
    other.wait_for_selector(f"{PARALLEL}[data-selected='{len(inside)}']")
    assert {p["job"] for p in points(other, HISTORY)} == inside
    assert json.loads(other.get_attribute(PARALLEL, "data-brushes"))["dropout"] == pytest.approx([t0, t1], abs=1e-4)
    other.close()

    screenshots.mkdir(parents=True, exist_ok=True)
    page.locator("section.plots").screenshot(path=str(screenshots / "analysis.png"))

    # A second axis ANDs: layers 3 and 4 only (the upper half of a 4-category axis).
    brush(page, "layers", 0.52, 0.98)
    page.wait_for_function(f"document.querySelector('{PARALLEL}').dataset.selected !== '{len(inside)}'")
    both = {j["id"] for j in finished if j["id"] in inside and j["hyperparameters"]["layers"] in (3, 4)}
    assert selected(page) == str(len(both))
    assert page.get_attribute(".shown", "data-shown") == str(len(both))

    # A click on the dropout axis clears its range: layers alone remain.
    at = layout(page)
    page.mouse.click(at["left"] + at["xs"][at["names"].index("dropout")], at["top"] + (at["y0"] + at["y1"]) / 2)
    layers_only = {j["id"] for j in finished if j["hyperparameters"]["layers"] in (3, 4)}
    page.wait_for_function(f"document.querySelector('{PARALLEL}').dataset.selected === '{len(layers_only)}'")
    assert {p["job"] for p in points(page, HISTORY)} == layers_only

    # "clear selection" shows everything again.
    page.click(f"{PARALLEL} button[name=clear-selection]")
    page.wait_for_function(f"document.querySelector('{PARALLEL}').dataset.selected === ''")
    assert page.get_attribute(".shown", "data-shown") == str(len(site.jobs))
    assert len(points(page, HISTORY)) == len(site.jobs)

    # Dragging the first axis's label onto the third moves it there.
    at = layout(page)
    drag(
        page,
        at["left"] + at["xs"][0],
        at["top"] + at["y0"] + 14,
        at["top"] + at["y0"] + 14,
        dx=at["xs"][2] - at["xs"][0],
    )
    page.wait_for_function(f"JSON.parse(document.querySelector('{PARALLEL}').dataset.axes)[0] === 'layers'")
    assert json.loads(page.get_attribute(PARALLEL, "data-axes")) == ["layers", "dropout", "lr", "loss"]
    first = points(page, PARALLEL)[0]
    job = next(j for j in site.jobs if j["id"] == first["job"])
    assert first["values"][:3] == [job["hyperparameters"][k] for k in ("layers", "dropout", "lr")]


def test_history_log_y_finish_time_and_a_best_so_far_that_skips_nan(site, page):
    ready(page, site, "#/e/grid")
    assert page.get_attribute(HISTORY, "data-log-y") == "false"
    best = json.loads(page.get_attribute(HISTORY, "data-best-line"))
    finite = [j["results"]["loss"] for j in site.jobs if not math.isnan(j["results"]["loss"])]
    assert best[-1][1] == pytest.approx(min(finite))
    assert all(not math.isnan(b[1]) for b in best)  # job 9's NaN never becomes the best

    page.check(f"{HISTORY} input[name=logY]")
    page.wait_for_function(f"document.querySelector('{HISTORY}').dataset.logY === 'true'")
    # On a log scale, 0.01 → 0.1 and 0.1 → 1 are the same height.
    ys = [page.eval_on_selector(HISTORY, f"fig => fig.project(1, {v})[1]") for v in (0.1, 1.0, 10.0)]
    assert ys[0] - ys[1] == pytest.approx(ys[1] - ys[2], abs=0.5)
    assert ys[0] > ys[1] > ys[2]

    page.select_option(f"{HISTORY} select[name=x]", "time")
    page.wait_for_function(f"document.querySelector('{HISTORY}').dataset.x === 'time'")
    drawn = points(page, HISTORY)
    xs = [p["x"] for p in drawn]
    assert xs == sorted(xs)
    assert xs[-1] > xs[0] >= 0
    # The best-so-far line (red) is painted where the last best stands.
    last_x, last_y = json.loads(page.get_attribute(HISTORY, "data-best-line"))[-1]
    px, py = page.eval_on_selector(HISTORY, f"fig => fig.project({last_x}, {last_y})")
    assert any(p[0] > 150 and p[1] < 90 for p in painted(page, HISTORY, px - 3, py, radius=2))


def test_the_edf_respects_the_direction_and_scatters_take_log_y(site, page):
    ready(page, site, "#/e/grid")
    finite = sorted(j["results"]["loss"] for j in site.jobs if not math.isnan(j["results"]["loss"]))
    steps = points(page, EDF)
    assert page.get_attribute(EDF, "data-direction") == "min"
    assert page.get_attribute(EDF, "data-non-finite") == "1"
    for s in steps:  # share of jobs at or below each value
        assert s["y"] == pytest.approx(sum(v <= s["x"] for v in finite) / len(finite))
    assert steps[-1]["y"] == 1
    # The staircase is painted: just right of a step's corner, at its height.
    mid = steps[len(steps) // 2]
    x, y = page.eval_on_selector(EDF, f"fig => fig.project({mid['x']}, {mid['y']})")
    assert any(near(p, (9, 105, 218), 50) for p in painted(page, EDF, x + 1, y, radius=1.5))

    # Accuracy, maximised: the share of jobs at or above each value (falls as the value rises).
    page.select_option("select[name=objective]", "accuracy")
    page.select_option("select[name=direction]", "max")
    page.wait_for_function(f"document.querySelector('{EDF}').dataset.direction === 'max'")
    acc = [j["results"]["accuracy"] for j in site.jobs]
    steps = points(page, EDF)
    assert steps[0]["y"] == 1
    assert steps[-1]["y"] == pytest.approx(acc.count(max(acc)) / len(acc))  # ties at the top
    for s in steps:
        assert s["y"] == pytest.approx(sum(v >= s["x"] for v in acc) / len(acc))

    scatter = 'figure[data-plot="scatter"][data-hyperparameter="dropout"]'
    assert page.get_attribute(scatter, "data-log-y") == "false"
    page.check(f"{scatter} input[name=logY]")
    page.wait_for_function(f"document.querySelector('{scatter}').dataset.logY === 'true'")
    assert page.get_attribute(scatter, "data-count") == str(len(site.jobs))


def test_contour_of_two_hyperparameters_with_categories_as_bins(site, page):
    ready(page, site, "#/e/grid")
    page.wait_for_selector(f"{CONTOUR}[data-count]")
    assert (page.get_attribute(CONTOUR, "data-x"), page.get_attribute(CONTOUR, "data-y")) == ("lr", "layers")
    assert json.loads(page.get_attribute(CONTOUR, "data-bins")) == [20, 4]  # layers: one bin per choice
    assert json.loads(page.get_attribute(CONTOUR, "data-scales")) == ["log", "category"]
    assert page.get_attribute(CONTOUR, "data-count") == str(len(site.jobs))
    grid = json.loads(page.get_attribute(CONTOUR, "data-grid"))
    cells = [(v, k) for k, v in enumerate(grid) if v is not None]
    (low, k_low), (high, k_high) = min(cells), max(cells)
    assert low < high

    def colour_at(k: int) -> list[int]:
        x, y = page.eval_on_selector(CONTOUR, f"fig => fig.cellAt({k % 20}, {k // 20})")
        found: list[int] = pixels(page, CONTOUR, (x + 3, y + 3, x + 4, y + 4))[0]
        return found

    # Dark where the loss is lowest, light where it is highest (dots aside: sampled off-centre).
    assert sum(colour_at(k_low)[:3]) < sum(colour_at(k_high)[:3]) - 150

    page.select_option(f"{CONTOUR} select[name=contour-y]", "dropout")
    page.wait_for_function(f"document.querySelector('{CONTOUR}').dataset.y === 'dropout'")
    assert json.loads(page.get_attribute(CONTOUR, "data-bins")) == [20, 20]
    assert json.loads(page.get_attribute(CONTOUR, "data-scales")) == ["log", "linear"]


def test_contour_never_fills_a_category_from_another(site, page):
    """Momentum exists only for sgd: adam's row of a momentum × optimizer contour stays empty."""
    fill.put(site.api, fill.exp_path("cond"), {"scheduler": {"Manual": None}})
    for momentum, loss in ((0.1, 0.3), (0.5, 0.2), (0.9, 0.4)):
        add(site.api, "cond", "DONE", {"opt": "sgd", "momentum": momentum}, {"loss": loss})
    add(site.api, "cond", "DONE", {"opt": "adam"}, {"loss": 0.25})
    add(site.api, "cond", "DONE", {"opt": "rmsprop", "momentum": 0.5}, {"loss": 0.5})
    ready(page, site, "#/e/cond")
    page.wait_for_selector(f"{CONTOUR}[data-count]")
    page.select_option(f"{CONTOUR} select[name=contour-x]", "momentum")
    page.select_option(f"{CONTOUR} select[name=contour-y]", "opt")
    page.wait_for_function(f"document.querySelector('{CONTOUR}').dataset.y === 'opt'")
    assert json.loads(page.get_attribute(CONTOUR, "data-bins")) == [20, 2]  # adam has no momentum: not a row
    grid = json.loads(page.get_attribute(CONTOUR, "data-grid"))
    rows = [grid[:20], grid[20:]]  # rmsprop, sgd (by their text)
    # Each row is filled along momentum from its own jobs only: rmsprop's one job (0.5) stays
    # alone in its row's middle, never averaged with sgd's values.
    assert {v for v in rows[0] if v is not None} == {0.5}
    assert all(0.2 <= v <= 0.4 for v in rows[1] if v is not None)  # sgd's own losses, and averages of them
    assert "averaged from their neighbours along momentum" in page.inner_text(CONTOUR)


def test_timeline_shows_a_row_per_worker_crashes_in_red_and_running_jobs_up_to_now(site, page, screenshots):
    api = site.api
    fill.put(api, fill.exp_path("tl"), {"scheduler": {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}}})

    def claim(worker: str) -> dict[str, Any]:
        answer = api.post(fill.exp_path("tl") + "nextjob/", content=json.dumps({"worker": worker}))
        assert answer.status_code == 200, answer.text
        job: dict[str, Any] = answer.json()
        job["etag"] = answer.headers["ETag"]
        return job

    def end(job: dict[str, Any], status: str) -> None:
        body = {"status": status, "hyperparameters": job["hyperparameters"], "results": {"loss": 1.0}}
        fill.put(api, fill.exp_path("tl") + f"jobs/{job['id']}/", body, **{"If-Match": job["etag"]})

    for _ in range(3):
        end(claim("w1"), "DONE")
    crashed = claim("w2")
    end(crashed, "CRASHED")
    running = claim("w3")
    ready(page, site, "#/e/tl")
    page.wait_for_selector(f"{TIMELINE}[data-count]")
    assert json.loads(page.get_attribute(TIMELINE, "data-workers")) == ["w1", "w2", "w3"]
    assert json.loads(page.get_attribute(TIMELINE, "data-statuses")) == {"DONE": 3, "CRASHED": 1, "RUNNING": 1}
    bars = {b["job"]: b for b in points(page, TIMELINE)}
    red = bars[crashed["id"]]
    x, y = page.eval_on_selector(TIMELINE, f"fig => fig.barAt('w2', {(red['start'] + red['end']) / 2})")
    assert any(near(p, (207, 34, 46), 30) for p in painted(page, TIMELINE, x, y, radius=1))
    # The running job's bar reaches to now; w2 sits idle there.
    blue = bars[running["id"]]
    assert blue["end"] >= blue["start"]
    x, y = page.eval_on_selector(TIMELINE, f"fig => fig.barAt('w3', {blue['end']})")
    assert any(near(p, (9, 105, 218), 30) for p in painted(page, TIMELINE, x - 1.5, y, radius=1))
    x, y = page.eval_on_selector(TIMELINE, f"fig => fig.barAt('w2', {blue['end']})")
    assert not painted(page, TIMELINE, x - 1.5, y, radius=1)

    screenshots.mkdir(parents=True, exist_ok=True)
    page.locator(TIMELINE).screenshot(path=str(screenshots / "timeline.png"))

    # A selection brushed in parallel coordinates filters the timeline too; its rows stay.
    axes = json.loads(page.get_attribute(PARALLEL, "data-axes"))
    lines = sorted(points(page, PARALLEL), key=lambda line: line["values"][axes.index("x")])
    assert len(lines) == 3  # one line per DONE job

    def pos(v: float) -> float:  # the position of x on its declared uniform(0, 1) axis
        return 0.03 + 0.94 * v

    # Cut where the DONE jobs' x values are furthest apart (random draws may lie a pixel apart).
    at = [pos(line["values"][axes.index("x")]) for line in lines]
    k = max((1, 2), key=lambda i: at[i] - at[i - 1])
    page.locator(PARALLEL).scroll_into_view_if_needed()  # the mouse works in the viewport
    brush(page, "x", 0.0, (at[k - 1] + at[k]) / 2)
    page.wait_for_selector(f"{PARALLEL}[data-selected='{k}']")
    low = {line["job"] for line in lines[:k]}
    page.wait_for_selector(f"{TIMELINE}[data-count='{k}']")
    assert {b["job"] for b in points(page, TIMELINE)} == low
    assert json.loads(page.get_attribute(TIMELINE, "data-workers")) == ["w1", "w2", "w3"]
    assert f"{k} selected job" in page.inner_text(f"{TIMELINE} .plot-note")
    x, y = page.eval_on_selector(TIMELINE, f"fig => fig.barAt('w3', {blue['end']})")
    assert not painted(page, TIMELINE, x - 1.5, y, radius=1)  # the running job is not selected


def test_a_narrow_log_axis_has_round_ticks_not_raw_samples(site, page):
    api = site.api
    fill.put(
        api,
        fill.exp_path("narrow"),
        {
            "scheduler": {
                "RandomSearch": {
                    "lr": {"loguniform": {"low": 0.000175865, "high": 0.000291}},
                    "opt": {"choice": {"values": ["sgd", "adam"]}},
                }
            }
        },
    )
    for i in range(12):
        lr = 0.000175865 * (0.000291 / 0.000175865) ** (i / 11)
        add(api, "narrow", "DONE", {"lr": lr, "opt": ["sgd", "adam"][i % 2]}, {"loss": 1 + i / 10})
    ready(page, site, "#/e/narrow")
    scatter = 'figure[data-plot="scatter"][data-hyperparameter="lr"]'
    page.wait_for_selector(f"{scatter}[data-count]")
    ticks = json.loads(page.get_attribute(scatter, "data-ticks"))
    assert ticks == ["2e-4", "2.5e-4"]  # round values inside the range, never a sample
    assert "0.000175865" not in ticks
    assert json.loads(page.get_attribute('figure[data-plot="scatter"][data-hyperparameter="opt"]', "data-ticks")) == [
        "sgd",
        "adam",
    ]
    # The last x tick's label ends inside the canvas (not clipped at its right edge).
    width = page.eval_on_selector(scatter, "fig => fig.canvas.clientWidth")
    right = pixels(page, scatter, (width - 3, 190, width, 215))
    assert not [p for p in right if p[3] > 60]


def test_a_long_hyperparameter_name_on_the_first_axis_is_cut_with_an_ellipsis_inside_the_canvas(site, page):
    """Not "ming_rate_of_t (log)": the label's start was drawn left of the canvas and lost."""
    long = "learning_rate_of_the_optimizer_very_long_name"
    space = {long: {"loguniform": {"low": 1e-4, "high": 1e-1}}, "x": {"uniform": {"low": 0, "high": 1}}}
    fill.put(site.api, fill.exp_path("long-axis"), {"scheduler": {"RandomSearch": space}})
    for i in range(6):
        add(site.api, "long-axis", "DONE", {long: 10 ** (-4 + i / 2), "x": i / 6}, {"loss": 1 + i / 10})
    ready(page, site, "#/e/long-axis")
    page.wait_for_selector(f"{PARALLEL}[data-legend]")
    assert json.loads(page.get_attribute(PARALLEL, "data-axes"))[0] == long
    at = layout(page)
    row = (0, at["y0"] + 6, 2, at["y0"] + 22)  # the canvas's first two columns, where the axes' names are written
    labels = (0, at["y0"] + 6, at["xs"][0] + 80, at["y0"] + 22)
    assert [p for p in pixels(page, PARALLEL, labels) if p[3] > 200], "the first axis's name is drawn"
    assert not [p for p in pixels(page, PARALLEL, row) if p[3] > 60], "and nothing of it touches the edge"


def test_ticks_close_together_far_from_zero_keep_their_digits_and_fit(site, page):
    # Results near 1e308 (or any large value with a narrow spread) gave y labels such as
    # "1.0250e+308" that ran off the canvas's left edge and under the axis title.
    api = site.api
    fill.put(api, fill.exp_path("huge"), {"scheduler": {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}}})
    values = [9.6e307, 1e308, 1.04e308]
    for i, value in enumerate(values):
        add(api, "huge", "DONE", {"x": i / 2}, {"r": value})
    ready(page, site, "#/e/huge")
    page.wait_for_selector(f"{HISTORY}[data-count='3']")
    labels = json.loads(page.get_attribute(f"{HISTORY} canvas", "data-y-ticks"))
    assert len(labels) >= 3, labels
    assert len(set(labels)) == len(labels), labels
    numbers = [float(label) for label in labels]
    assert numbers == sorted(numbers)
    assert numbers[0] <= min(values)
    assert max(values) <= numbers[-1]
    # Each label is drawn between the rotated axis title (20 px) and the frame: nothing at the very left.
    left = pixels(page, HISTORY, (0, 10, 4, 240))
    assert not [p for p in left if p[3] > 60]
    # Jobs added by hand have no worker: their row is not counted as one.
    assert page.inner_text(f"{TIMELINE} .plot-note").startswith("Jobs without a worker name;"), page.inner_text(
        f"{TIMELINE} .plot-note"
    )
    # Round values keep short labels.
    fill.put(api, fill.exp_path("round"), {"scheduler": {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}}})
    for i, value in enumerate([0.1, 0.35, 0.6]):
        add(api, "round", "DONE", {"x": i / 2}, {"loss": value})
    ready(page, site, "#/e/round")
    page.wait_for_selector(f"{HISTORY}[data-count='3']")
    assert json.loads(page.get_attribute(f"{HISTORY} canvas", "data-y-ticks")) == ["0.2", "0.4", "0.6"]
