"""Opening an experiment's page: its jobs are asked for once, before the page's code has loaded.

``start.js`` sends the experiment page's data request at once; the page takes
that answer instead of asking again. A new tab loads the page's files from the
browser's cache (versioned, immutable URLs) with no request at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from schedy.testing import ServiceProcess
from tests.dashboard import fill
from tests.dashboard.browser import Site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    process = ServiceProcess.start(tmp_path_factory.mktemp("start"))
    user = process.new_user("erin@example.com")
    api = fill.client(user)
    jobs = fill.random_search(api, "search", 30)
    yield Site(process, user, api, jobs)
    api.close()
    process.stop()


def requests_of(page: Any) -> list[str]:
    """The paths the page asked the network for, in order (a list the page's handler appends to)."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url.split("/", 3)[3]))
    return seen


def test_the_jobs_are_asked_for_once_and_before_the_pages_code_runs(page: Any, site: Site) -> None:
    tab = page.context.new_page()
    seen = requests_of(tab)
    tab.goto(site.url("#/e/search"))
    tab.wait_for_selector("body[data-ready=true] table.jobs tbody tr[data-job]")
    jobs = [p for p in seen if p.startswith("dashboard/api/experiments/search/jobs/")]
    assert jobs == ["dashboard/api/experiments/search/jobs/"]  # one request, taken by the page
    # Sent before the session check, which needs the page's modules: start.js has none.
    assert seen.index(jobs[0]) < seen.index("dashboard/api/session/")
    assert tab.locator("table.jobs tbody tr[data-job]").count() == 30
    tab.close()


def test_a_new_tab_takes_the_pages_files_from_the_cache(page: Any, site: Site) -> None:
    tab = page.context.new_page()
    tab.goto(site.url("#/e/search"))
    tab.wait_for_selector("body[data-ready=true]")
    loads = tab.evaluate(
        """() => performance.getEntriesByType("resource")
            .filter((e) => e.name.includes("/dashboard/static/"))
            .map((e) => [e.name.split("/").pop(), e.transferSize])"""
    )
    assert len(loads) >= 20  # the page's modules, its style and icon
    # Nothing went over the network (not even a revalidation, which transfers headers).
    assert [name for name, size in loads if size > 0] == []
    tab.close()


def test_an_early_request_without_a_session_is_asked_again_after_the_login(chromium: Any, site: Site) -> None:
    context = chromium.new_context()
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.goto(site.url("#/e/search"))  # no session yet: the early request is answered 401
    tab.fill("input[name=email]", site.user.email)
    tab.fill("input[name=password]", site.user.password)
    tab.click("button[type=submit]")
    tab.wait_for_selector("body[data-ready=true] table.jobs tbody tr[data-job]")
    assert tab.locator("table.jobs tbody tr[data-job]").count() == 30
    assert tab.get_attribute("body", "data-page") == "experiment"
    assert errors == []
    context.close()


def test_the_experiment_page_opened_from_the_list_is_not_served_a_stale_early_answer(page: Any, site: Site) -> None:
    # The list page sends no early request; the experiment opened from it asks itself.
    fill.random_search(site.api, "later", 5, seed=2)
    page.goto(site.url("#/"))
    page.click("tr[data-experiment='later'] a")
    page.wait_for_selector("table.jobs[data-rows='5']")
    assert page.locator("table.jobs tbody tr[data-job]").count() == 5


def test_a_result_only_non_finite_jobs_hold_still_gets_its_column(page: Any, site: Site) -> None:
    # A full answer sends such results apart ("nonFinite"): the keys found while the
    # hyperparameters and results arrived do not hold them, and are found again.
    fill.put(site.api, fill.exp_path("apart"), {"scheduler": {"Manual": None}})
    for i, results in enumerate([{"loss": 1.0}, {"loss": 2.0, "spread": float("nan")}]):
        body = {"status": "DONE", "hyperparameters": {"x": i}, "results": results}
        answer = site.api.post(fill.exp_path("apart") + "jobs/", content=json.dumps(body, allow_nan=True))
        assert answer.status_code == 201, answer.text
    page.goto(site.url("#/e/apart"))
    page.wait_for_selector("body[data-ready=true] table.jobs tbody tr[data-job]")
    assert page.locator("table.jobs th[data-key='res.spread']").count() == 1
    assert page.locator("table.jobs th[data-key='res.loss']").count() == 1
