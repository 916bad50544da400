"""examples/quickstart.py cut short: nothing it started outlives it, and it says what happened in one line.

Each run is the real quickstart on its own HOME, stopped a few jobs into its
search (or as soon as it serves): SIGTERM, a closed terminal (SIGHUP to its
process group), Ctrl-C (SIGINT to its process group), or its service killed.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from schedy.testing import free_port

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"


def _as_from_a_terminal() -> None:
    """In the child before exec: SIGINT's default disposition (Python then installs its KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Demo:
    """A quickstart running in its own session (process group), its output read line by line."""

    def __init__(self, home: Path, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDY_")}
        env["HOME"] = str(home)  # ~/.schedy/ of a new user
        self.home = home
        # Long enough (2,000 jobs) that no test's interrupt can arrive after the search has ended, even under load.
        command = [sys.executable, str(QUICKSTART), "--workers", "2", "--trials", "1000", "--port", str(port)]
        self.process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            # As from a terminal: Ctrl-C's default action. A test runner may ignore SIGINT (a worker of
            # pytest-xdist, a test that left it so), and an ignored signal stays ignored in children.
            preexec_fn=_as_from_a_terminal,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output = ""
        self.started: list[int] = []  # its service and workers, once a test has looked them up
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, found: Callable[[str], bool], timeout: float = 120) -> str:
        """The first line (from here on) for which ``found`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"nothing such within {timeout} s:\n{self.output}") from None
            assert line is not None, f"the quickstart ended early:\n{self.output}"
            self.output += line
            if found(line):
                return line

    def mid_run(self) -> None:
        """Wait until a few jobs have finished and each worker has claimed one (it is in its loop)."""
        running = self.wait_for(lambda line: line.startswith("Schedy is running at "))
        where = re.search(r"at (http://\S+/) .*experiment '([^']+)'", running)
        assert where, running
        url, name = where.groups()
        self.wait_for(lambda line: bool((m := re.search(r"(\d+)/\d+ jobs finished", line)) and int(m[1]) >= 3))
        config = json.loads((self.home / ".schedy" / "client.json").read_text())
        jwt = httpx.post(url + "token/", json={"email": config["email"], "token": config["token"]}).json()["token"]
        workers = {str(pid) for pid in self.children() if not _is_server(pid)}
        deadline = time.monotonic() + 60
        while True:
            answer = httpx.get(f"{url}experiments/{name}/jobs/?limit=1000", headers={"Authorization": f"Bearer {jwt}"})
            claimed = {job["worker"].rsplit(":", 1)[-1] for job in answer.json()["items"] if job.get("worker")}
            if workers <= claimed:
                return
            assert time.monotonic() < deadline, (workers, claimed)
            time.sleep(0.1)

    def finish(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout)
        while (line := self.lines.get(timeout=10)) is not None:
            self.output += line
        return code

    def children(self) -> list[int]:
        """The processes it started: the service and the workers."""
        return [pid for pid in _pids() if _stat(pid)[1] == self.process.pid]


def _pids() -> Iterator[int]:
    return (int(entry) for entry in os.listdir("/proc") if entry.isdigit())


def _stat(pid: int) -> tuple[str, int, int]:
    """State, parent and process group of ``pid`` (("X", 0, 0) once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return "X", 0, 0
    return fields[0], int(fields[1]), int(fields[2])


def _is_server(pid: int) -> bool:
    try:
        return b"schedy.cli.main\0server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _alive(pid: int) -> bool:
    return _stat(pid)[0] not in ("X", "Z")


@contextmanager
def quickstart(home: Path, port: int) -> Iterator[Demo]:
    demo = Demo(home, port)
    try:
        yield demo
    finally:
        if demo.process.poll() is None:
            os.killpg(demo.process.pid, signal.SIGKILL)
            demo.process.wait()
        for pid in {*demo.started, *(pid for pid in _pids() if _stat(pid)[2] == demo.process.pid)}:
            if _alive(pid):  # a failed test leaves nothing behind either
                os.kill(pid, signal.SIGKILL)
        demo.reader.join(10)
        assert demo.process.stdout is not None
        demo.process.stdout.close()


def assert_nothing_left(demo: Demo, started: list[int], port: int) -> None:
    assert len(started) == 3, started  # the service and 2 workers
    time.sleep(0.2)
    left = [pid for pid in started if _alive(pid)]
    left += [pid for pid in _pids() if _stat(pid)[2] == demo.process.pid and _alive(pid)]
    assert not left, f"still running: {left}\n{demo.output}"
    try:
        httpx.get(f"http://127.0.0.1:{port}/ping/", timeout=2)
        raise AssertionError(f"its service still answers on port {port}")
    except httpx.ConnectError:
        pass


def test_sigterm_mid_run_stops_the_service_and_the_workers(tmp_path: Path) -> None:
    port = free_port()
    with quickstart(tmp_path, port) as demo:
        demo.mid_run()
        demo.started = started = demo.children()
        demo.process.send_signal(signal.SIGTERM)  # to the quickstart alone, as `kill PID` does
        code = demo.finish()
        assert code == 128 + signal.SIGTERM, demo.output
        assert_nothing_left(demo, started, port)
    last = demo.output.strip().splitlines()[-1]
    assert re.fullmatch(
        r"Interrupted \(SIGTERM\): the service is stopped; experiment 'quickstart-[\d-]+' keeps what finished\.", last
    ), demo.output
    assert "Traceback" not in demo.output


def test_ctrl_c_mid_run_says_one_line_and_exits_130(tmp_path: Path) -> None:
    port = free_port()
    with quickstart(tmp_path, port) as demo:
        demo.mid_run()
        demo.started = started = demo.children()
        os.killpg(demo.process.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole process group
        code = demo.finish()
        assert code == 130, demo.output
        assert_nothing_left(demo, started, port)
    assert "Traceback" not in demo.output, demo.output
    after = demo.output.split(" jobs finished ")[-1].splitlines()[1:]  # what follows the last progress line
    assert len(after) == 1, demo.output
    assert re.fullmatch(
        r"Interrupted: the service is stopped; experiment 'quickstart-[\d-]+' keeps what finished\.", after[0]
    ), demo.output


def test_its_service_killed_mid_run_ends_it_with_one_line(tmp_path: Path) -> None:
    port = free_port()
    with quickstart(tmp_path, port) as demo:
        demo.mid_run()
        demo.started = started = demo.children()
        (server,) = [pid for pid in started if _is_server(pid)]
        os.kill(server, signal.SIGKILL)
        code = demo.finish(timeout=30)  # not a minute of retries, let alone forever
        assert code == 1, demo.output
        assert_nothing_left(demo, started, port)
    lines = demo.output.strip().splitlines()
    said = "schedy server stopped unexpectedly (exit code -9); see its messages above."
    assert lines[-1] == said, demo.output
    assert lines.count(said) == 1
    assert "Traceback" not in demo.output, demo.output


def test_a_taken_port_on_a_first_start_leaves_the_default_root_in_client_json(tmp_path: Path) -> None:
    """The run uses another port, says so, and ~/.schedy/client.json names the default one.

    ``--port`` stands for 8700 (taken here by a socket that only listens): a later
    ``schedy server`` on the default port is what ``schedy.SchedyDB()`` must find.
    Closing the terminal (SIGHUP to the process group) then stops everything.
    """
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        default = taken.getsockname()[1]
        with quickstart(tmp_path, default) as demo:
            running = demo.wait_for(lambda line: line.startswith("Schedy is running at "))
            demo.wait_for(lambda line: " jobs finished " in line)  # every worker started
            demo.started = started = demo.children()
            at = re.search(r"http://127\.0\.0\.1:(\d+)/", running)
            assert at, running
            used = int(at[1])
            assert used != default
            os.killpg(demo.process.pid, signal.SIGHUP)  # the terminal closes
            code = demo.finish()
            assert code == 128 + signal.SIGHUP, demo.output
            assert_nothing_left(demo, started, used)
    assert f"Port {default} is taken (another `schedy server`?); this run uses port {used}.\n" in demo.output
    config = json.loads((tmp_path / ".schedy" / "client.json").read_text())
    assert config["root"] == f"http://127.0.0.1:{default}/"
    assert (tmp_path / ".schedy" / "client.json").stat().st_mode & 0o777 == 0o600
    assert "Interrupted (SIGHUP): the service is stopped; experiment 'quickstart-" in demo.output
