"""The dashboard in a real browser, against a real service: what a person sees and does.

One SQLite service for the module (the browser talks HTTP to the same routes
on either backend; the endpoints and their SQL are tested on both in
test_api.py and test_store_stats.py). Pages poll every 300 ms (``?poll=``).

The module's data (Alice's and Bob's experiments) is made once and no test
changes it: a test that adds, changes or deletes anything does so as a user
of its own (the ``mine`` fixture), so the tests pass in any order.

Screenshots for the docs: run with ``SCHEDY_SCREENSHOTS=1`` to rewrite
``docs/screenshots/*.png``; otherwise they are saved under ``tmp_path``.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from schedy.testing import Credentials, ServiceProcess
from tests.dashboard import fill

POLL = 300


@dataclass
class Dash:
    """The service, its users, and the jobs they made."""

    process: ServiceProcess
    alice: Credentials
    bob: Credentials
    random: list[dict[str, Any]]
    pbt: list[dict[str, Any]]
    api: httpx.Client

    def url(self, fragment: str = "") -> str:
        return f"{self.process.url}?poll={POLL}{fragment}"

    def all_jobs(self, name: str) -> list[dict[str, Any]]:
        return all_jobs(self.api, name)


def all_jobs(api: httpx.Client, name: str) -> list[dict[str, Any]]:
    jobs, params = [], {"limit": 5000}
    while True:
        page = json.loads(api.get(fill.exp_path(name) + "jobs/", params=params).text)
        jobs += page["items"]
        if page["next"] is None:
            return jobs
        params["start"] = page["next"]


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dash]:
    home = tmp_path_factory.mktemp("dashboard")
    process = ServiceProcess.start(home)
    alice, bob = process.new_user("alice@example.com"), process.new_user("bob@example.com")
    api = fill.client(alice)
    random = fill.random_search(api, "mnist-random", 300)
    pbt = fill.pbt(api, "toy-pbt", members=6, generations=6)
    theirs = fill.client(bob)
    fill.put(theirs, fill.exp_path("bob-secret"), {"scheduler": {"Manual": None}})
    theirs.close()
    yield Dash(process, alice, bob, random, pbt, api)
    api.close()
    process.stop()


def log_in(chromium: Any, dash: Dash, user: Credentials, fragment: str = "") -> Any:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    page.goto(dash.url(fragment))
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", user.password)
    page.click("button[type=submit]")
    page.wait_for_selector("#who .email")
    return page


@pytest.fixture
def alice_page(chromium: Any, dash: Dash) -> Iterator[Any]:
    page = log_in(chromium, dash, dash.alice)
    yield page
    assert page.errors == []
    page.context.close()


@dataclass
class Mine:
    """A user of the test's own, its API client, and a page logged in as it."""

    user: Credentials
    api: httpx.Client
    page: Any


@pytest.fixture
def mine(chromium: Any, dash: Dash) -> Iterator[Mine]:
    """For a test that adds or changes data: a fresh user, so the module's data stays as made."""
    user = dash.process.new_user()
    api = fill.client(user)
    page = log_in(chromium, dash, user)
    yield Mine(user, api, page)
    assert page.errors == []
    page.context.close()
    api.close()


def points(page: Any, selector: str) -> list[Any]:
    page.wait_for_selector(f"{selector}[data-count]")
    return json.loads(page.get_attribute(selector, "data-points"))


def shot(page: Any, directory: Path, name: str, height: int = 900) -> None:
    """Save what the viewport shows (its top ``height`` pixels): the docs' pictures (see ``screenshots``)."""
    directory.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(directory / name), clip={"x": 0, "y": 0, "width": 1280, "height": height})


def visible_column(page: Any, label: str) -> list[str]:
    headers = page.locator("table.jobs thead th").all_inner_texts()
    index = next(i for i, h in enumerate(headers) if h.split(" ")[0] == label)
    return page.locator(f"table.jobs tbody tr[data-job] td:nth-child({index + 1})").all_inner_texts()


def open_experiment(page: Any, dash: Dash, name: str) -> None:
    page.goto(dash.url(f"#/e/{name}"))
    page.wait_for_selector("body[data-ready=true] table.jobs tbody tr[data-job]")


# --- logging in and the experiment list --------------------------------------------------------


