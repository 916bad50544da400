"""Schedy's main job, end to end on one machine.

1. starts ``schedy server`` on the embedded SQLite store (``~/.schedy/``,
   or ``$SCHEDY_HOME``), on port 8700 or a free port if that one is taken;
2. creates a model-based search (TPE) whose hopeless runs the service
   stops early (ASHA), and runs several worker processes
   (``examples/worker.py``) that share it, each job training for a few
   epochs and reporting after each one, while this script shows progress
   and the best result so far;
3. marks the search DONE, prints the best job, how many jobs were
   stopped early and how many epochs that saved, and where to browse the
   results; on a terminal the service keeps running (the URL works)
   until Enter or Ctrl-C, elsewhere it stops, and says how to start it
   again (``--keep-serving`` always keeps it running until Ctrl-C).

Run it with ``make demo`` (which installs Schedy in ``.venv`` first).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import schedy
from schedy.errors import SchedyError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import worker  # noqa: E402 - examples/worker.py, beside this file


def free_port(preferred: int) -> int:
    """``preferred`` if nothing listens there, else any free port."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(home: Path, port: int) -> subprocess.Popen[str]:
    """``schedy server`` on the SQLite file in ``home``; returns once it answers."""
    env = {**os.environ, "SCHEDY_HOME": str(home)}
    server = subprocess.Popen(
        [sys.executable, "-m", "schedy.cli.main", "server", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    threading.Thread(target=_relay, args=(server,), daemon=True).start()
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("schedy server stopped; see its messages above.")
        try:
            with urllib.request.urlopen(url + "ping/", timeout=1):
                return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("schedy server did not start within 60 s.")


def _relay(server: subprocess.Popen[str]) -> None:
    """Show what the service prints (e.g. the first start's login), marked as its own."""
    assert server.stdout is not None
    for line in server.stdout:
        print(f"  [schedy server] {line.rstrip()}", flush=True)


def client_config(home: Path, url: str) -> dict[str, str]:
    """The configuration the first start wrote, pointed at this server."""
    path = home / "client.json"
    try:
        config: dict[str, str] = json.loads(path.read_text())
    except (OSError, ValueError):
        raise SystemExit(f"No client configuration at {path}; run `schedy gen-token` or set SCHEDY_CONFIG.") from None
    config["root"] = url
    return config


class Progress:
    """What the workers have finished so far: jobs, jobs stopped early, epochs trained, the best job."""

    def __init__(self, exp: schedy.Experiment) -> None:
        jobs = [job for job in exp.all_jobs() if job.status in (schedy.Job.DONE, schedy.Job.PRUNED)]
        done = [job for job in jobs if job.status == schedy.Job.DONE]
        self.finished = len(jobs)
        self.stopped = len(jobs) - len(done)
        self.epochs = sum(int(job.results.get("epochs", 0)) for job in jobs)
        self.best = min(done, key=lambda job: job.results["loss"], default=None)


def _schedy_command() -> str:
    """How the user's shell runs this install's ``schedy``: ``.venv/bin/schedy`` when the venv is not on PATH."""
    script = Path(sys.executable).with_name("schedy")
    if not script.exists() or shutil.which("schedy") == str(script):
        return "schedy"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Run a TPE search with early stopping and several workers on a local Schedy."
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--trials", type=int, default=50, help="jobs per worker")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument(
        "--keep-serving",
        action="store_true",
        help="keep the service running at the end until Ctrl-C (default on a terminal: until Enter)",
    )
    args = parser.parse_args()

    home = Path(os.environ.get("SCHEDY_HOME") or Path.home() / ".schedy")
    port = free_port(args.port)
    server = start_server(home, port)
    url = f"http://127.0.0.1:{port}/"
    try:
        config = client_config(home, url)
        name = f"quickstart-{time.strftime('%Y%m%d-%H%M%S')}"
        db = schedy.SchedyDB(config_override=config)
        db.add_experiment(worker.search(name))
        exp = db.get_experiment(name)
        print(f"Schedy is running at {url} (data in {home}); experiment {name!r}.")
        env = {
            **os.environ,
            "SCHEDY_ROOT": url,
            "SCHEDY_EMAIL": config["email"],
            "SCHEDY_TOKEN": config["token"],
            "SCHEDY_TOKEN_TYPE": config.get("token_type", "api_token"),
        }
        workers = [
            subprocess.Popen(
                [sys.executable, str(HERE / "worker.py"), "--experiment", name, "--trials", str(args.trials)],
                env=env,
                stdout=subprocess.DEVNULL,
            )
            for _ in range(args.workers)
        ]
        total = args.workers * args.trials
        live = sys.stdout.isatty()
        last = ""
        while any(w.poll() is None for w in workers):
            now = Progress(exp)
            shown = f"best loss {now.best.results['loss']:.4f}" if now.best else "no result yet"
            line = f"{args.workers} workers: {now.finished}/{total} jobs finished ({now.stopped} stopped early)"
            line += f", {shown}"
            if live:
                print(f"\r{line}   ", end="", flush=True)
            elif line != last:
                print(line, flush=True)
            last = line
            time.sleep(0.5)
        failed = [w.returncode for w in workers if w.returncode]
        # The workers ran their jobs: the search is over, and the dashboard lists it as DONE.
        exp.status = exp.DONE
        exp.push_updates()
        end = Progress(exp)
        print(f"\r{args.workers} workers: {end.finished}/{total} jobs finished.{' ' * 40}")
        if failed:
            raise SystemExit(f"{len(failed)} worker(s) failed (exit codes {failed}).")
        if end.best is None:
            raise SystemExit("No job finished.")
        print(f"Best: loss {end.best.results['loss']:.4f} with {end.best.hyperparameters} (job {end.best.id}).")
        full = end.finished * worker.EPOCHS
        print(
            f"Early stopping (ASHA): {end.stopped} of {end.finished} jobs stopped early; "
            f"{end.epochs} of {full} epochs trained ({full / max(end.epochs, 1):.1f}x fewer)."
        )
        db.close()
        if args.keep_serving:
            print(f"Browse every job at {url} (API documentation: {url}docs).")
            print("The service keeps running; stop it with Ctrl-C.")
            server.wait()
        elif sys.stdin.isatty() and sys.stdout.isatty():
            print(f"Browse every job at {url} (API documentation: {url}docs).")
            input("The service keeps running while you look; press Enter to stop it. ")
        else:
            command = f"SCHEDY_HOME={home} {_schedy_command()} server --port {port}"
            print(f"The service has stopped. Browse every job with: {command}")
            print(f"then open {url} (API documentation: {url}docs).")
    except SchedyError as exc:
        raise SystemExit(f"schedy: {exc}") from None
    except KeyboardInterrupt:
        pass
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
