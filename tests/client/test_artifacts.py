"""Artifacts: files stored with jobs, through the client and raw HTTP, on SQLite and PostgreSQL.

The local blob store (the service's data directory) is used here; the same
round trip against an S3-compatible server is in ``test_artifacts_s3.py``.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

import schedy
from schedy import errors
from schedy.testing import ServiceProcess
from tests.conftest import BACKENDS, _database_url


def _file(path: Path, size: int, seed: int = 0) -> Path:
    path.write_bytes(hashlib.sha256(str(seed).encode()).digest() * (size // 32) + b"x" * (size % 32))
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _blobs(home: Path) -> list[Path]:
    return [p for p in (home / "artifacts" / "blobs").rglob("*") if p.is_file()]


def _wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _session(service: Any) -> httpx.Client:
    token = httpx.post(service.url + "token/", json={"email": service.email, "token": service.api_token}).json()
    return httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {token['token']}"}, timeout=30)


def _one_job(db: schedy.SchedyDB, experiment: str) -> tuple[schedy.Job, str]:
    """A new manual experiment's one queued job, and the ``Authorization`` header of ``db``'s user."""
    exp = schedy.ManualSearch(experiment)
    db.add_experiment(exp)
    return exp.add_job(hyperparameters={}), db._transport._current_token().header


def _start_upload(
    port: int, token: str, experiment: str, job_id: str, name: str, size: int, sent: int
) -> socket.socket:
    """A raw upload of ``size`` declared bytes of which only ``sent`` are sent: the connection, left open."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        (
            f"PUT /experiments/{experiment}/jobs/{job_id}/artifacts/{name}/ HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: {token}\r\nContent-Length: {size}\r\n\r\n"
        ).encode()
    )
    for start in range(0, sent, 1 << 20):
        sock.sendall(b"\1" * min(1 << 20, sent - start))
    return sock


@pytest.fixture
def job(db: schedy.SchedyDB) -> schedy.Job:
    exp = schedy.ManualSearch("artifacts")
    db.add_experiment(exp)
    return exp.add_job(hyperparameters={"x": 1})


# -- the round trip ------------------------------------------------------------------


def test_save_list_load_replace_delete(job: schedy.Job, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = _file(tmp_path / "model.pt", 3 * (1 << 20) + 17, seed=1)
    small = _file(tmp_path / "notes.txt", 10, seed=2)
    saved = job.save_artifact(big)
    assert (saved.name, saved.size, saved.sha256) == ("model.pt", big.stat().st_size, _sha(big))
    job.save_artifact(small, name="epoch=3.ckpt")
    assert [(a.name, a.size) for a in job.artifacts()] == [("epoch=3.ckpt", 10), ("model.pt", big.stat().st_size)]

    out = tmp_path / "out"
    out.mkdir()
    assert job.load_artifact("model.pt", out) == out / "model.pt"
    assert (out / "model.pt").read_bytes() == big.read_bytes()
    assert job.load_artifact("epoch=3.ckpt", out / "renamed.bin").read_bytes() == small.read_bytes()
    monkeypatch.chdir(out)
    assert job.load_artifact("epoch=3.ckpt") == out / "epoch=3.ckpt"
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]

    # Same name again: replaced.
    job.save_artifact(small, name="model.pt")
    assert job.load_artifact("model.pt", out).read_bytes() == small.read_bytes()
    assert {a.name: a.size for a in job.artifacts()}["model.pt"] == 10

    job.delete_artifact("model.pt")
    assert [a.name for a in job.artifacts()] == ["epoch=3.ckpt"]
    with pytest.raises(errors.ClientRequestError, match=r"no artifact 'model\.pt'") as info:
        job.load_artifact("model.pt", out)
    assert info.value.code == 404


def test_a_destination_written_as_a_directory_is_one(job: schedy.Job, tmp_path: Path) -> None:
    # docs/artifacts.md: job.load_artifact("last.pt", to="models/") -> models/last.pt, made if missing.
    saved = _file(tmp_path / "last.pt", 100, seed=3)
    job.save_artifact(saved)
    loaded = job.load_artifact("last.pt", to=f"{tmp_path}/models/")
    assert loaded == tmp_path / "models" / "last.pt"
    assert loaded.read_bytes() == saved.read_bytes()