def test_login_shows_my_experiments_with_counts_and_best_and_not_others(chromium, dash, alice_page, screenshots):
    page = alice_page
    page.wait_for_selector("table.experiments tr[data-experiment]")
    names = page.locator("table.experiments tr[data-experiment] a.name").all_inner_texts()
    assert names == ["mnist-random", "toy-pbt"]
    row = page.locator('tr[data-experiment="mnist-random"]')
    assert row.locator(".total").get_attribute("data-total") == "300"
    crashed = sum(j["status"] == "CRASHED" for j in dash.random)
    assert row.locator('.chip[data-status="CRASHED"]').get_attribute("data-count") == str(crashed)
    done = [j for j in dash.random if j["status"] == "DONE"]
    finite = [j["results"]["loss"] for j in done if math.isfinite(j["results"]["loss"])]
    assert float(row.locator(".best a").get_attribute("data-value")) == min(finite)
    assert "loss (min)" in row.locator(".best").inner_text()
    assert page.locator('tr[data-experiment="toy-pbt"] td').nth(1).inner_text() == "DONE"
    assert "bob-secret" not in page.content()
    # The session cookie is out of reach of scripts and of other sites.
    session = next(c for c in page.context.cookies() if c["name"] == "schedy_session")
    assert session["httpOnly"]
    assert session["sameSite"] == "Strict"
    shot(page, screenshots, "experiments.png", height=260)
    # Bob sees his own experiment only, and Alice's are not found even by URL.
    bob = log_in(chromium, dash, dash.bob)
    bob.wait_for_selector("table.experiments tr[data-experiment]")
    assert bob.locator("tr[data-experiment] a.name").all_inner_texts() == ["bob-secret"]
    bob.goto(dash.url("#/e/mnist-random"))
    bob.wait_for_selector("text=does not exist")
    assert bob.locator("table.jobs tr[data-job]").count() == 0
    bob.context.close()


def test_a_wrong_password_is_refused(chromium, dash):
    context = chromium.new_context()
    page = context.new_page()
    page.goto(dash.url())
    page.fill("input[name=email]", dash.alice.email)
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Wrong email or password.")
    assert context.cookies() == []
    context.close()


# --- the experiment page: table ---------------------------------------------------------------


def test_the_job_table_sorts_filters_and_renders_only_what_is_in_view(dash, alice_page):
    page = alice_page
    open_experiment(page, dash, "mnist-random")
    assert page.get_attribute("table.jobs", "data-rows") == "300"
    # Virtualised: a few dozen rows in the DOM, not 300.
    assert 10 < page.locator("table.jobs tbody tr[data-job]").count() < 80
    done = [j for j in dash.random if j["status"] == "DONE"]
    finite = sorted(j["results"]["loss"] for j in done if math.isfinite(j["results"]["loss"]))
    page.click('table.jobs th[data-key="res.loss"]')
    shown = [float(v) for v in visible_column(page, "loss")[:10]]
    assert shown == pytest.approx(finite[:10], rel=1e-5)
    # Descending: the largest numbers first; Infinity (a diverged run) after every number, in either
    # direction (docs/dashboard.md), then NaN and missing values last.
    page.click('table.jobs th[data-key="res.loss"]')
    assert [float(v) for v in visible_column(page, "loss")[:5]] == pytest.approx(finite[::-1][:5], rel=1e-5)
    page.locator(".table-scroll").evaluate("el => el.scrollTop = el.scrollHeight")
    page.wait_for_selector('table.jobs tr[data-index="299"]')
    assert visible_column(page, "loss")[-1] == ""  # jobs without a loss come last
    # Only CRASHED jobs: switch the other statuses off.
    for status in ("QUEUED", "RUNNING", "DONE", "PRUNED"):
        page.click(f'button.filter[data-status="{status}"]')
    crashed = [j["id"] for j in dash.random if j["status"] == "CRASHED"]
    page.wait_for_function(f"() => document.querySelector('.shown').dataset.shown === '{len(crashed)}'")
    rows = page.locator("table.jobs tbody tr[data-job]")
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.job)")) == sorted(crashed)
    assert set(visible_column(page, "status")) == {"CRASHED"}


# --- the experiment page: plots ---------------------------------------------------------------


def _loss(job: dict[str, Any]) -> Any:
    value = job["results"]["loss"]
    return value if math.isfinite(value) else ("NaN" if math.isnan(value) else "Infinity")


