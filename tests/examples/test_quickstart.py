"""examples/quickstart.py, Schedy's main job as ``make demo`` runs it: a service, a search, several workers.

Without a terminal it must not print a URL of a service it stopped: it says
the service stopped and how to start it again, and that command works.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from schedy.testing import free_port

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"
VENV_BIN = Path(sys.executable).parent


def test_the_demo_runs_a_search_and_says_how_to_browse_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    # As `make demo` runs it: the venv's python, the venv not on PATH (not activated).
    path = os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep) if Path(d) != VENV_BIN)
    env = {**os.environ, "SCHEDY_HOME": str(home), "PATH": path}
    env.pop("SCHEDY_CONFIG", None)
    command = [sys.executable, str(QUICKSTART), "--workers", "3", "--trials", "5", "--port", str(port)]
    done = subprocess.run(
        command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 workers: 15/15 jobs finished." in done.stdout
    assert re.search(r"Best: loss \d+\.\d{4} with \{", done.stdout)
    summary = r"Early stopping \(ASHA\): (\d+) of 15 jobs stopped early; (\d+) of 135 epochs trained"
    stopping = re.search(summary, done.stdout)
    assert stopping, done.stdout
    stopped, epochs = int(stopping.group(1)), int(stopping.group(2))
    assert "The service has stopped. Browse every job with: " in done.stdout
    assert f"schedy server --port {port}" in done.stdout
    # Nothing listens any more: the demo did not leave a service behind...
    try:
        httpx.get(f"http://127.0.0.1:{port}/ping/", timeout=2)
        raise AssertionError("the demo left its service running")
    except httpx.ConnectError:
        pass
    # ...and the command it printed, run as printed by that shell, brings the results back.
    printed = re.search(r"Browse every job with: (.+)$", done.stdout, re.MULTILINE).group(1)
    assert printed.startswith(f"SCHEDY_HOME={home} ")
    assert printed.endswith(f" server --port {port}")
    browse = subprocess.Popen(
        ["/bin/sh", "-c", f"exec env {printed}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while True:
            assert browse.poll() is None, browse.stderr.read().decode() if browse.stderr else ""
            try:
                if httpx.get(url + "ping/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the printed command never served"
            time.sleep(0.1)
        config = json.loads((home / "client.json").read_text())
        assert httpx.get(url).status_code == 200
        answer = httpx.post(url + "token/", json={"email": config["email"], "token": config["token"]})
        assert answer.status_code == 200
        jwt = answer.json()["token"]
        auth = {"Authorization": f"Bearer {jwt}"}
        listed = httpx.get(url + "experiments/", headers=auth).json()
        name = listed["items"][0]["name"]
        jobs = httpx.get(f"{url}experiments/{name}/jobs/?limit=100", headers=auth).json()["items"]
        reports = httpx.get(f"{url}experiments/{name}/reports/?limit=1000", headers=auth).json()["items"]
    finally:
        browse.terminate()
        browse.communicate(timeout=15)  # reaps it and closes its stderr pipe
    assert [e["name"].startswith("quickstart-") for e in listed["items"]] == [True]
    assert "TPESearch" in listed["items"][0]["scheduler"]
    assert listed["items"][0]["status"] == "DONE"  # the search is over once its workers are
    # What the summary said is what the service holds: the stopped jobs are PRUNED, the epochs are the reports.
    statuses = [job["status"] for job in jobs]
    assert len(jobs) == 15
    assert statuses.count("PRUNED") == stopped
    assert statuses.count("DONE") == 15 - stopped
    assert len(reports) == epochs
    assert stopped >= 1  # ASHA keeps a third at each rung: with 15 jobs some are stopped


def test_on_a_terminal_the_printed_url_works_until_enter(tmp_path: Path) -> None:
    """``make demo`` in a terminal: the URL it prints answers until the user presses Enter."""
    home = tmp_path / "home"
    port = free_port()
    env = {**os.environ, "SCHEDY_HOME": str(home)}
    env.pop("SCHEDY_CONFIG", None)
    command = [sys.executable, str(QUICKSTART), "--workers", "2", "--trials", "3", "--port", str(port)]
    controller, terminal = pty.openpty()
    demo = subprocess.Popen(command, env=env, stdin=terminal, stdout=terminal, stderr=terminal)
    os.close(terminal)
    output = b""
    try:
        deadline = time.monotonic() + 240
        while b"press Enter to stop it" not in output:
            assert time.monotonic() < deadline, output.decode(errors="replace")
            ready, _, _ = select.select([controller], [], [], 1)
            if ready:
                output += os.read(controller, 65536)
        text = output.decode(errors="replace")
        url = re.search(r"Browse every job at (http://\S+/) ", text).group(1)
        assert url == f"http://127.0.0.1:{port}/"
        assert httpx.get(url, timeout=5).status_code == 200  # the URL works when it is printed
        os.write(controller, b"\n")
        assert demo.wait(30) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        os.close(controller)
    with pytest.raises(httpx.ConnectError):  # Enter stopped it
        httpx.get(f"http://127.0.0.1:{port}/ping/", timeout=2)
