"""The table's downloads are `schedy export`'s jobs (hunt 5), read from real headless Chromium (SQLite).

A text "NaN", "Infinity" or "-Infinity" stays a text and a non-finite number a number, in both
downloads and through ``schedy import``; times are export's to the millisecond; a crashed job's
``error``, ``end_reason`` and ``updated_at`` columns are there.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schedy.testing import ServiceProcess
from tests.dashboard import fill
from tests.dashboard.browser import Site
from tests.dashboard.test_views_hunt4 import _post, _same, _schedy, ready

SPACE = {"mode": {"choice": {"values": ["NaN", "Infinity", "plain"]}}}
TEXTS = ["NaN", "Infinity", "-Infinity"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    process = ServiceProcess.start(tmp_path_factory.mktemp("hunt5dl"))
    user = process.new_user("hunt5dl@example.com")
    api = fill.client(user)
    yield Site(process, user, api, None)
    api.close()
    process.stop()


def _download(page: Any, kind: str) -> str:
    with page.expect_download() as caught:
        page.click(f'button[data-action="download-{kind}"]')
    return Path(caught.value.path()).read_text(encoding="utf-8")


def test_a_text_nan_stays_a_text_and_a_nan_a_number_through_download_and_import(site, page, tmp_path):
    api = site.api
    fill.put(api, fill.exp_path("texts"), {"scheduler": {"RandomSearch": SPACE}})
    made = []
    for i in range(6):
        results: dict[str, Any] = {"verdict": TEXTS[i % 3], "loss": [math.nan, math.inf, -math.inf, 0.5][i % 4]}
        results["curve"] = [1.5, "NaN", math.nan]
        body = {"status": "DONE", "hyperparameters": {"mode": ["NaN", "Infinity", "plain"][i % 3]}, "results": results}
        made.append(_post(api, "texts", body))
    exported = _schedy(site, tmp_path, "export", "texts")
    assert exported.returncode == 0, exported.stderr
    export_rows = {r["id"]: r for r in csv.DictReader(io.StringIO(exported.stdout))}

    ready(page, site, "#/e/texts")
    page.wait_for_selector("table.jobs tbody tr[data-job]")
    text = _download(page, "csv")
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(text))}
    for job in made:
        for column in ("hyperparameters.mode", "results.verdict", "results.loss", "results.curve"):
            assert rows[job["id"]][column] == export_rows[job["id"]][column], (job["id"], column)
    assert rows[made[0]["id"]]["results.verdict"] == '"NaN"'  # a text, quoted as export quotes it
    assert rows[made[0]["id"]]["results.loss"] == "nan"  # a number

    (tmp_path / "texts.csv").write_text(text, encoding="utf-8")
    body = json.loads(_download(page, "json"), parse_constant=lambda c: float(c))
    by_id = {j["id"]: j for j in body["jobs"]}
    for job in made:
        assert _same(by_id[job["id"]]["hyperparameters"], job["hyperparameters"])
        assert _same(by_id[job["id"]]["results"], {**job["results"], "curve": [1.5, "NaN", math.nan]})
    (tmp_path / "texts.json").write_text(json.dumps(body), encoding="utf-8")

    for name in ("texts.csv", "texts.json"):
        copy = f"copy-{name.replace('.', '-')}"
        fill.put(api, fill.exp_path(copy), {"scheduler": {"RandomSearch": SPACE}})
        imported = _schedy(site, tmp_path, "import", copy, str(tmp_path / name))
        assert imported.returncode == 0, imported.stderr
        back = {j["id"]: j for j in api.get(fill.exp_path(copy) + "jobs/?limit=100").json()["items"]}
        for job in made:
            got = back[job["id"]]
            assert got["hyperparameters"] == job["hyperparameters"], (name, got)
            assert got["results"]["verdict"] == job["results"]["verdict"], (name, got)  # a str, not a float
            assert _same(got["results"]["loss"], job["results"]["loss"]), (name, got)


def test_download_times_and_fields_are_exports_for_jobs_added_finished(site, page, tmp_path):
    api = site.api
    fill.put(api, fill.exp_path("times"), {"scheduler": {"Manual": None}})
    made = [
        _post(api, "times", {"status": "DONE", "hyperparameters": {"i": i}, "results": {"loss": i}}) for i in range(20)
    ]
    crashed = _post(api, "times", {"status": "RUNNING", "hyperparameters": {"i": 99}, "results": {}})
    path = fill.exp_path("times") + f"jobs/{crashed['id']}/"
    failed = {**crashed, "status": "CRASHED"}
    answer = api.put(path, content=json.dumps(failed), headers={"If-Match": crashed["etag"]})
    assert answer.status_code == 200, answer.text
    error = {"type": "RuntimeError", "message": "CUDA out of memory", "traceback": "..."}
    assert api.put(path + "error/", content=json.dumps(error)).status_code == 204
    exported = _schedy(site, tmp_path, "export", "times")
    assert exported.returncode == 0, exported.stderr
    export_rows = {r["id"]: r for r in csv.DictReader(io.StringIO(exported.stdout))}

    ready(page, site, "#/e/times")
    page.wait_for_selector("table.jobs tbody tr[data-job]")
    text = _download(page, "csv")
    header = next(csv.reader(io.StringIO(text)))
    assert header == list(next(iter(csv.DictReader(io.StringIO(exported.stdout)))).keys())  # export's columns
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(text))}
    assert len(rows) == len(made) + 1
    for job_id, row in rows.items():
        assert row == export_rows[job_id], job_id  # times to the millisecond, updated_at, end_reason, error
    assert rows[crashed["id"]]["error"] == "RuntimeError: CUDA out of memory"
    body = json.loads(_download(page, "json"))
    exported_json = {
        j["id"]: j for j in json.loads(_schedy(site, tmp_path, "export", "times", "--format", "json").stdout)
    }
    for record in body["jobs"]:
        assert record == exported_json[record["id"]]
