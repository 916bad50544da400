"""Uploads whose body ends with the file's SHA-256 (``X-Schedy-Sha256: trailing``), as the Python client sends them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import schedy


@pytest.fixture
def http(service: Any) -> Iterator[httpx.Client]:
    token = httpx.post(service.url + "token/", json={"email": service.email, "token": service.api_token}).json()
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {token['token']}"}, timeout=30) as c:
        yield c


@pytest.fixture
def job(db: schedy.SchedyDB) -> schedy.Job:
    db.add_experiment(schedy.ManualSearch("trailing"))
    return db.get_experiment("trailing").add_job(hyperparameters={"x": 1})


def _put(http: httpx.Client, job: schedy.Job, name: str, body: bytes) -> httpx.Response:
    path = f"experiments/trailing/jobs/{job.job_id}/artifacts/{name}/"
    return http.put(path, content=body, headers={"X-Schedy-Sha256": "trailing"})


def test_a_body_ending_with_its_sha256_is_stored_without_it(http: httpx.Client, job: schedy.Job) -> None:
    data = bytes(range(256)) * 10_000  # 2.5 MB: several chunks of the service's
    answer = _put(http, job, "model.bin", data + hashlib.sha256(data).hexdigest().encode())
    assert answer.status_code == 201
    assert (answer.json()["size"], answer.json()["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert http.get(f"experiments/trailing/jobs/{job.job_id}/artifacts/model.bin/").content == data
    empty = _put(http, job, "empty", hashlib.sha256(b"").hexdigest().encode())
    assert (empty.status_code, empty.json()["size"]) == (201, 0)


def test_a_wrong_missing_or_short_trailing_sha256_is_refused(http: httpx.Client, job: schedy.Job) -> None:
    data = b"x" * 3_000_000
    wrong = _put(http, job, "a", data + hashlib.sha256(b"other").hexdigest().encode())
    assert wrong.status_code == 400
    assert "damaged in transit" in wrong.json()["detail"]
    missing = _put(http, job, "b", data)
    assert missing.status_code == 400
    assert "does not end with the SHA-256" in missing.json()["detail"]
    short = _put(http, job, "c", b"abc")
    assert short.status_code == 400
    assert job.artifacts() == []


def test_the_client_sends_the_trailing_sha256_and_the_file_round_trips(job: schedy.Job, tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"a" * (3 << 20))
    saved = job.save_artifact(path)
    assert saved.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert job.load_artifact("f.bin", tmp_path / "back").read_bytes() == path.read_bytes()
