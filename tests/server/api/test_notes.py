"""Notes on experiments and jobs (``…/notes/``), on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.dashboard import fill


@pytest.fixture
def mine(service):
    http = fill.client(service.user)
    fill.put(http, fill.exp_path("noted"), {"scheduler": {"Manual": None}})
    yield http
    http.close()


def _job(http: httpx.Client) -> str:
    body = {"status": "DONE", "hyperparameters": {"x": 1}, "results": {"loss": 0.5}}
    answer = http.post(fill.exp_path("noted") + "jobs/", content=json.dumps(body))
    assert answer.status_code == 201
    job_id: str = answer.json()["id"]
    return job_id


def test_an_experiment_note_is_kept_replaced_and_removed(mine):
    path = fill.exp_path("noted") + "notes/"
    assert mine.get(path).json() == {"text": "", "updatedAt": None, "jobs": {}}
    kept = mine.put(path, content=json.dumps({"text": "lr above 1e-2 diverges\nsecond line ✓"}))
    assert kept.status_code == 200
    assert kept.json()["text"] == "lr above 1e-2 diverges\nsecond line ✓"
    assert kept.json()["updatedAt"]
    assert mine.get(path).json()["text"] == "lr above 1e-2 diverges\nsecond line ✓"
    assert mine.put(path, content=json.dumps({"text": "replaced"})).json()["text"] == "replaced"
    assert mine.put(path, content=json.dumps({"text": ""})).json() == {"text": "", "updatedAt": None}
    assert mine.get(path).json() == {"text": "", "updatedAt": None, "jobs": {}}


def test_a_job_note_is_kept_and_goes_with_its_job(mine):
    job = _job(mine)
    path = fill.exp_path("noted") + f"jobs/{job}/notes/"
    assert mine.put(path, content=json.dumps({"text": "diverged at epoch 3"})).status_code == 200
    assert mine.get(path).json()["text"] == "diverged at epoch 3"
    listed = mine.get(fill.exp_path("noted") + "notes/").json()
    assert listed["text"] == ""  # the experiment's is apart
    assert listed["jobs"] == {job: "diverged at epoch 3"}  # every job's note, for exports
    assert mine.delete(fill.exp_path("noted") + f"jobs/{job}/").status_code in (200, 204)
    assert mine.get(path).status_code == 404
    assert mine.get(fill.exp_path("noted") + "notes/").json()["jobs"] == {}


def test_notes_refuse_a_long_text_or_another_shape_in_one_sentence_and_hide_others_experiments(service, mine):
    path = fill.exp_path("noted") + "notes/"
    big = mine.put(path, content=json.dumps({"text": "x" * 20_001}))
    assert big.status_code == 413
    assert big.json()["detail"] == "A note holds at most 20,000 characters; this one has 20,001."
    assert mine.put(path, content=json.dumps({"text": "x" * 20_000})).status_code == 200
    wrong = mine.put(path, content=json.dumps({"note": "hi"}))
    assert wrong.status_code == 422
    assert wrong.json()["detail"] == 'Send a note as {"text": "..."} with a string (empty to remove it).'
    nul = mine.put(path, content=json.dumps({"text": "a\u0000b"}))  # found by the fuzzer: a 500 on PostgreSQL
    assert nul.status_code == 422
    assert nul.json()["detail"].startswith("A note cannot contain the NUL character")
    other = fill.client(service.new_user())
    try:
        assert other.get(path).status_code == 404
        assert other.put(path, content=json.dumps({"text": "mine now"})).status_code == 404
        job = _job(mine)
        assert other.get(fill.exp_path("noted") + f"jobs/{job}/notes/").status_code == 404
    finally:
        other.close()
    assert mine.get(path).json()["text"] == "x" * 20_000
    missing = mine.get(fill.exp_path("noted") + "jobs/nope/notes/")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "Job 'nope' does not exist in experiment 'noted'."
