"""The experiment list in real headless Chromium: filtered by name, search or status, sorted, kept in the URL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

import schedy
from schedy.random import Uniform
from schedy.testing import ServiceProcess
from tests.dashboard import fill
from tests.dashboard.browser import Site

# name -> (search, jobs added): the names sort "run-2" before "run-10" as a person reads them.
EXPERIMENTS = {
    "mnist-run-10": (lambda name: schedy.ManualSearch(name), 1),
    "mnist-run-2": (lambda name: schedy.ManualSearch(name), 3),
    "cifar-tpe": (lambda name: schedy.TPESearch(name, {"x": Uniform(0, 1)}, schedy.MINIMIZE, "loss"), 0),
    "Cifar-grid": (lambda name: schedy.GridSearch(name, {"x": [1, 2]}), 2),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    process = ServiceProcess.start(tmp_path_factory.mktemp("list"))
    try:
        user = process.new_user("erin@example.com")
        with schedy.SchedyDB(config_override=user.client_config, heartbeat=0) as db:
            for name, (search, jobs) in EXPERIMENTS.items():  # created in this order, a little apart
                db.add_experiment(search(name))
                exp = db.get_experiment(name)
                for i in range(jobs):
                    exp.add_job(hyperparameters={"x": i}, status="DONE", results={"loss": i})
                time.sleep(0.05)
        api = fill.client(user)
        yield Site(process, user, api, None)
        api.close()
    finally:
        process.stop()


def names(page: Any) -> list[str]:
    return page.locator("table.experiments tr[data-experiment] a.name").all_inner_texts()


def test_the_list_filters_by_words_and_keeps_the_filter_in_the_url(site, page):
    page.goto(site.url("#/"))
    page.wait_for_selector("table.experiments tr[data-experiment]")
    assert page.inner_text(".table-bar .shown") == "4 experiments"
    page.fill("input[name=filter]", "mnist")
    assert names(page) == ["mnist-run-10", "mnist-run-2"]  # the service's order
    assert page.inner_text(".table-bar .shown") == "2 of 4 experiments"
    page.fill("input[name=filter]", "CIFAR tpe")  # every word, in any case, in the name, the search or the status
    assert names(page) == ["cifar-tpe"]
    page.fill("input[name=filter]", "running grid")
    assert names(page) == ["Cifar-grid"]
    page.fill("input[name=filter]", "imagenet")
    assert names(page) == []
    assert page.inner_text("table.experiments tbody").strip() == "No experiment matches “imagenet”."
    # A reload, or the link shared, shows the same view.
    page.fill("input[name=filter]", "cifar")
    assert page.evaluate("location.hash") == "#/?q=cifar"
    page.reload()
    page.wait_for_selector("table.experiments tr[data-experiment]")
    assert page.input_value("input[name=filter]") == "cifar"
    assert names(page) == ["cifar-tpe", "Cifar-grid"]


def test_the_list_sorts_by_a_column_and_back(site, page):
    page.goto(site.url("#/"))
    page.wait_for_selector("table.experiments tr[data-experiment]")
    page.click('th[data-key="name"] button')
    assert names(page) == ["Cifar-grid", "cifar-tpe", "mnist-run-2", "mnist-run-10"]  # as a person reads them
    assert page.get_attribute('th[data-key="name"]', "aria-sort") == "ascending"
    page.click('th[data-key="name"] button')
    assert names(page) == ["mnist-run-10", "mnist-run-2", "cifar-tpe", "Cifar-grid"]
    page.click('th[data-key="jobs"] button')  # the most jobs first
    assert names(page) == ["mnist-run-2", "Cifar-grid", "mnist-run-10", "cifar-tpe"]
    assert page.get_attribute('th[data-key="jobs"]', "aria-sort") == "descending"
    assert page.get_attribute('th[data-key="name"]', "aria-sort") == "none"
    page.click('th[data-key="activity"] button')  # the latest first
    assert names(page) == ["Cifar-grid", "cifar-tpe", "mnist-run-2", "mnist-run-10"]
    assert page.locator('th[data-key="best"] button').count() == 0  # each experiment has its own objective
    # Sorted and filtered, after a reload too.
    page.fill("input[name=filter]", "mnist")
    page.reload()
    page.wait_for_selector("table.experiments tr[data-experiment]")
    assert names(page) == ["mnist-run-2", "mnist-run-10"]
    assert page.get_attribute('th[data-key="activity"]', "aria-sort") == "descending"
