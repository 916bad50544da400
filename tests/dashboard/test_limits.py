"""What the dashboard draws at the limits, in real headless Chromium.

A name with no place to break (the list, the breadcrumb and the headings wrap
it instead of pushing the other columns off the screen, at 1280 and 390 px,
light and dark); objectives near the float limit (±1.7e308: spread over the
history, the EDF, a scatter and parallel coordinates, with tick labels, never
piled on one edge by an overflowing span); a median rule's rungs over 2,000
steps (the steps where it stopped jobs among those drawn).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from schedy.testing import ServiceProcess
from tests.dashboard import fill
from tests.dashboard.browser import Site, near, pixels

LONG = "xxxxxxxxxx-very-long-experiment-name-" + "abcdefghij" * 18  # 217 characters, no break
# The objective `huge` across the whole float range; `big`, positive, for log scales.
HUGE = [1.7e308, -1.7e308, -1e300, 1e300, 1.5e308, -1e308, 0.0, 5e307]
BIG = [1.7e308, 1e300, 1e305, 1.2e308, 3e306, 1e302, 5e307, 1e304]
HISTORY = 'figure[data-plot="history"]'
EDF = 'figure[data-plot="edf"]'
SCATTER = 'figure[data-plot="scatter"]'
PARALLEL = 'figure[data-plot="parallel"]'
RUNGS = 'figure[data-plot="rungs"]'
BLUE = (9, 105, 218)
STOPS = {5: 1, 7: 1}  # the median rule's stops: step → jobs stopped there


def add(api: Any, experiment: str, hps: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    body = {"status": "DONE", "hyperparameters": hps, "results": results}
    answer = api.post(fill.exp_path(experiment) + "jobs/", content=json.dumps(body))
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


def report(api: Any, experiment: str, job_id: str, steps: range, loss: float) -> bool:
    """Report `loss` at each step, one request each, until the policy says stop; whether it did."""
    for step in steps:
        answer = api.post(
            fill.exp_path(experiment) + f"jobs/{job_id}/reports/", json={"step": step, "metrics": {"loss": loss}}
        )
        assert answer.status_code == 200, answer.text
        if answer.json()["stop"]:
            return True
    return False


def median(api: Any, name: str) -> None:
    """One job reporting 2,000 steps and three reporting 30, all good; two bad ones stopped at steps 5 and 7."""
    fill.put(
        api,
        fill.exp_path(name),
        {
            "scheduler": {"RandomSearch": {"lr": {"loguniform": {"low": 1e-3, "high": 1.0}}}},
            "earlyStopping": {"median": {"resultName": "loss", "objective": "min", "warmupSteps": 0, "minJobs": 3}},
        },
    )

    def claim() -> tuple[str, str, dict[str, Any]]:
        job = api.post(fill.exp_path(name) + "nextjob/", json={"heartbeat": 30, "worker": "w"})
        assert job.status_code == 200, job.text
        return job.json()["id"], job.headers["ETag"], job.json()["hyperparameters"]

    def end(job_id: str, tag: str, hps: dict[str, Any], status: str, loss: float) -> None:
        body = {"status": status, "hyperparameters": hps, "results": {"loss": loss}}
        fill.put(api, fill.exp_path(name) + f"jobs/{job_id}/", body, **{"If-Match": tag})

    for i, last in enumerate((2000, 30, 30, 30)):
        job_id, tag, hps = claim()
        for start in range(1, last + 1, 1000):  # 1,000 reports per request at most
            steps = range(start, min(last, start + 999) + 1)
            batch = {"reports": [{"step": s, "metrics": {"loss": (4 - i) / s}} for s in steps]}  # each better
            answer = api.post(fill.exp_path(name) + f"jobs/{job_id}/reports/", json=batch)
            assert answer.status_code == 200, answer.text
        end(job_id, tag, hps, "DONE", (4 - i) / last)
    for first in STOPS:  # bad from their first report: stopped there
        job_id, tag, hps = claim()
        assert report(api, name, job_id, range(first, 31), 100.0)
        end(job_id, tag, hps, "PRUNED", 100.0)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    process = ServiceProcess.start(tmp_path_factory.mktemp("limits"))
    try:
        user = process.new_user("lena@example.com")
        api = fill.client(user)
        yield from filled(process, user, api)
        api.close()
    finally:
        process.stop()


def filled(process: ServiceProcess, user: Any, api: Any) -> Iterator[Site]:
    space = {"RandomSearch": {"x": {"uniform": {"low": 0.0, "high": 1.0}}}}
    jobs: dict[str, Any] = {}
    fill.put(api, fill.exp_path(LONG), {"scheduler": space})
    jobs["long"] = [add(api, LONG, {"x": i / 4}, {"loss": 1.0 + i}) for i in range(3)]
    fill.put(api, fill.exp_path("huge"), {"scheduler": space})
    jobs["huge"] = [
        add(api, "huge", {"x": i / 8}, {"huge": v, "big": b}) for i, (v, b) in enumerate(zip(HUGE, BIG, strict=True))
    ]
    median(api, "median-2000")
    yield Site(process, user, api, jobs)


@contextmanager
def opened(chromium: Any, site: Site, width: int, scheme: str = "light") -> Iterator[Any]:
    """A logged-in page `width` pixels wide in the colour scheme, failing on any error in it."""
    context = chromium.new_context(viewport={"width": width, "height": 844}, color_scheme=scheme)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(site.url())
        page.fill("input[name=email]", site.user.email)
        page.fill("input[name=password]", site.user.password)
        page.click("button[type=submit]")
        page.wait_for_selector("#who .email")
        yield page
        assert errors == []
    finally:
        context.close()


def inside(page: Any, selector: str, width: int) -> bool:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return bool(box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5)


def page_width(page: Any) -> int:
    found: int = page.evaluate("() => document.documentElement.scrollWidth")
    return found


# --- 1: a name with no break ------------------------------------------------------------------


@pytest.mark.parametrize(("width", "scheme"), [(1280, "light"), (1280, "dark"), (390, "light")])
def test_a_long_name_wraps_in_the_list_and_every_column_stays_on_the_screen(chromium, site, width, scheme):
    with opened(chromium, site, width, scheme) as page:
        row = f'table.experiments tr[data-experiment="{LONG}"]'
        page.wait_for_selector(row)
        assert page_width(page) <= width
        # Every column the width shows is on the screen, not scrolled aside inside the table's box.
        assert inside(page, 'table.experiments th[data-key="status"]', width)
        for column in (1, 2, 4, 5):  # name, status, jobs, best (scheduler and activity are hidden at 390)
            assert inside(page, f"{row} td:nth-child({column})", width), column
        assert page.inner_text(f"{row} td:nth-child(4) .total").strip() == "3"
        best = page.locator(f"{row} td.best a").bounding_box()
        assert best is not None
        assert best["height"] < 24  # a number on one line, never "1.7e+" over "308"
        # The name is there whole, wrapped over lines.
        name = page.locator(f"{row} a.name")
        assert name.inner_text().replace("\n", "") == LONG
        box = name.bounding_box()
        assert box is not None
        assert box["height"] > 30  # over lines


@pytest.mark.parametrize("width", [1280, 390])
def test_a_long_name_wraps_on_its_experiment_page_and_its_jobs_pages(chromium, site, width):
    with opened(chromium, site, width) as page:
        page.goto(site.url(f"#/e/{LONG}"))
        page.wait_for_selector("body[data-ready=true] table.jobs tbody tr[data-job]")
        assert page_width(page) <= width
        for selector in ("nav.crumbs", "h1", ".exp-header .meta", 'figure[data-plot="history"]'):
            assert inside(page, selector, width), selector
        assert LONG in page.inner_text("nav.crumbs").replace("\n", "")
        job = site.jobs["long"][0]["id"]
        page.goto(site.url(f"#/e/{LONG}/j/{job}"))
        page.wait_for_selector(".job h1")
        page.wait_for_function(f"document.querySelector('nav.crumbs').textContent.includes('{job}')")
        assert page_width(page) <= width
        assert inside(page, "nav.crumbs", width)
        assert inside(page, "h1", width)


# --- 2: objectives near the float limit -------------------------------------------------------


def ready(page: Any, site: Site, fragment: str) -> None:
    page.goto(site.url(fragment))
    page.wait_for_selector("body[data-ready=true] table.jobs tbody tr[data-job] >> nth=0")
    page.wait_for_selector(f"{HISTORY}[data-count] >> nth=0")


def drawn_ys(page: Any, selector: str) -> dict[str, float]:
    """Where the plot drew each job's point (canvas y, CSS pixels), from what it answers to the pointer."""
    found: dict[str, float] = page.eval_on_selector(
        selector, "fig => Object.fromEntries(fig.hits.map((p) => [p.job, p.py]))"
    )
    return found


