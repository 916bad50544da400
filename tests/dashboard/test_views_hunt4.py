"""What an analyst found misleading in the experiment page (hunt 4), read from real headless Chromium (SQLite).

The table's downloads written as ``schedy export`` writes them (and imported back by ``schedy import``);
the contour's default pair of hyperparameters and its note when nothing is drawn; the importance of a
search whose first jobs are still running (no 422, no error in the console) and the note naming a
hyperparameter with no bar; Hyperband's bracket that never stops, counted in the rungs' note; a
category ``""`` labelled.
"""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from schedy.server.stopping.asha import Hyperband
from schedy.testing import ServiceProcess
from tests.dashboard import fill
from tests.dashboard.browser import Site

NAN, INF = math.nan, math.inf
CONTOUR, IMPORTANCE = 'figure[data-plot="contour"]', 'figure[data-plot="importance"]'
RUNGS = 'figure[data-plot="rungs"]'
COND_SPACE = {
    "opt": {
        "choice": {"values": ["sgd", "adam"], "branches": {"sgd": {"momentum": {"uniform": {"low": 0, "high": 1}}}}}
    },
    "lr": {"loguniform": {"low": 1e-4, "high": 1}},
    "x": {"uniform": {"low": 0, "high": 1}},
}
DL_SPACE = {
    "opt": {"choice": {"values": ["sgd", "3", 3, "", "=1+2", "NA", None]}},
    "lr": {"loguniform": {"low": 1e-4, "high": 1}},
}