def test_an_empty_file_round_trips(job: schedy.Job, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert job.save_artifact(empty).size == 0
    assert job.load_artifact("empty", tmp_path / "back").read_bytes() == b""


# -- bad input, each refused with one sentence ----------------------------------------


def test_bad_input_is_refused(job: schedy.Job, service: Any, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No file"):
        job.save_artifact(tmp_path / "missing.pt")
    with pytest.raises(IsADirectoryError, match="is a directory: an artifact is one file"):
        job.save_artifact(tmp_path)
    for name in ("../etc/passwd", "a/b", ".hidden", "", "x" * 201, "..", "a b"):
        with pytest.raises(ValueError, match="artifact name"):
            job.save_artifact(_file(tmp_path / "f", 5), name=name)
    path = f"experiments/artifacts/jobs/{job.job_id}/artifacts/"
    with _session(service) as http:
        for raw in ("..%2F..%2Fetc%2Fpasswd", "%2E%2E%2Fx", "a%2Fb", ".env", "a%00b"):
            answer = http.put(path + raw + "/", content=b"data")
            assert answer.status_code == 422, raw
            assert answer.headers["content-type"] == "application/problem+json"
            assert "artifact name" in answer.json()["detail"]
        assert http.get(path).json()["items"] == []
        answer = http.put(path + "ok/", content=b"data", headers={"X-Schedy-Sha256": "0" * 64})
        assert answer.status_code == 400
        assert "damaged in transit" in answer.json()["detail"]
        assert http.put(path + "ok/", content=b"data", headers={"X-Schedy-Sha256": "nothex"}).status_code == 400
        assert http.get(path).json()["items"] == []
        assert http.put("experiments/artifacts/jobs/nope/artifacts/ok/", content=b"data").status_code == 404
        assert http.put("experiments/nope/jobs/nope/artifacts/ok/", content=b"data").status_code == 404


def test_another_users_artifacts_are_404(job: schedy.Job, service: Any, tmp_path: Path) -> None:
    job.save_artifact(_file(tmp_path / "secret.bin", 100))
    other = service.new_user()
    token = httpx.post(service.url + "token/", json={"email": other.email, "token": other.api_token}).json()["token"]
    path = f"experiments/artifacts/jobs/{job.job_id}/artifacts/"
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {token}"}) as http:
        for method, url in (
            ("GET", path),
            ("GET", path + "secret.bin/"),
            ("DELETE", path + "secret.bin/"),
            ("PUT", path + "secret.bin/"),
        ):
            answer = http.request(method, url, content=b"mine" if method == "PUT" else None)
            assert answer.status_code == 404, (method, url)
            assert answer.json()["detail"] == "Experiment 'artifacts' does not exist."
    assert [(a.name, a.size) for a in job.artifacts()] == [("secret.bin", 100)]


def test_unauthenticated_transfers_are_401(job: schedy.Job, service: Any) -> None:
    path = f"{service.url}experiments/artifacts/jobs/{job.job_id}/artifacts/x/"
    assert httpx.put(path, content=b"x").status_code == 401
    assert httpx.get(path).status_code == 401


# -- limits, deletion, and a crash mid-upload (services of their own) ---------------------


@pytest.fixture(scope="module", params=BACKENDS)
def limited(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """A service with a 1 MiB limit per artifact and a 1.5 MiB quota per user."""
    home = tmp_path_factory.mktemp(f"limited-{request.param}")
    process = ServiceProcess.start(
        home,
        _database_url(request.param, request, home),
        extra_args=("--artifact-max-size", "1MiB", "--artifact-quota", "1.5M"),
    )
    yield process
    process.stop()


def _db_of(process: ServiceProcess) -> schedy.SchedyDB:
    return schedy.SchedyDB(config_override=process.new_user().client_config)


def test_size_limit_and_quota_answer_413(limited: ServiceProcess, tmp_path: Path) -> None:
    with _db_of(limited) as db:
        exp = schedy.ManualSearch("limits")
        db.add_experiment(exp)
        job = exp.add_job(hyperparameters={})
        started = time.monotonic()
        with pytest.raises(errors.ClientRequestError, match=r"over the service's limit of 1\.0 MiB per file") as info:
            job.save_artifact(_file(tmp_path / "big", 1 + (1 << 20)))
        assert info.value.code == 413
        assert time.monotonic() - started < 5
        job.save_artifact(_file(tmp_path / "a", 1 << 20))
        job.save_artifact(_file(tmp_path / "a", 1 << 20))  # replacing does not count twice
        with pytest.raises(errors.ClientRequestError, match=r"over your quota of 1\.5 MiB \(1\.0 MiB used\)") as info:
            job.save_artifact(_file(tmp_path / "b", 600 << 10))
        assert info.value.code == 413
        assert [a.name for a in job.artifacts()] == ["a"]
        job.delete_artifact("a")
        assert job.save_artifact(tmp_path / "b").size == 600 << 10


def test_uploads_of_one_user_at_once_never_pass_the_quota_together(limited: ServiceProcess) -> None:
    """8 workers each saving 400 KiB at the same moment against a 1.5 MiB quota: 3 kept, 5 refused, every time."""
    threads, size = 8, 400 << 10
    body = b"\2" * size
    for _ in range(4):  # a fresh user (an empty quota) each round
        user = limited.new_user()
        with schedy.SchedyDB(config_override=user.client_config) as db:
            exp = schedy.ManualSearch("quota-race")
            db.add_experiment(exp)
            jobs = [exp.add_job(hyperparameters={"i": i}).job_id for i in range(threads)]
            token = db._transport._current_token().header
        headers = {"Authorization": token, "X-Schedy-Sha256": hashlib.sha256(body).hexdigest()}
        start = threading.Barrier(threads)

        def upload(
            i: int, headers: dict[str, str] = headers, jobs: list[str] = jobs, start: threading.Barrier = start
        ) -> int:
            with httpx.Client(base_url=limited.url, headers=headers, timeout=60) as client:
                start.wait()
                return client.put(f"experiments/quota-race/jobs/{jobs[i]}/artifacts/ckpt/", content=body).status_code

        with ThreadPoolExecutor(threads) as pool:
            statuses = Counter(pool.map(upload, range(threads)))
        assert statuses == {201: 3, 413: 5}
        with schedy.SchedyDB(config_override=user.client_config) as db:
            kept = [a for job in db.get_experiment("quota-race").all_jobs() for a in job.artifacts()]
        assert sum(a.size for a in kept) == 3 * size  # within the 1.5 MiB quota


def test_an_undeclared_body_over_the_limit_is_cut_off(limited: ServiceProcess) -> None:
    user = limited.new_user()
    token = httpx.post(limited.url + "token/", json={"email": user.email, "token": user.api_token}).json()["token"]

    def body() -> Iterator[bytes]:  # no Content-Length: chunked
        for _ in range(40):
            yield b"\0" * 65536

    with schedy.SchedyDB(config_override=user.client_config) as db:
        exp = schedy.ManualSearch("chunked")
        db.add_experiment(exp)
        job = exp.add_job(hyperparameters={})
        answer = httpx.put(
            f"{limited.url}experiments/chunked/jobs/{job.job_id}/artifacts/big/",
            content=body(),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 413
        assert "over the service's limit" in answer.json()["detail"]
        assert job.artifacts() == []


def test_deleting_a_job_or_experiment_deletes_its_artifacts(limited: ServiceProcess, tmp_path: Path) -> None:
    with _db_of(limited) as db:
        for name in ("gone-job", "gone-exp"):
            db.add_experiment(schedy.ManualSearch(name))
        keep = db.get_experiment("gone-job").add_job(hyperparameters={})
        doomed = db.get_experiment("gone-job").add_job(hyperparameters={})
        other = db.get_experiment("gone-exp").add_job(hyperparameters={})
        before = set(_blobs(limited.home))
        for job in (keep, doomed, other):
            job.save_artifact(_file(tmp_path / "w", 1000))
        mine = set(_blobs(limited.home)) - before
        assert len(mine) == 3
        doomed.delete()
        assert _wait_for(lambda: len(mine & set(_blobs(limited.home))) == 2)
        db.get_experiment("gone-exp").delete()
        assert _wait_for(lambda: len(mine & set(_blobs(limited.home))) == 1)
        assert [a.name for a in keep.artifacts()] == ["w"]
        # A replaced artifact's old bytes go too.
        keep.save_artifact(_file(tmp_path / "w", 1000, seed=5))
        assert _wait_for(lambda: len(mine & set(_blobs(limited.home))) == 0)
        assert keep.load_artifact("w", tmp_path / "back").read_bytes() == (tmp_path / "w").read_bytes()


def test_a_worker_gone_mid_upload_is_no_error_in_the_service_log(limited: ServiceProcess, tmp_path: Path) -> None:
    """A preempted worker's cut upload is routine: no ERROR and no traceback in the log, nothing kept."""
    user = limited.new_user()
    with schedy.SchedyDB(config_override=user.client_config) as db:
        job, token = _one_job(db, "cut")
        logged = limited.log_path.stat().st_size
        sock = _start_upload(limited.port, token, "cut", job.job_id, "part", 900 << 10, sent=300 << 10)
        assert _wait_for(lambda: any((limited.home / "artifacts" / "tmp").glob("*.part")))
        sock.close()
        assert _wait_for(lambda: not any((limited.home / "artifacts" / "tmp").glob("*.part")))
        assert job.artifacts() == []
        job.save_artifact(_file(tmp_path / "part", 1000))  # the service goes on as before
        assert [a.name for a in job.artifacts()] == ["part"]
        with limited.log_path.open("rb") as log:
            log.seek(logged)
            after = log.read().decode(errors="replace")
        assert "ERROR" not in after
        assert "Traceback" not in after


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_9_during_an_upload_leaves_nothing_visible(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    url = _database_url(backend, request, home)
    process = ServiceProcess.start(home, url)
    user = process.new_user()
    with schedy.SchedyDB(config_override=user.client_config) as db:
        job, token = _one_job(db, "crash")
    sock = _start_upload(process.port, token, "crash", job.job_id, "half", 64 << 20, sent=16 << 20)  # a quarter
    assert _wait_for(lambda: any(p.stat().st_size > 0 for p in (home / "artifacts" / "tmp").glob("*.part")))
    os.kill(process.process.pid, signal.SIGKILL)
    process.process.wait()
    sock.close()
    restarted = ServiceProcess.start(home, url, port=process.port)
    try:
        with schedy.SchedyDB(config_override=user.client_config) as db:
            job = db.get_experiment("crash").get_job(job.job_id)
            assert job.artifacts() == []
            with pytest.raises(errors.ClientRequestError) as info:
                job.load_artifact("half", tmp_path)
            assert info.value.code == 404
            assert _blobs(home) == []
            job.save_artifact(_file(tmp_path / "half", 5 << 20))
            assert job.load_artifact("half", tmp_path / "back").read_bytes() == (tmp_path / "half").read_bytes()
    finally:
        restarted.stop()


# -- resume after preemption ----------------------------------------------------------


def test_a_retried_job_starts_with_its_previous_attempts_artifacts(db: schedy.SchedyDB, tmp_path: Path) -> None:
    exp = schedy.ManualSearch("preempted")
    exp.extra["maxRetries"] = 1
    db.add_experiment(exp)
    exp.add_job(hyperparameters={"lr": 0.1})
    first = exp.next_job(heartbeat=0.5)  # a lease of 1.5 s
    checkpoint = _file(tmp_path / "last.ckpt", 70_000, seed=7)
    first.save_artifact(checkpoint)
    first_id = first.job_id
    del first  # the worker was preempted: nothing beats for the job any more, its lease lapses
    deadline = time.monotonic() + 30
    while exp.get_job(first_id).status == schedy.Job.RUNNING and time.monotonic() < deadline:
        time.sleep(0.2)
    retry = exp.next_job(heartbeat=5)
    assert (retry.attempt, retry.hyperparameters) == (2, {"lr": 0.1})
    with retry:
        assert [a.name for a in retry.artifacts()] == ["last.ckpt"]
        assert retry.load_artifact("last.ckpt", tmp_path / "resumed").read_bytes() == checkpoint.read_bytes()
        retry.save_artifact(_file(tmp_path / "last.ckpt", 10, seed=8))
    # The attempts share bytes, not names: each keeps its own checkpoint.
    assert exp.get_job(first_id).load_artifact("last.ckpt", tmp_path / "a").read_bytes() == (
        _file(tmp_path / "x", 70_000, seed=7).read_bytes()
    )
    exp.get_job(first_id).delete()
    assert retry.load_artifact("last.ckpt", tmp_path / "b").stat().st_size == 10
