"""The dashboard as an analysis tool: defects a tester found (hunt 8), read from real headless Chromium.

The importance panel catches up with the last jobs of a search without a reload (the page renders
only when a poll brings a change, and the last jobs bring none after them); log axes across many
decades label every k-th power of ten, readable, not one overlapping label and grid line per decade;
the history note counts a finished job whose objective is None among those left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from schedy.testing import ServiceProcess
from tests.dashboard import fill
from tests.dashboard.browser import Site, pixels

HISTORY, EDF = 'figure[data-plot="history"]', 'figure[data-plot="edf"]'
IMPORTANCE = 'figure[data-plot="importance"]'
SCATTER = 'figure[data-plot="scatter"][data-hyperparameter="lr"]'
PARALLEL = 'figure[data-plot="parallel"]'
#: Losses from 1e-300 to 1e300 (601 decades), then a None and a text.
LOSSES: list[Any] = [1e-300, 1e-100, 1.0, 1e100, 1e300, None, "n/a"]


def add(api: httpx.Client, experiment: str, hyperparameters: dict[str, Any], results: dict[str, Any]) -> None:
    """A DONE job with these hyperparameters and results."""
    body = {"status": "DONE", "hyperparameters": hyperparameters, "results": results}
    answer = api.post(fill.exp_path(experiment) + "jobs/", content=json.dumps(body))
    assert answer.status_code == 201, answer.text


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    process = ServiceProcess.start(tmp_path_factory.mktemp("hunt8"))
    user = process.new_user("hunt8@example.com")
    api = fill.client(user)
    # A regularisation range of 24 decades, and losses over 600.
    space = {"lr": {"loguniform": {"low": 1e-12, "high": 1e12}}}
    fill.put(api, fill.exp_path("wide"), {"scheduler": {"RandomSearch": space}})
    for i, loss in enumerate(LOSSES):
        add(api, "wide", {"lr": 10.0 ** (4 * i - 12)}, {"loss": loss})
    # A search that has 4 finished jobs: one short of an importance.
    fill.put(api, fill.exp_path("live"), {"scheduler": {"Manual": None}})
    for i in range(4):
        add(api, "live", {"x": i / 4, "y": (i * 3 % 4) / 4}, {"loss": (i / 4 - 0.5) ** 2})
    yield Site(process, user, api, None)
    api.close()
    process.stop()


def label_blobs(page: Any, selector: str, rows: tuple[float, float]) -> int:
    """How many separate runs of ink the canvas has between ``rows`` (CSS pixels), across its width:
    each readable tick label is one; labels drawn over each other merge into one."""
    width = page.eval_on_selector(selector, "fig => fig.canvas.clientWidth")
    strip = pixels(page, selector, (0, rows[0], width, rows[1]))
    ratio = len(strip) / (width * (rows[1] - rows[0]))  # device pixels per CSS pixel, squared
    columns = round(width * ratio**0.5)
    inked = [any(strip[r * columns + c][3] > 60 for r in range(len(strip) // columns)) for c in range(columns)]
    blobs, gap = 0, 99
    for ink in inked:
        if ink and gap >= 4 * ratio**0.5:  # a gap of 4 CSS pixels parts two labels (letters are closer)
            blobs += 1
        gap = 0 if ink else gap + 1
    return blobs


def test_log_axes_over_many_decades_label_every_kth_power_of_ten_readably(site: Site, page: Any) -> None:
    page.goto(site.url("#/e/wide?objective=loss&direction=min"))
    page.wait_for_selector(f"body[data-ready=true] {SCATTER}[data-count]")
    # The scatter's lr axis (1e-12 … 1e12): 7 labels, each apart from the next, not 25 run together.
    labels = json.loads(page.get_attribute(SCATTER, "data-ticks"))
    assert labels == ["1e-12", "1e-8", "1e-4", "1", "10000", "1e8", "1e12"], labels
    height = page.eval_on_selector(SCATTER, "fig => fig.canvas.clientHeight")
    assert label_blobs(page, SCATTER, (height - 38 + 6, height - 38 + 17)) == len(labels)
    # Parallel coordinates' lr axis too.
    axis = page.eval_on_selector(PARALLEL, "fig => fig.layout.axes.find((a) => a.name === 'lr').ticks")
    assert [t["label"] for t in axis] == labels
    # The history's log y over 1e-300 … 1e300: every 100th power, and the plot is not painted grey
    # by a grid line per decade.
    page.check(f"{HISTORY} input[name=logY]")
    page.wait_for_function(f"document.querySelector('{HISTORY}').dataset.logY === 'true'")
    ys = json.loads(page.eval_on_selector(HISTORY, "fig => fig.canvas.dataset.yTicks"))
    assert ys == ["1e-300", "1e-200", "1e-100", "1", "1e100", "1e200", "1e300"], ys
    height = page.eval_on_selector(HISTORY, "fig => fig.canvas.clientHeight")
    column = pixels(page, HISTORY, (62, 12, 64, height - 38))  # just right of the y axis, left of every dot
    grey = sum(1 for p in column if p[3] > 20) / len(column)
    assert grey < 0.15, grey
    # The EDF's log x alike.
    page.check(f"{EDF} input[name=logX]")
    page.wait_for_function(f"document.querySelector('{EDF}').dataset.logX === 'true'")
    assert json.loads(page.eval_on_selector(EDF, "fig => fig.canvas.dataset.xTicks")) == ys
    # The history note counts the job whose loss is None with the one whose loss is a text.
    note = page.inner_text(f"{HISTORY} .plot-note")
    assert "2 jobs whose loss is not a number (1 of them None) left out." in note, note


def test_the_importance_catches_up_with_the_last_jobs_without_a_reload(site: Site, page: Any) -> None:
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/importance/" in r.url else None)
    page.clock.install()
    page.goto(site.url("#/e/live"))
    expect(page.locator(f"{IMPORTANCE} .plot-note")).to_contain_text("(4; 5 needed)")
    # The 5th finished job arrives seconds after the panel asked: the table shows it at once.
    add(site.api, "live", {"x": 0.9, "y": 0.1}, {"loss": 0.3})
    expect(page.locator("body[data-ready=true] table.jobs tbody tr[data-job]")).to_have_count(5)
    # Nothing else changes: once the panel's 10 s are over, it has taken the 5th job in.
    page.clock.fast_forward(10_500)
    expect(page.locator(f"{IMPORTANCE} .plot-note")).to_contain_text("From 5 finished jobs", timeout=5000)
    assert int(page.get_attribute(IMPORTANCE, "data-count") or 0) >= 1
    # While nothing changes, it asks nothing more.
    count = len(asked)
    page.clock.fast_forward(30_000)
    page.wait_for_timeout(1000)  # a few polls
    assert len(asked) == count == 2, asked