def test_every_plot_draws_the_jobs_data(dash, alice_page, screenshots):
    page = alice_page
    open_experiment(page, dash, "mnist-random")
    done = [j for j in dash.random if j["status"] == "DONE"]
    expected = {j["id"]: _loss(j) for j in done}

    history = points(page, 'figure[data-plot="history"]')
    assert {p["job"]: p["y"] for p in history} == expected
    assert [p["x"] for p in history] == list(range(1, len(done) + 1))
    finite = [v for v in expected.values() if isinstance(v, float)]
    assert float(page.get_attribute('figure[data-plot="history"]', "data-best")) == min(finite)
    best_line = json.loads(page.get_attribute('figure[data-plot="history"]', "data-best-line"))
    assert [b for _, b in best_line] == sorted((b for _, b in best_line), reverse=True)  # never gets worse
    assert "non-finite" in page.inner_text('figure[data-plot="history"] .plot-note')

    parallel = points(page, 'figure[data-plot="parallel"]')
    axes = json.loads(page.get_attribute('figure[data-plot="parallel"]', "data-axes"))
    assert axes == ["lr", "layers", "dropout", "loss"]
    by_id = {j["id"]: j for j in done}
    assert len(parallel) == len(finite)
    for p in parallel:
        job = by_id[p["job"]]
        assert p["values"] == [
            job["hyperparameters"]["lr"],
            job["hyperparameters"]["layers"],
            job["hyperparameters"]["dropout"],
            job["results"]["loss"],
        ]

    scatters = page.locator('figure[data-plot="scatter"]')
    assert scatters.count() == 3
    for i, name in enumerate(["lr", "layers", "dropout"]):
        fig = scatters.nth(i)
        assert fig.get_attribute("data-hyperparameter") == name
        drawn = json.loads(fig.get_attribute("data-points"))
        assert {(p["job"], p["x"], json.dumps(p["y"])) for p in drawn} == {
            (j["id"], j["hyperparameters"][name], json.dumps(expected[j["id"]])) for j in done
        }

    curves = points(page, 'figure[data-plot="curves"]')
    assert {c["job"]: c["values"] for c in curves} == {j["id"]: j["results"]["loss_curve"] for j in done}
    # The points are on the canvas too, not only in the DOM: every hit target is painted.
    for kind in ("history", "scatter"):
        unpainted = page.eval_on_selector(
            f'figure[data-plot="{kind}"]',
            """fig => {
            const ctx = fig.canvas.getContext("2d"), ratio = fig.canvas.width / fig.canvas.clientWidth;
            return fig.hits.filter((p) => p.py > 14).filter((p) =>
                ctx.getImageData(Math.round(p.px * ratio), Math.round(p.py * ratio), 1, 1).data[3] === 0).length;
        }""",
        )
        assert unpainted == 0, kind
    shot(page, screenshots, "experiment.png", height=560)


def test_parallel_coordinates_of_thousands_of_jobs_keep_the_best_and_a_sample_of_the_rest(dash, mine):
    fill.bulk(dash.process.database_url, mine.user.email, "wide", 6000)
    jobs = all_jobs(mine.api, "wide")
    page = mine.page
    open_experiment(page, dash, "wide")
    fig = 'figure[data-plot="parallel"]'
    assert page.get_attribute(fig, "data-count") == "4000"
    drawn = {p["job"] for p in points(page, fig)}
    ranked = sorted(jobs, key=lambda j: j["results"]["loss"])
    assert {j["id"] for j in ranked[:1000]} <= drawn
    # The rest is an even sample across the ranks, not only the next best.
    assert len(drawn & {j["id"] for j in ranked[-1000:]}) > 500
    assert "the best 1000" in page.inner_text(f"{fig} .plot-note")


def test_choosing_another_objective_redraws_and_is_remembered(dash, alice_page):
    page = alice_page
    open_experiment(page, dash, "mnist-random")
    page.select_option("select[name=objective]", "accuracy")
    page.select_option("select[name=direction]", "max")
    page.wait_for_selector('figure[data-plot="history"][data-objective="accuracy"]')
    best = max(j["results"]["accuracy"] for j in dash.random if j["status"] == "DONE")
    assert float(page.get_attribute('figure[data-plot="history"]', "data-best")) == best
    page.reload()
    page.wait_for_selector('figure[data-plot="history"][data-objective="accuracy"]')
    page.evaluate("() => localStorage.clear()")


