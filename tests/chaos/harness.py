"""What the chaos tests share: worker processes to kill, and patient polling."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

from schedy.testing import Credentials

WORKER = Path(__file__).with_name("worker.py")
T = TypeVar("T")


def session(url: str, user: Credentials) -> httpx.Client:
    """An HTTP client logged in as ``user``."""
    client = httpx.Client(base_url=url, timeout=60)
    answer = client.post("token/", json={"email": user.email, "token": user.api_token})
    assert answer.status_code == 200, answer.text
    client.headers["Authorization"] = "Bearer " + answer.json()["token"]
    return client


def poll(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1) -> T:
    """Call ``check`` until it returns something other than ``None``; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not the case after {timeout} s")
        time.sleep(interval)


class WorkerProcess:
    """``worker.py`` in its own process, its output lines collected by a thread."""

    def __init__(self, url: str, user: Credentials, experiment: str, heartbeat: float) -> None:
        command = [sys.executable, str(WORKER), url, user.email, user.api_token, experiment, str(heartbeat)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ}
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line.strip())

    def next_started(self, timeout: float) -> tuple[str, int]:
        """``(job id, attempt)`` of the next job it starts."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"the worker started no job in {timeout} s:\n{''.join(self.output)}") from None
            if line.startswith("started "):
                _, job_id, attempt = line.split()
                return job_id, int(attempt)

    def kill(self) -> None:
        """kill -9: no ``with job:`` exit, no last request, nothing."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        """End it if it still runs, and close its pipe."""
        if self.process.poll() is None:
            self.kill()
        self.process.wait(30)
        self._reader.join(30)
        assert self.process.stdout is not None
        self.process.stdout.close()