def frame_of(page: Any, selector: str) -> tuple[float, float]:
    """The canvas's plotting frame, top and bottom (CSS pixels): plotkit.js's MARGIN."""
    height: float = page.eval_on_selector(selector, "fig => fig.canvas.clientHeight")
    return 12, height - 38


def ticks(page: Any, selector: str, which: str = "yTicks") -> list[str]:
    found: list[str] = json.loads(page.eval_on_selector(selector, f"fig => fig.canvas.dataset.{which}"))
    return found


def assert_labelled(labels: list[str]) -> None:
    assert len(labels) >= 3, labels
    assert len(set(labels)) == len(labels), labels
    assert all("e30" in t or t == "0" for t in labels), labels  # e.g. "-1e308", "0", "1e308"


def assert_spread(page: Any, selector: str, site: Site) -> None:
    """The jobs' points from the top of the frame to its bottom, in the order of their values."""
    top, bottom = frame_of(page, selector)
    ys = drawn_ys(page, selector)
    by_value = sorted(site.jobs["huge"], key=lambda j: j["results"]["huge"])
    drawn = [ys[j["id"]] for j in by_value]
    assert drawn[0] > bottom - 20, (drawn, bottom)  # -1.7e308 at the bottom
    assert drawn[-1] < top + 20, (drawn, top)  # 1.7e308 at the top
    assert drawn == sorted(drawn, reverse=True), drawn  # higher values higher up (ties: -1e300, 0, 1e300)
    middle = (top + bottom) / 2
    assert all(abs(y - middle) < 10 for y, j in zip(drawn, by_value, strict=True) if abs(j["results"]["huge"]) <= 1e300)
    # Painted there: the history's blue dots, a scatter's coloured ones.
    for y, j in zip(drawn, by_value, strict=True):
        x = page.eval_on_selector(selector, "(fig, id) => fig.hits.find((p) => p.job === id).px", j["id"])
        assert [p for p in pixels(page, selector, (x - 1, y - 1, x + 1, y + 1)) if p[3] > 60], (j, x, y)


