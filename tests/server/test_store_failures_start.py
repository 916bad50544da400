"""Starting the service where its files cannot be written, and the moment it says it is serving.

* A data directory this user cannot create or enter stops the start with one
  sentence naming the data directory (not a traceback, nor a complaint about
  ``--artifacts``).
* ``is serving`` is printed only once the port accepts connections, with
  ``--workers N`` too, whose processes take seconds to start: a worker
  started on that line connects and is answered, never refused.

File modes do not stop root: as root the service is run with every
capability dropped (``setpriv``), as an ordinary user would be; where that
tool is missing, the tests that need it are skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from schedy.testing import free_port


def as_ordinary_user(command: list[str]) -> list[str]:
    """``command`` run so that file modes apply to it (root: with every capability dropped)."""
    if os.geteuid() != 0:
        return command
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file modes would not apply to the service")
    return [setpriv, "--bounding-set=-all", "--inh-caps=-all", "--", *command]


def server_command(port: int, *args: str) -> list[str]:
    """``schedy server`` on ``port`` with ``args``."""
    return [sys.executable, "-m", "schedy.cli.main", "server", "--port", str(port), "--log-level", "warning", *args]


def run_server(home: Path, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run ``schedy server`` as an ordinary user with ``home`` as its data directory; it is expected to stop."""
    env = {**os.environ, "SCHEDY_HOME": str(home), "SCHEDY_CONFIG": str(home.parent / "client.json")}
    env.pop("SCHEDY_DATABASE_URL", None)
    return subprocess.run(
        as_ordinary_user(server_command(free_port(), *args)), env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[Path]:
    """A directory this user may not enter (mode 000), given back its mode afterwards."""
    directory = tmp_path / "locked"
    directory.mkdir()
    directory.chmod(0)
    yield directory
    directory.chmod(0o700)


def test_a_data_directory_that_cannot_be_created_stops_the_start_in_one_sentence(locked: Path) -> None:
    home = locked / "data"
    result = run_server(home)
    assert result.returncode == 1, result
    assert result.stderr == (
        f"schedy: Cannot create the data directory {home} (Permission denied): create it for this user, or set "
        "SCHEDY_HOME to a directory this user may write.\n"
    )
    assert "is serving" not in result.stdout


def test_a_data_directory_that_cannot_be_entered_is_named_not_the_artifacts(locked: Path) -> None:
    result = run_server(locked)
    assert result.returncode == 1, result
    assert result.stderr.startswith(f"schedy: Cannot use the data directory {locked} (Permission denied"), result
    assert "--artifacts" not in result.stderr
    assert "Traceback" not in result.stderr
    # The same with the database elsewhere: the artifacts' default place is the data directory.
    elsewhere = locked.parent / "elsewhere.db"
    result = run_server(locked, "--database", f"sqlite:///{elsewhere}")
    assert result.returncode == 1, result
    assert result.stderr.startswith(f"schedy: Cannot use the data directory {locked} (Permission denied"), result


def test_is_serving_is_printed_once_the_port_accepts_connections_with_several_processes(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "SCHEDY_HOME": str(tmp_path / "home"), "SCHEDY_CONFIG": str(tmp_path / "client.json")}
    process = subprocess.Popen(server_command(port, "--workers", "2"), env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert " is serving " in first, first
        # At once, as a worker started on that line would: the port takes the connection...
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        # ... and the request is answered once a process is up (seconds later on a busy machine), not refused.
        started = time.monotonic()
        answer = httpx.get(f"http://127.0.0.1:{port}/ping/", timeout=120)
        assert answer.status_code == 200, (answer.text, time.monotonic() - started)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
