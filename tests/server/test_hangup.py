"""SIGHUP to ``schedy server``: one process and ``--workers N`` alike keep serving (docs/service.md)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from schedy.testing import ServiceProcess
from tests.server.conftest import Api, worker_processes

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _serves(service: ServiceProcess) -> bool:
    try:
        return httpx.get(service.url + "ping/", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def test_sighup_to_a_single_process_service_logs_a_line_and_it_keeps_serving(tmp_path: Path) -> None:
    with ServiceProcess.start(tmp_path / "home") as service:
        user = service.new_user()
        os.kill(service.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "Received SIGHUP" not in service.log() and time.monotonic() < deadline:
            assert service.process.poll() is None, service.log()
            time.sleep(0.1)
        time.sleep(0.5)
        assert service.process.poll() is None, service.log()  # it used to end here, silently
        assert "Received SIGHUP" in service.log()
        assert "still serving" in service.log()
        answer = httpx.post(service.url + "token/", json={"email": user.email, "token": user.api_token})
        assert answer.status_code == 200


def test_sighup_to_a_service_with_workers_and_its_workers_restarts_them_answering_long_polls_in_flight(
    tmp_path: Path,
) -> None:
    extra = ("--workers", "2", "--log-level", "info")  # uvicorn's supervisor says at INFO what it did
    with ServiceProcess.start(tmp_path / "home", extra_args=extra) as service:
        api = Api(service.url, service.new_user())
        path = api.create_experiment("idle")  # no job: a nextjob long poll waits
        before = worker_processes(service.process.pid)
        assert len(before) == 2
        answers: list[object] = []

        def poll() -> None:
            try:
                answers.append(api.request("POST", path + "nextjob/", {"worker": "w", "wait": 30}).status_code)
            except httpx.TransportError as exc:  # a worker process that died with it
                answers.append(repr(exc))

        polls = [threading.Thread(target=poll) for _ in range(4)]
        for thread in polls:
            thread.start()
        time.sleep(1.5)  # the polls are waiting in the workers
        # As a closed terminal does: the supervisor and its workers all receive it.
        for pid in (service.process.pid, *before):
            os.kill(pid, signal.SIGHUP)
        for thread in polls:
            thread.join(60)
        deadline = time.monotonic() + 60
        while worker_processes(service.process.pid) & before and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not worker_processes(service.process.pid) & before, "the workers were not restarted"
        assert service.process.poll() is None, service.log()
        assert _serves(service)
        api.close()
        log = service.log()
    assert "Received SIGHUP, restarting processes." in log
    # Each worker was replaced gracefully: its long polls answered (503: send it again), none cut off.
    assert answers == [503] * 4, answers