def test_pbt_lineage_and_the_schedule_of_the_best_member(dash, alice_page, screenshots):
    page = alice_page
    open_experiment(page, dash, "toy-pbt")
    jobs = {j["id"]: j for j in dash.all_jobs("toy-pbt")}
    nodes = points(page, 'figure[data-plot="lineage"]')
    assert {n["job"]: (n["member"], n["generation"], n["parent"]) for n in nodes} == {
        j["id"]: (j["member"], j["generation"], j["parent"]) for j in jobs.values()
    }
    best = max(jobs.values(), key=lambda j: j["results"]["Q"])
    path = json.loads(page.get_attribute('figure[data-plot="lineage"]', "data-best-path"))
    assert path[-1] == best["id"]
    assert jobs[path[0]]["generation"] == 1
    assert jobs[path[0]]["parent"] is None
    assert all(jobs[b]["parent"] == a for a, b in itertools.pairwise(path))
    exploits = sum(1 for j in jobs.values() if j["parent"] and jobs[j["parent"]]["member"] != j["member"])
    assert page.get_attribute('figure[data-plot="lineage"]', "data-exploits") == str(exploits)
    schedule = points(page, 'figure[data-plot="schedule"]')
    assert [s["job"] for s in schedule] == path
    assert [s["hyperparameters"] for s in schedule] == [jobs[i]["hyperparameters"] for i in path]
    assert page.input_value("select[name=objective]") == "Q"  # PBT's declared objective
    page.locator('figure[data-plot="lineage"]').scroll_into_view_if_needed()
    shot(page, screenshots, "pbt.png")


# --- live updates -----------------------------------------------------------------------------


def test_a_job_finishing_shows_up_without_reloading_the_page(dash, mine):
    api = mine.api
    fill.put(api, fill.exp_path("live"), {"scheduler": {"Manual": None}})
    for x in (1, 2):
        body = {"status": "DONE", "hyperparameters": {"x": x}, "results": {"loss": x / 10}}
        api.post(fill.exp_path("live") + "jobs/", content=json.dumps(body))
    api.post(fill.exp_path("live") + "jobs/", content=json.dumps({"hyperparameters": {"x": 3}}))
    claimed = api.get(fill.exp_path("live") + "nextjob/")
    assert claimed.status_code == 200
    page = mine.page
    open_experiment(page, dash, "live")
    page.evaluate("() => { window.notReloaded = true; }")
    assert page.get_attribute('.exp-header .chip[data-status="RUNNING"]', "data-count") == "1"
    assert page.get_attribute('figure[data-plot="history"]', "data-count") == "2"
    job = claimed.json()
    body = {"status": "DONE", "hyperparameters": job["hyperparameters"], "results": {"loss": 0.05}}
    fill.put(api, fill.exp_path("live") + f"jobs/{job['id']}/", body, **{"If-Match": claimed.headers["ETag"]})
    page.wait_for_selector(f'table.jobs tr[data-job="{job["id"]}"].status-DONE', timeout=10_000)
    page.wait_for_selector('figure[data-plot="history"][data-count="3"]')
    assert {"job": job["id"], "x": 3, "y": 0.05} in points(page, 'figure[data-plot="history"]')
    assert page.locator('.exp-header .chip[data-status="RUNNING"]').count() == 0
    assert page.locator(".best a").inner_text() == job["id"]
    assert page.evaluate("() => window.notReloaded") is True


def test_reopening_a_changed_experiment_shows_every_change(dash, mine):
    api = mine.api
    fill.put(api, fill.exp_path("reopen"), {"scheduler": {"Manual": None}})
    made = [
        api.post(fill.exp_path("reopen") + "jobs/", content=json.dumps({"hyperparameters": {"x": x}})).json()
        for x in range(6)
    ]
    page = mine.page
    open_experiment(page, dash, "reopen")  # the service keeps this full answer
    assert page.get_attribute("table.jobs", "data-rows") == "6"
    page.goto(dash.url("#/"))  # stop its polling: a page that reloads the experiment renews the kept answer
    body = {"status": "DONE", "hyperparameters": {"x": 0}, "results": {"loss": 0.5}}
    fill.put(api, fill.exp_path("reopen") + f"jobs/{made[0]['id']}/", body)
    added = api.post(fill.exp_path("reopen") + "jobs/", content=json.dumps({"hyperparameters": {"x": 9}})).json()

    urls: list[str] = []
    second = page.context.new_page()
    second.on("request", lambda r: urls.append(r.url))
    open_experiment(second, dash, "reopen")  # the kept answer plus a patch of the changes
    assert second.get_attribute("table.jobs", "data-rows") == "7"
    assert second.locator(f'table.jobs tr[data-job="{made[0]["id"]}"].status-DONE').count() == 1
    assert second.locator(f'table.jobs tr[data-job="{added["id"]}"]').count() == 1
    assert not any("full=true" in u for u in urls)
    second.close()

    assert api.delete(fill.exp_path("reopen") + f"jobs/{made[3]['id']}/").status_code == 204
    urls.clear()
    third = page.context.new_page()
    third.on("request", lambda r: urls.append(r.url))
    open_experiment(third, dash, "reopen")  # the patched answer comes out one too many: read afresh
    assert third.get_attribute("table.jobs", "data-rows") == "6"
    assert third.locator(f'table.jobs tr[data-job="{made[3]["id"]}"]').count() == 0
    assert any("full=true" in u for u in urls)
    third.close()