def _post(api: Any, name: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = api.post(fill.exp_path(name) + "jobs/", content=json.dumps(body))
    assert answer.status_code == 201, answer.text
    job: dict[str, Any] = answer.json()
    return job


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    process = ServiceProcess.start(tmp_path_factory.mktemp("hunt4"))
    user = process.new_user("hunt4@example.com")
    api = fill.client(user)
    # A conditional space: momentum only in the sgd branch, and every sgd job diverged (NaN loss).
    fill.put(api, fill.exp_path("cond"), {"scheduler": {"RandomSearch": COND_SPACE}})
    for i in range(12):
        sgd = i % 4 == 0
        hp: dict[str, Any] = {"opt": "sgd", "momentum": 0.1 + i / 20} if sgd else {"opt": "adam"}
        hp |= {"lr": 10 ** (-4 + i / 3), "x": (i * 7 % 12) / 12}
        loss = NAN if sgd else (math.log10(hp["lr"]) + 2) ** 2 + hp["x"]
        _post(api, "cond", {"status": "DONE", "hyperparameters": hp, "results": {"loss": loss}})
    yield Site(process, user, api, None)
    api.close()
    process.stop()


def ready(page: Any, site: Site, fragment: str) -> None:
    page.goto(site.url(fragment))
    page.wait_for_selector("body[data-ready=true]")


def _schedy(site: Site, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp / "client.json"
    config.write_text(json.dumps(site.user.client_config))
    argv = [sys.executable, "-m", "schedy.cli.main", "--config", str(config), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    """Equal values, NaN equal to NaN (in lists too); a string is never a number.

    Numbers compare by value: the browser reads 2.0 and 2 as one number, and writes it ``2``.
    """
    if _number(a) and _number(b):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def test_the_downloads_have_schedy_exports_columns_and_the_csv_imports_back(site, page, tmp_path):
    api = site.api
    fill.put(api, fill.exp_path("dl"), {"scheduler": {"RandomSearch": DL_SPACE}})
    values: list[Any] = ["sgd", "3", 3, "", "=1+2", "NA", None]
    made = []
    for i, opt in enumerate(values):
        results = {
            "loss": [0.5, NAN, INF, -1.5, 1e-7, 2.0, 10.0**20][i],
            "tag": ["NA", "true", "-2", "x", "", "a,b", "q"][i],
        }
        results["curve"] = [1.0, NAN, 0.5]
        made.append(
            _post(
                api, "dl", {"status": "DONE", "hyperparameters": {"opt": opt, "lr": 10 ** -(i % 4)}, "results": results}
            )
        )
    _post(api, "dl", {"status": "QUEUED", "hyperparameters": {"opt": "sgd", "lr": 0.1}, "results": {}})
    noted = made[1]["id"]
    assert (
        api.put(fill.exp_path("dl") + f"jobs/{noted}/notes/", content=json.dumps({"text": 'odd, "see"'})).status_code
        == 200
    )
    exported = _schedy(site, tmp_path, "export", "dl")
    assert exported.returncode == 0, exported.stderr
    export_header = next(csv.reader(io.StringIO(exported.stdout)))

    ready(page, site, "#/e/dl?status=DONE&sort=res.loss&dir=asc")
    page.wait_for_selector("table.jobs thead th[data-key=note]")
    with page.expect_download() as caught:
        page.click('button[data-action="download-csv"]')
    text = Path(caught.value.path()).read_text(encoding="utf-8")
    header = next(csv.reader(io.StringIO(text)))
    # The columns schedy export writes, in its order (those the jobs shown have): no hp./res. names.
    assert header[:2] == ["id", "status"]
    assert {c for c in header if c.startswith(("hyperparameters.", "results."))} == {
        c for c in export_header if c.startswith(("hyperparameters.", "results."))
    }
    assert header == [c for c in export_header if c in header]
    assert {"created_at", "note"} <= set(header)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(made)
    assert {r["id"] for r in rows} == {j["id"] for j in made}
    # Cells as export writes them: "3" quoted apart from 3, NaN as nan, a formula's text quoted (not run).
    by_id = {r["id"]: r for r in rows}
    export_rows = {r["id"]: r for r in csv.DictReader(io.StringIO(exported.stdout))}
    for job in made:
        for column in ("hyperparameters.opt", "results.tag"):
            if job["id"] != made[4]["id"] or column != "hyperparameters.opt":
                assert by_id[job["id"]][column] == export_rows[job["id"]][column], (job["id"], column)
    # A text a spreadsheet would run as a formula is written as JSON too (quoted: text to a spreadsheet).
    assert by_id[made[4]["id"]]["hyperparameters.opt"] == '"=1+2"'

    # schedy import reads the download back: every job, with the same values and types.
    (tmp_path / "dl.csv").write_text(text, encoding="utf-8")
    fill.put(api, fill.exp_path("dl-copy"), {"scheduler": {"RandomSearch": DL_SPACE}})
    imported = _schedy(site, tmp_path, "import", "dl-copy", str(tmp_path / "dl.csv"))
    assert imported.returncode == 0, imported.stderr
    back = {j["id"]: j for j in api.get(fill.exp_path("dl-copy") + "jobs/?limit=100").json()["items"]}
    assert back.keys() == {j["id"] for j in made}
    for job in made:
        got = back[job["id"]]
        assert _same(got["hyperparameters"], job["hyperparameters"]), (got, job)
        assert _same(got["results"], job["results"]), (got, job)

    # The JSON download: each job in export --format json's form and key order, with the same values.
    with page.expect_download() as caught:
        page.click('button[data-action="download-json"]')
    body = json.loads(Path(caught.value.path()).read_text(encoding="utf-8"))
    assert body["count"] == len(made)
    assert body["sort"] == {"key": "res.loss", "dir": 1}
    exported_json = _schedy(site, tmp_path, "export", "dl", "--format", "json")
    assert exported_json.returncode == 0, exported_json.stderr
    wire = {j["id"]: j for j in json.loads(exported_json.stdout)}
    for record in body["jobs"]:
        full = wire[record["id"]]
        assert list(record) == [k for k in full if k in record], record  # the same names, in the same order
        assert not set(record) - set(full)
        for key in ("id", "status", "hyperparameters", "results", "note", "worker", "attempt"):
            if key in record:
                assert _same(record[key], full[key]), key
    assert math.isnan(next(j for j in body["jobs"] if j["id"] == noted)["results"]["loss"])  # a number, not "NaN"


def test_the_default_contour_has_data_and_an_empty_one_says_why(site, page):
    ready(page, site, "#/e/cond")
    page.wait_for_selector(f"{CONTOUR}[data-count]")
    # The first two hyperparameters are opt and momentum, which no job with a finite loss has: skipped.
    assert page.eval_on_selector(f"{CONTOUR} select[name=contour-y]", "s => [...s.options].map((o) => o.value)")[
        :2
    ] == [
        "opt",
        "momentum",
    ]
    x, y = page.get_attribute(CONTOUR, "data-x"), page.get_attribute(CONTOUR, "data-y")
    assert "momentum" not in (x, y)
    assert (
        page.input_value(f"{CONTOUR} select[name=contour-x]"),
        page.input_value(f"{CONTOUR} select[name=contour-y]"),
    ) == (x, y)
    assert int(page.get_attribute(CONTOUR, "data-measured")) > 0
    # Chosen by hand: drawn empty, and the note says why instead of describing an interpolation.
    page.select_option(f"{CONTOUR} select[name=contour-x]", "opt")
    page.select_option(f"{CONTOUR} select[name=contour-y]", "momentum")
    page.wait_for_function(f"document.querySelector('{CONTOUR}').dataset.y === 'momentum'")
    assert page.get_attribute(CONTOUR, "data-measured") == "0"
    note = page.inner_text(f"{CONTOUR} .plot-note")
    assert "averaged" not in note
    assert "Nothing to draw for these two: none of the 3 jobs with both opt and momentum has a finite loss" in note


def test_importance_names_a_hyperparameter_no_job_used_has(site, page):
    ready(page, site, "#/e/cond")
    page.wait_for_selector(f"{IMPORTANCE}[data-count]")
    names = [b["name"] for b in json.loads(page.get_attribute(IMPORTANCE, "data-points"))]
    assert "momentum" not in names
    assert json.loads(page.get_attribute(IMPORTANCE, "data-unused")) == ["momentum"]
    assert "No bar for momentum: none of the 9 jobs used has it." in page.inner_text(f"{IMPORTANCE} .plot-note")


def test_a_search_whose_first_jobs_run_shows_a_plain_importance_note_and_no_error(site, page):
    api = site.api
    asha = {"asha": {"resultName": "loss", "objective": "min", "minStep": 1, "reductionFactor": 3}}
    space = {"x": {"uniform": {"low": 0, "high": 1}}}
    fill.put(api, fill.exp_path("live"), {"scheduler": {"RandomSearch": space}, "earlyStopping": asha})
    for _ in range(2):  # running, none finished
        assert api.post(fill.exp_path("live") + "nextjob/", json={"heartbeat": 600}).status_code == 200
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("console", lambda m: failed.append(m.text) if m.type == "error" else None)
    ready(page, site, "#/e/live")
    expect(page.locator(f"{IMPORTANCE} .plot-note")).to_contain_text("Not enough finished jobs", timeout=10000)
    assert "unavailable" not in page.inner_text(IMPORTANCE)
    assert page.get_attribute(IMPORTANCE, "data-count") == "0"
    assert failed == []


def test_hyperbands_bracket_that_never_stops_is_counted_in_the_rungs_note(site, page):
    api = site.api
    policy = {"hyperband": {"resultName": "loss", "objective": "min", "minStep": 1, "maxStep": 9, "reductionFactor": 3}}
    space = {"x": {"uniform": {"low": 0, "high": 1}}}
    fill.put(api, fill.exp_path("hb"), {"scheduler": {"RandomSearch": space}, "earlyStopping": policy})
    ids, top, never = _hyperband_jobs(api, "hb")
    ready(page, site, "#/e/hb")
    expect(page.locator(f"{RUNGS} .plot-note")).to_contain_text("never stops", timeout=10000)
    note = page.inner_text(f"{RUNGS} .plot-note")
    assert f"{never} jobs are in bracket {top}, which never stops (it trains every job to maxStep 9): no rung" in note
    # With the jobs of the bars (each bracket's first rung), every job that reported is counted once.
    first: dict[int, int] = {}
    for row in json.loads(page.get_attribute(RUNGS, "data-points")):
        first.setdefault(row["bracket"], row["reached"])
    assert top not in first
    assert sum(first.values()) + never == len(ids)


def _hyperband_jobs(api: Any, name: str) -> tuple[list[str], int, int]:
    """Jobs of a Hyperband search (brackets 0-2) reporting steps 1-9, at least 2 in the bracket that never stops.

    Returns their ids, that bracket and how many of them are in it (the policy hashes a job's key, its pk).
    """
    brackets = Hyperband("loss", "min", 1, 9, 3)
    top = brackets.brackets - 1
    ids: list[str] = []
    never = 0
    while never < 2:  # about 1 job in 5 is in the top bracket
        assert len(ids) < 200
        for _ in range(8):
            job = api.post(fill.exp_path(name) + "nextjob/", json={"heartbeat": 600})
            assert job.status_code == 200, job.text
            job_id = job.json()["id"]
            reports = [{"step": s, "metrics": {"loss": 1.0 / s + len(ids) % 5}} for s in range(1, 10)]
            answer = api.post(fill.exp_path(name) + f"jobs/{job_id}/reports/", content=json.dumps({"reports": reports}))
            assert answer.status_code == 200, answer.text
            ids.append(job_id)
        table = api.get(f"dashboard/api/experiments/{name}/jobs/", params={"full": "true"})
        assert table.status_code == 200, table.text
        columns = table.json()["jobs"]
        pks = dict(zip(columns["id"], columns["pk"], strict=True))
        never = sum(brackets.bracket_of(str(pks[job_id])) == top for job_id in ids)
    return ids, top, never


def test_an_empty_category_is_labelled_with_quotes(site, page):
    api = site.api
    fill.put(api, fill.exp_path("blank"), {"scheduler": {"Manual": None}})
    for i, tag in enumerate(["a", "", "b", "", "a"]):
        _post(api, "blank", {"status": "DONE", "hyperparameters": {"tag": tag, "x": i}, "results": {"loss": i}})
    ready(page, site, "#/e/blank")
    scatter = 'figure[data-plot="scatter"][data-hyperparameter="tag"]'
    page.wait_for_selector(f"{scatter}[data-count]")
    assert sorted(json.loads(page.get_attribute(scatter, "data-ticks"))) == ['""', "a", "b"]
