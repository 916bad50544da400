"""A grid whose hyperparameters are ranges kept compact (hunt 6), as the dashboard shows it in real Chromium.

A GridSearch stores an ``integer`` or a stepped ``uniform`` as the distribution, not as the list of its
values (``{"integer": {"low": 1, "high": 1000000}}``: a million values in a few bytes). The page counts
its values in the grid's cells, lists it in the search space, and draws it as that distribution in the
plots that read the declared space (parallel coordinates, importance): the same as a random search
declaring the same distributions, given the same jobs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from schedy.server.dashboard.importance import Kind, space_kinds
from schedy.testing import ServiceProcess
from tests.dashboard import fill
from tests.dashboard.browser import Site, points

# A grid may have at most 1,000,000 cells: a range of a million values alone, or ranges with other axes.
MILLION = {"n": {"integer": {"low": 1, "high": 1000000}}}
GRID = {
    "n": {"integer": {"low": 0, "high": 1000000, "step": 10}},
    "u": {"uniform": {"low": 0.0, "high": 1.0, "step": 0.5}},
    "c": ["x", "y"],
}
# The same distributions, declared by a random search.
TWIN = {"n": GRID["n"], "u": GRID["u"], "c": {"choice": {"values": ["x", "y"]}}}
PARALLEL, IMPORTANCE = 'figure[data-plot="parallel"]', 'figure[data-plot="importance"]'
JOBS = 30


def jobs() -> list[dict[str, Any]]:
    """DONE jobs in the grid's cells: n spread over five decades, the loss set by n (linearly) and u."""
    out = []
    n = 0
    for i in range(JOBS):
        n = max(10 * round(10 ** (5 * i / (JOBS - 1))), n + 10)
        u, c = [0.0, 0.5, 1.0][i % 3], "xy"[i % 2]
        loss = n / 1e6 + 0.05 * u + (0.01 if c == "y" else 0.0)
        out.append({"status": "DONE", "hyperparameters": {"n": n, "u": u, "c": c}, "results": {"loss": loss}})
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    process = ServiceProcess.start(tmp_path_factory.mktemp("grid-ranges"))
    user = process.new_user("gina@example.com")
    api = fill.client(user)
    fill.put(api, fill.exp_path("million"), {"scheduler": {"GridSearch": MILLION}})
    fill.put(api, fill.exp_path("ranges"), {"scheduler": {"GridSearch": GRID}})
    fill.put(api, fill.exp_path("twin"), {"scheduler": {"RandomSearch": TWIN}})
    for name in ("ranges", "twin"):
        for body in jobs():
            answer = api.post(fill.exp_path(name) + "jobs/", content=json.dumps(body))
            assert answer.status_code == 201, answer.text
    # And cells the grids hand out themselves.
    for name in ("million", "ranges"):
        answer = api.post(fill.exp_path(name) + "nextjob/", content=json.dumps({"worker": "w"}))
        assert answer.status_code == 200, answer.text
    yield Site(process, user, api, None)
    api.close()
    process.stop()


def ready(page: Any, site: Site, name: str, plots: bool = True) -> None:
    page.goto(site.url(f"#/e/{name}"))
    page.wait_for_selector("body[data-ready=true] table.jobs tbody tr[data-job]")
    if not plots:
        return
    page.wait_for_selector(f"{PARALLEL}[data-count]")
    page.wait_for_selector(f"{IMPORTANCE}[data-count]")


def drawn(page: Any) -> dict[str, Any]:
    """What parallel coordinates and the importance bars drew: the axes, their scales and ranges, the bars."""
    axes = json.loads(page.get_attribute(PARALLEL, "data-axes"))
    ranges = page.eval_on_selector(PARALLEL, "fig => fig.layout.axes.map((a) => a.numeric ? [a.lo, a.hi] : a.cats)")
    return {
        "axes": axes,
        "scales": dict(zip(axes, json.loads(page.get_attribute(PARALLEL, "data-scales")), strict=True)),
        "ranges": dict(zip(axes, ranges, strict=True)),
        "importance": points(page, IMPORTANCE),
    }


def space(page: Any) -> tuple[str, str, dict[str, str]]:
    """The search space's summary, the line above the jobs, and each hyperparameter's row as printed."""
    page.click("details.search-space summary")
    rows = page.eval_on_selector_all(
        "details.search-space table.space tr[data-hyperparameter]",
        "trs => Object.fromEntries(trs.map((tr) => [tr.dataset.hyperparameter, tr.querySelector('td').innerText]))",
    )
    return page.inner_text("details.search-space summary"), page.inner_text("header .meta, .meta"), rows


def test_a_grid_of_a_million_value_range_counts_its_cells_and_prints_the_range(site: Site, page: Any) -> None:
    ready(page, site, "million", plots=False)
    summary, meta, rows = space(page)
    assert "Search space (GridSearch, 1 hyperparameter, 1000000 cells)" in summary, summary
    assert "1 job of 1000000 cells" in meta, meta
    assert rows == {"n": "integer 1 … 1,000,000 (1,000,000 values)"}


def test_a_grid_with_ranges_and_a_list_counts_its_cells_and_lists_its_hyperparameters(site: Site, page: Any) -> None:
    ready(page, site, "ranges")
    summary, meta, rows = space(page)
    assert "Search space (GridSearch, 3 hyperparameters, 600006 cells)" in summary, summary
    assert f"{JOBS + 1} jobs of 600006 cells" in meta, meta
    assert rows == {
        "n": "integer 0 … 1,000,000 step 10 (100,001 values)",
        "u": "uniform 0 … 1 step 0.5 (3 values)",
        "c": 'grid(["x", "y"])',
    }


def test_the_plots_read_a_grid_range_as_the_distribution_a_random_search_declares(site: Site, page: Any) -> None:
    ready(page, site, "ranges")
    grid = drawn(page)
    ready(page, site, "twin")
    twin = drawn(page)
    assert grid["axes"] == ["n", "u", "c", "loss"]
    # The integer axis is linear over its declared 0 … 1,000,000, not guessed logarithmic from the samples.
    assert grid["scales"] == {"n": "linear", "u": "linear", "c": "category", "loss": "linear"}
    assert grid["ranges"]["n"] == [0, 1000000]
    assert grid["ranges"]["u"] == [0, 1]
    assert grid["ranges"]["c"] == ["x", "y"]
    assert {k: grid[k] for k in ("scales", "ranges")} == {k: twin[k] for k in ("scales", "ranges")}
    # Importance: every hyperparameter has its bar, read as the twin's distributions read them.
    assert sorted(bar["name"] for bar in grid["importance"]) == ["c", "n", "u"]
    assert grid["importance"] == twin["importance"]


def test_the_declared_kinds_of_a_grid_with_ranges() -> None:
    kinds = space_kinds({"GridSearch": {**GRID, "k": {"integer": {"low": 1, "high": 1024, "log": True}}}})
    assert kinds == {
        "n": Kind("linear", 0.0, 1000000.0),
        "u": Kind("linear", 0.0, 1.0),
        "c": Kind("category"),
        "k": Kind("log", 1.0, 1024.0),
    }
