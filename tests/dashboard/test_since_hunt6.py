"""The experiment page's cursor (``jobs/?since=``) never stalls a reader (hunt 6), on SQLite and PostgreSQL.

NaN and ±Infinity are no cursor an answer gives: 400 in one sentence, as for a text. A cursor later
than the database clock gets a full answer and a cursor of its own, so a reader following the
cursors sees the jobs added afterwards.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.dashboard import fill

JOBS = "dashboard/api/experiments/since/jobs/"


@pytest.fixture
def api(service: Any) -> Iterator[httpx.Client]:
    http = fill.client(service.user)
    fill.put(http, fill.exp_path("since"), {"scheduler": {"Manual": None}})
    yield http
    http.close()


def _add(api: httpx.Client, x: int) -> None:
    body = {"status": "QUEUED", "hyperparameters": {"x": x}}
    assert api.post(fill.exp_path("since") + "jobs/", content=json.dumps(body)).status_code == 201


@pytest.mark.parametrize("cursor", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999", "-1"])
def test_a_cursor_that_is_no_time_is_refused_in_one_sentence(api, cursor):
    answer = api.get(JOBS, params={"since": cursor})
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"] == f"'since' must be the cursor of an earlier answer, got {cursor!r}."


@pytest.mark.parametrize("cursor", ["1e308", "far future"])
def test_a_reader_following_a_cursor_from_the_future_sees_the_jobs_added_later(api, cursor):
    since = repr(time.time() + 86400.0) if cursor == "far future" else cursor
    _add(api, 0)
    first = api.get(JOBS, params={"since": since})
    assert first.status_code == 200, first.text
    body = first.json()
    # A full answer, whose cursor is the experiment's, not the one asked with.
    assert (body["partial"], body["total"], len(body["jobs"]["pk"])) == (False, 1, 1)
    assert float(body["cursor"]) < time.time() + 60
    _add(api, 1)
    after = api.get(JOBS, params={"since": body["cursor"]}).json()
    assert (after["partial"], after["total"]) == (True, 2)
    assert 1 in [hp["x"] for hp in after["jobs"]["hyperparameters"]]


def test_the_cursor_of_an_experiment_without_jobs_is_followed(api):
    body = api.get(JOBS).json()
    assert body["total"] == 0
    _add(api, 0)
    after = api.get(JOBS, params={"since": body["cursor"]})
    assert after.status_code == 200, after.text
    assert (after.json()["total"], len(after.json()["jobs"]["pk"])) == (1, 1)
