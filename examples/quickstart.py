"""Schedy's main job, end to end on one machine.

1. starts ``schedy server`` on the embedded SQLite store (``~/.schedy/``,
   or ``$SCHEDY_HOME``), on port 8700 or a free port if that one is taken
   (``~/.schedy/client.json`` still names 8700, where ``schedy server``
   starts by default);
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

Ctrl-C, SIGTERM or a closed terminal (SIGHUP) during the search stops the
workers and the service, and says so in one line (exit status 130, 143 or
129); so does the service dying (exit status 1).

Run it with ``make demo`` (which installs Schedy in ``.venv`` first).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
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


class Stopped(BaseException):
    """SIGTERM or SIGHUP (a closed terminal): stop as Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop_on_signal(signum: int, _frame: object) -> None:
    raise Stopped(signum)


class ServerDied(Exception):
    """The service this script started is gone."""


def start_server(home: Path, port: int) -> subprocess.Popen[str]:
    """``schedy server`` on the SQLite file in ``home``."""
    env = {**os.environ, "SCHEDY_HOME": str(home)}
    server = subprocess.Popen(
        [sys.executable, "-m", "schedy.cli.main", "server", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Not in the terminal's process group: Ctrl-C reaches this script and the workers, and this
        # script stops the service after the workers (so that it hears how their last jobs ended).
        process_group=0,
    )
    threading.Thread(target=_relay, args=(server,), daemon=True).start()
    return server


def wait_until_serving(server: subprocess.Popen[str], url: str) -> None:
    """Return once the service answers."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("schedy server stopped; see its messages above.")
        try:
            with urllib.request.urlopen(url + "ping/", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("schedy server did not start within 60 s.")


def stop(server: subprocess.Popen[str] | None, workers: list[subprocess.Popen[bytes]], interrupted: bool) -> None:
    """Stop the workers (each ends its running job CRASHED if the service is there to hear it), then the service."""
    alive = server is not None and server.poll() is None
    if interrupted and alive:  # Ctrl-C reached the workers too: let them end their jobs
        deadline = time.monotonic() + 2
        while any(w.poll() is None for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
    for w in workers:
        if w.poll() is None:
            if alive:
                w.terminate()  # examples/worker.py ends its job CRASHED, as on Ctrl-C
            else:
                w.kill()  # without a service, it would retry for a minute to say so
    deadline = time.monotonic() + 10
    for w in workers:
        try:
            w.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()
    if server is not None and server.poll() is None:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _relay(server: subprocess.Popen[str]) -> None:
    """Show what the service prints (e.g. the first start's login), marked as its own."""
    assert server.stdout is not None
    for line in server.stdout:
        print(f"  [schedy server] {line.rstrip()}", flush=True)


def client_config(path: Path, url: str, default_url: str, first_start: bool) -> dict[str, str]:
    """The configuration the first start wrote, pointed at this server (in memory).

    A first start on a fallback port wrote that port into the file: the file is given the
    default root back, where a later ``schedy server`` (port 8700 by default) answers.
    """
    try:
        config: dict[str, str] = json.loads(path.read_text())
    except (OSError, ValueError):
        raise SystemExit(f"No client configuration at {path}; run `schedy gen-token` or set SCHEDY_CONFIG.") from None
    if first_start and url != default_url and config.get("root") == url:
        from schedy.server.bootstrap import write_client_config  # whole or not at all, readable by its owner only

        write_client_config(path, {**config, "root": default_url})
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
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop_on_signal)
    server: subprocess.Popen[str] | None = None
    workers: list[subprocess.Popen[bytes]] = []
    name = ""
    searching = True  # Ctrl-C once the search is over is how the service is stopped: no "Interrupted"
    live = sys.stdout.isatty()
    status = 0  # 128 + the signal that interrupted the search
    interrupted = False  # by Ctrl-C, which the workers got too
    died = False  # the service
    try:
        port = free_port(args.port)
        url = f"http://127.0.0.1:{port}/"
        if port != args.port:
            print(f"Port {args.port} is taken (another `schedy server`?); this run uses port {port}.", flush=True)
        config_path = home / "client.json"
        first_start = not config_path.exists()
        server = start_server(home, port)
        wait_until_serving(server, url)
        config = client_config(config_path, url, f"http://127.0.0.1:{args.port}/", first_start)
        name = f"quickstart-{time.strftime('%Y%m%d-%H%M%S')}"
        db = schedy.SchedyDB(config_override=config)
        db.add_experiment(worker.search(name))
        exp = db.get_experiment(name)
        # The progress display asks again on its next turn: no minute of retries if the service is gone.
        shown_exp = schedy.SchedyDB(config_override=config, max_attempts=2).get_experiment(name)
        print(f"Schedy is running at {url} (data in {home}); experiment {name!r}.")
        env = {
            **os.environ,
            "SCHEDY_ROOT": url,
            "SCHEDY_EMAIL": config["email"],
            "SCHEDY_TOKEN": config["token"],
            "SCHEDY_TOKEN_TYPE": config.get("token_type", "api_token"),
        }
        for _ in range(args.workers):  # one by one: each is stopped at the end, however this script ends
            workers.append(
                subprocess.Popen(
                    [sys.executable, str(HERE / "worker.py"), "--experiment", name, "--trials", str(args.trials)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                )
            )
        total = args.workers * args.trials
        last = ""
        while any(w.poll() is None for w in workers):
            if server.poll() is not None:
                raise ServerDied()
            try:
                now = Progress(shown_exp)
            except SchedyError:
                if server.poll() is not None:
                    raise ServerDied() from None
                time.sleep(0.5)  # the service was busy: show progress on the next turn
                continue
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
        searching = False
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
        if server is None or server.poll() is None:
            raise SystemExit(f"schedy: {exc}") from None
        died = True  # under a request: say that
    except ServerDied:
        died = True
    except (KeyboardInterrupt, Stopped) as exc:
        interrupted = isinstance(exc, KeyboardInterrupt)
        if live and not searching:
            _say("")  # after the prompt's ^C
        if searching:
            status = 128 + (exc.signum if isinstance(exc, Stopped) else signal.SIGINT)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C does not cut the clean-up short
        stop(server, workers, interrupted)
    if live and (status or died):
        _say("")  # after the progress line
    if died:
        assert server is not None
        sys.exit(f"schedy server stopped unexpectedly (exit code {server.returncode}); see its messages above.")
    if status:
        how = "" if status == 130 else f" ({signal.Signals(status - 128).name})"
        kept = f"; experiment {name!r} keeps what finished" if name else ""
        _say(f"Interrupted{how}: the service is stopped{kept}.")
        sys.exit(status)


def _say(line: str) -> None:
    """Print, unless the terminal is gone (SIGHUP)."""
    with contextlib.suppress(OSError):
        print(line, flush=True)


if __name__ == "__main__":
    main()