def test_objectives_near_the_float_limit_spread_over_the_history_and_scatters_with_ticks(site, page):
    ready(page, site, "#/e/huge?objective=huge&direction=max")
    assert page.get_attribute(HISTORY, "data-objective") == "huge"
    assert_spread(page, HISTORY, site)
    assert_labelled(ticks(page, HISTORY))
    assert_spread(page, SCATTER, site)
    assert_labelled(ticks(page, SCATTER))
    # Parallel coordinates: the objective's axis from bottom to top, labelled.
    axis = page.eval_on_selector(
        PARALLEL,
        """fig => { const a = fig.layout.axes.find((a) => a.objective);
            return {lo: a.pos(-1.7e308), hi: a.pos(1.7e308), mid: a.pos(0), ticks: a.ticks.map((t) => t.label),
                    at: [a.at(0.03), a.at(0.97)]}; }""",
    )
    assert axis["lo"] == pytest.approx(0.03)
    assert axis["hi"] == pytest.approx(0.97)
    assert axis["mid"] == pytest.approx(0.5, abs=0.01)
    assert axis["at"] == [pytest.approx(-1.7e308), pytest.approx(1.7e308)]
    assert_labelled(axis["ticks"])


def test_objectives_near_the_float_limit_draw_the_edf_staircase_with_ticks(site, page):
    ready(page, site, "#/e/huge?objective=huge&direction=max")
    page.wait_for_selector(f"{EDF}[data-count]")
    assert_labelled(ticks(page, EDF, "xTicks"))
    left, right = (page.eval_on_selector(EDF, "(fig, v) => fig.project(v, 0)[0]", v) for v in (-1.7e308, 1.7e308))
    width = page.eval_on_selector(EDF, "fig => fig.canvas.clientWidth")
    assert left < 80, left
    assert right > width - 40, (right, width)
    # Maximised: the share of jobs ≥ x, read off the blue pixels of the canvas's column at x.
    for value, share in ((-1.5e308, 7 / 8), (-5e307, 6 / 8), (1e308, 2 / 8), (1.6e308, 1 / 8)):
        heights = page.eval_on_selector(
            EDF,
            """(fig, value) => {
                const canvas = fig.canvas, ctx = canvas.getContext("2d"), ratio = canvas.width / canvas.clientWidth;
                const [px, y0] = fig.project(value, 0), y1 = fig.project(value, 1)[1];
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
        assert heights, value
        assert all(abs(h - share) < 0.03 for h in heights), (value, heights, share)


def test_positive_objectives_near_the_float_limit_draw_on_a_log_scale_with_round_ticks(site, page):
    ready(page, site, "#/e/huge?objective=big&direction=max")
    page.check(f"{HISTORY} input[name=logY]")
    page.wait_for_function(f"document.querySelector('{HISTORY}').dataset.logY === 'true'")
    labels = ticks(page, HISTORY)
    assert labels
    assert all(t.startswith("1e3") for t in labels), labels  # powers of ten, none Infinity
    top, bottom = frame_of(page, HISTORY)
    ys = drawn_ys(page, HISTORY)
    by_value = sorted(site.jobs["huge"], key=lambda j: j["results"]["big"])
    drawn = [ys[j["id"]] for j in by_value]
    assert drawn[0] > bottom - 20, (drawn, bottom)
    assert drawn[-1] < top + 20, (drawn, top)
    assert drawn == sorted(drawn, reverse=True)
    # Equal decades: 1e300 → 1e302 as far as 1e302 → 1e304.
    d1, d2 = drawn[0] - drawn[1], drawn[1] - drawn[2]
    assert d1 == pytest.approx(d2, rel=0.05), drawn
    # The EDF's log x too.
    page.check(f"{EDF} input[name=logX]")
    page.wait_for_function(f"document.querySelector('{EDF}').dataset.logX === 'true'")
    assert all(t.startswith("1e3") for t in ticks(page, EDF, "xTicks"))


# --- 3: the median rule's stops among 2,000 steps ---------------------------------------------


def test_the_rungs_of_a_median_rule_over_thousands_of_steps_show_where_it_stopped_jobs(site, page):
    page.goto(site.url("#/e/median-2000"))
    page.wait_for_selector(f'body[data-ready=true] {RUNGS}[data-rungs="2000"]')  # the policy's summary has come
    rows = json.loads(page.get_attribute(RUNGS, "data-points"))
    assert len(rows) <= 16
    steps = [r["step"] for r in rows]
    assert (steps[0], steps[-1]) == (1, 2000)
    assert steps == sorted(set(steps))
    # Every step where the policy stopped a job is drawn, saying how many stopped there.
    stopped = {r["step"]: r["reached"] - r["survived"] for r in rows if r["reached"] > r["survived"]}
    assert stopped == STOPS
    assert sum(stopped.values()) == 2  # the header's "pruned 2"
    note = page.inner_text(f"{RUNGS} .plot-note")
    assert f"{len(rows)} of 2000 steps shown" in note, note
    assert "every step where jobs were stopped (2)" in note, note
    # Painted: at those steps the light "stopped there" part shows past the dark "went on" part.
    for i, r in enumerate(rows):
        y = 12 + i * 26 + 13  # reports.js: a row of 26 px per rung from the top margin
        most = max(q["reached"] for q in rows)
        right = page.eval_on_selector(RUNGS, "fig => fig.canvas.clientWidth") - 14 - 130 - 60
        on_end = 130 + right * r["survived"] / most
        stop_end = 130 + right * r["reached"] / most
        if r["step"] in STOPS:
            light = pixels(page, RUNGS, ((on_end + stop_end) / 2 - 1, y - 1, (on_end + stop_end) / 2 + 1, y + 1))
            assert all(near(p, (182, 212, 254)) for p in light), (r, light)
        dark = pixels(page, RUNGS, (on_end - 3, y - 1, on_end - 1, y + 1))
        assert all(near(p, BLUE) for p in dark), (r, dark)