# --- the job page and the actions -------------------------------------------------------------


def test_job_page_shows_the_job_and_its_lineage(dash, alice_page):
    page = alice_page
    jobs = dash.all_jobs("toy-pbt")
    job = next(j for j in jobs if j["parent"] and any(k["parent"] == j["id"] for k in jobs))
    page.goto(dash.url(f"#/e/toy-pbt/j/{job['id']}"))
    page.wait_for_selector("body[data-ready=true] table.kv.results")
    h0 = float(page.inner_text('table.hyperparameters tr[data-key="h0"] td'))
    assert h0 == pytest.approx(job["hyperparameters"]["h0"], rel=1e-5)
    assert float(page.inner_text('table.results tr[data-key="Q"] td')) == pytest.approx(job["results"]["Q"], rel=1e-5)
    assert page.inner_text('table.run tr[data-key="attempt"] td') == str(job["attempt"])
    assert page.get_attribute(".lineage .parent a", "data-job") == job["parent"]
    children = page.locator(".lineage .children a").evaluate_all("as => as.map(a => a.dataset.job)")
    assert children == [k["id"] for k in jobs if k["parent"] == job["id"]]
    page.click(f'.lineage .parent a[data-job="{job["parent"]}"]')
    page.wait_for_selector(f'h1:has-text("Job {job["parent"]}")')


def test_requeue_a_crashed_job_and_delete_a_job_after_confirming(dash, mine, screenshots):
    # The same search as the module's (the same seed), shorter: this test changes it.
    made = fill.random_search(mine.api, "mnist-random", 40)
    api, page = mine.api, mine.page
    crashed = next(j for j in made if j["status"] == "CRASHED")
    page.goto(dash.url(f"#/e/mnist-random/j/{crashed['id']}"))
    page.wait_for_selector("body[data-ready=true] [data-action=requeue]")
    shot(page, screenshots, "job.png", height=640)
    assert page.locator("section.lineage").count() == 0  # a random search's job has no PBT lineage to show
    page.click("[data-action=requeue]")
    page.wait_for_selector("h1 .badge.status-QUEUED")
    assert api.get(fill.exp_path("mnist-random") + f"jobs/{crashed['id']}/").json()["status"] == "QUEUED"
    assert page.locator("[data-action=requeue]").count() == 0

    victim = next(j for j in made if j["status"] == "DONE" and j["id"] != crashed["id"])
    page.goto(dash.url(f"#/e/mnist-random/j/{victim['id']}"))
    page.wait_for_selector("body[data-ready=true] [data-action=delete]")
    page.click("[data-action=delete]")
    page.click("dialog.confirm button[value=cancel]")
    assert api.get(fill.exp_path("mnist-random") + f"jobs/{victim['id']}/").status_code == 200
    page.click("[data-action=delete]")
    assert victim["id"] in page.inner_text("dialog.confirm")
    page.click("dialog.confirm button[data-confirm]")
    page.wait_for_selector("body[data-page=experiment] table.jobs tr[data-job]")
    assert api.get(fill.exp_path("mnist-random") + f"jobs/{victim['id']}/").status_code == 404
    page.wait_for_function(f"() => document.querySelector('table.jobs').dataset.rows === '{len(made) - 1}'")


def test_a_job_with_non_finite_results_shows_them(dash, alice_page):
    page = alice_page
    nan_job = next(j for j in dash.random if j["status"] == "DONE" and j["results"]["loss"] != j["results"]["loss"])
    page.goto(dash.url(f"#/e/mnist-random/j/{nan_job['id']}"))
    page.wait_for_selector("body[data-ready=true] table.kv.results")
    assert page.inner_text('table.results tr[data-key="loss"] td') == "NaN"
    points(page, 'figure[data-plot="job-curve"]')


def test_mark_an_experiment_done_and_running_again(dash, mine):
    page, api = mine.page, mine.api
    fill.put(api, fill.exp_path("to-mark"), {"scheduler": {"Manual": None}})
    page.goto(dash.url("#/e/to-mark"))
    page.click("[data-action=mark-DONE]")
    page.wait_for_selector("h1 .badge.status-DONE")
    assert api.get(fill.exp_path("to-mark")).json()["status"] == "DONE"
    assert api.get(fill.exp_path("to-mark") + "nextjob/").status_code == 204
    page.click("[data-action=mark-RUNNING]")
    page.wait_for_selector("h1 .badge.status-RUNNING")
    assert api.get(fill.exp_path("to-mark")).json()["status"] == "RUNNING"
