"""Run the public Schedy 0.1.0b6 client (PyPI, 2018) against our service.

That client is also called ``schedy``, so it must never be imported into the
test process: it lives in a virtualenv of its own, built once per session
(and cached between runs under ``/tmp``, keyed by the pinned versions), and
every use of it is a subprocess of that virtualenv's Python.

A script run with :meth:`OldClient.run` gets a small prelude (see
``PRELUDE``): ``connect()``, ``attempt()``, ``job_dict()`` and an ``OUT``
dict that comes back to the test as JSON (NaN allowed). The prelude also
records the client's warnings and log records, and every run checks two
invariants a user would notice: the client emitted no warning other than
its own deprecations, and it never had to retry (a 5xx answer or a dropped
connection) nor to ask ``nextjob`` twice for one job.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

# urllib3 2 dropped Retry(method_whitelist=...), which the 0.1.0b6 client uses.
# requests 2.31 is the last release before 2.32 and works with urllib3 1.26.
OLD_CLIENT_PINS = ("schedy==0.1.0b6", "urllib3==1.26.20", "requests==2.31.0")
OLD_CLIENT_VERSION = "0.1.0b6"
SCRIPT_TIMEOUT = 120.0

PRELUDE = '''\
import json, logging, math, sys, warnings

warnings.simplefilter("always")
_WARNINGS = []


def _showwarning(message, category, filename, lineno, file=None, line=None):
    _WARNINGS.append({"category": category.__name__, "message": str(message), "where": f"{filename}:{lineno}"})


warnings.showwarning = _showwarning
_LOG = []


class _Collect(logging.Handler):
    def emit(self, record):
        _LOG.append({"logger": record.name, "level": record.levelname, "message": record.getMessage()})


logging.getLogger("schedy").addHandler(_Collect())
logging.getLogger("schedy").setLevel(logging.INFO)
# The client logs at DEBUG when nextjob handed it a job another worker got.
logging.getLogger("schedy.experiments").setLevel(logging.DEBUG)

import schedy
import schedy.errors
import schedy.pbt
import schedy.random
from schedy.errors import NoJobError
from schedy.pbt import Perturb, Truncate
from schedy.random import Choice, Constant, LogUniform, Normal, Uniform

CONFIG, _OUT_PATH, _ARGS_PATH = sys.argv[1:4]
with open(_ARGS_PATH) as _f:
    ARGS = json.load(_f)
OUT = {}


def connect(config=CONFIG):
    return schedy.SchedyDB(config_path=config)


def attempt(fn, *args, **kwargs):
    """Call fn; describe the Schedy error it raised, if any."""
    try:
        fn(*args, **kwargs)
    except schedy.errors.SchedyError as e:
        return {"error": type(e).__name__, "code": getattr(e, "code", None), "body": getattr(e, "body", None)}
    return {"error": None}


def job_dict(job):
    return {"id": job.job_id, "experiment": job.experiment.name, "status": job.status,
            "hyperparameters": job.hyperparameters, "results": job.results, "etag": job.etag}


def dist_dict(dist):
    return {"type": type(dist).__name__, **vars(dist)}

# ---- test code ----
'''

EPILOGUE = '''
# ---- end of test code ----
with open(_OUT_PATH, "w") as _f:
    json.dump({"out": OUT, "warnings": _WARNINGS, "log": _LOG}, _f)
'''

_SCRUBBED_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "VIRTUAL_ENV", "PYTHONUSERBASE")


@dataclass(frozen=True)
class OldClientVenv:
    """A virtualenv holding the public 0.1.0b6 client and nothing of ours."""

    path: Path

    @property
    def python(self) -> Path:
        """The virtualenv's interpreter."""
        return self.path / "bin" / "python"

    @property
    def cli(self) -> Path:
        """The 0.1.0b6 ``schedy`` console script."""
        return self.path / "bin" / "schedy"

    def env(self, home: Path) -> dict[str, str]:
        """Environment for its subprocesses: nothing that could import our package, a private HOME."""
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        env["PATH"] = f"{self.path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONNOUSERSITE"] = "1"
        env["HOME"] = str(home)
        return env


def _venv_dir() -> Path:
    key = json.dumps([OLD_CLIENT_PINS, sys.executable, sys.version])
    return Path("/tmp") / f"schedy-compat-venv-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


_PROBE = """
import importlib.metadata, json, sys
import schedy, schedy.core, schedy.cmd, schedy.errors, schedy.pbt, schedy.random
from urllib3.util.retry import Retry
Retry(total=1, method_whitelist=frozenset(("GET",)))
print(json.dumps({"schedy": importlib.metadata.version("schedy"), "file": schedy.__file__, "prefix": sys.prefix}))
"""


def _probe(venv: OldClientVenv) -> str | None:
    """None if the virtualenv holds a working 0.1.0b6 client; otherwise what is wrong."""
    if not venv.python.exists() or not venv.cli.exists():
        return "the interpreter or the schedy console script is missing"
    try:
        done = subprocess.run([str(venv.python), "-I", "-c", _PROBE], capture_output=True, text=True,
                              timeout=60, cwd=venv.path, env=venv.env(venv.path), check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"probe could not run: {e!r}"
    if done.returncode != 0:
        return f"probe failed:\n{done.stderr}"
    facts = json.loads(done.stdout)
    if facts["schedy"] != OLD_CLIENT_VERSION or not facts["file"].startswith(str(venv.path)):
        return f"wrong schedy in the virtualenv: {facts}"
    return None


def _build(venv: OldClientVenv) -> None:
    shutil.rmtree(venv.path, ignore_errors=True)
    # The user's HOME stays: pip reads its configuration and cache there.
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    steps = [
        [sys.executable, "-m", "venv", str(venv.path)],
        [str(venv.python), "-m", "pip", "install", "--no-input", "--disable-pip-version-check", *OLD_CLIENT_PINS],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=600, cwd="/", env=env, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            pytest.fail(f"Cannot build the virtualenv of the public schedy 0.1.0b6 client: {step} -> {e!r}")
        if done.returncode != 0:
            shutil.rmtree(venv.path, ignore_errors=True)
            pytest.fail(
                f"Cannot build the virtualenv of the public schedy 0.1.0b6 client: {' '.join(step)} exited "
                f"{done.returncode}.\nstdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
            )


@pytest.fixture(scope="session")
def old_client_venv() -> OldClientVenv:
    """The virtualenv of the 0.1.0b6 client: reused if healthy, (re)built otherwise; never skipped."""
    venv = OldClientVenv(_venv_dir())
    marker = venv.path / "schedy-compat-pins.json"
    with Path(f"{venv.path}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        healthy = marker.exists() and marker.read_text() == json.dumps(OLD_CLIENT_PINS) and _probe(venv) is None
        if not healthy:
            _build(venv)
            problem = _probe(venv)
            if problem is not None:
                pytest.fail(f"The freshly built virtualenv of the schedy 0.1.0b6 client does not work: {problem}")
            marker.write_text(json.dumps(OLD_CLIENT_PINS))
    return venv


class RawApi:
    """Our own view of the service over plain HTTP, to check what the old client did."""

    def __init__(self, url: str, email: str, api_token: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)
        answer = self.http.post("token/", json={"email": email, "token": api_token})
        assert answer.status_code == 200, answer.text
        self.http.headers["Authorization"] = "Bearer " + answer.json()["token"]

    def experiment(self, name: str) -> httpx.Response:
        """``GET experiments/NAME/``."""
        return self.http.get(f"experiments/{quote(name, safe='')}/")

    def job(self, experiment: str, job_id: str) -> httpx.Response:
        """``GET experiments/NAME/jobs/ID/``."""
        return self.http.get(f"experiments/{quote(experiment, safe='')}/jobs/{quote(job_id, safe='')}/")

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()


@dataclass
class RunningScript:
    """An old-client script running in the background (see :meth:`OldClient.start`)."""

    process: subprocess.Popen[str]
    out_path: Path
    script: Path

    def result(self, timeout: float = SCRIPT_TIMEOUT) -> dict[str, Any]:
        """Wait for the script; fail the test with its output if it failed; return its ``OUT``."""
        try:
            stdout, stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            stdout, stderr = self.process.communicate()
            pytest.fail(f"{self.script.name} did not finish within {timeout} s.\nstdout:\n{stdout}\nstderr:\n{stderr}")
        if self.process.returncode != 0 or not self.out_path.exists():
            pytest.fail(f"{self.script.name} exited {self.process.returncode}.\nstdout:\n{stdout}\nstderr:\n{stderr}")
        report = json.loads(self.out_path.read_text())
        unexpected = [w for w in report["warnings"] if w["category"] not in ("DeprecationWarning",
                                                                             "PendingDeprecationWarning")]
        assert unexpected == [], f"the 0.1.0b6 client warned: {unexpected}"
        retries = [r for r in report["log"] if r["level"] in ("WARNING", "ERROR", "CRITICAL")]
        assert retries == [], f"the 0.1.0b6 client had to retry (5xx or dropped connection): {retries}"
        handed_twice = [r for r in report["log"] if "same job" in r["message"]]
        assert handed_twice == [], f"nextjob handed out a job another worker already had: {handed_twice}"
        out: dict[str, Any] = report["out"]
        return out


@dataclass
class OldClient:
    """The 0.1.0b6 client, configured for a fresh user of the live service."""

    venv: OldClientVenv
    service: Any
    workdir: Path
    _counter: Iterator[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.home = self.workdir / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.config = self.write_config("client.json")

    def write_config(self, name: str, **overrides: str) -> Path:
        """A client.json for the test's user (API token by default); ``overrides`` replace its keys."""
        config = {"root": self.service.url, "email": self.service.email, "token": self.service.api_token,
                  "token_type": "api_token", **overrides}
        path = self.workdir / name
        path.write_text(json.dumps(config))
        return path

    def start(self, code: str, *, config: Path | None = None, **args: Any) -> RunningScript:
        """Start ``code`` (after the prelude) in the old client's interpreter; ``args`` arrive as ``ARGS``."""
        n = next(self._counter)
        script = self.workdir / f"old_client_{n}.py"
        script.write_text(PRELUDE + textwrap.dedent(code) + EPILOGUE)
        args_path = self.workdir / f"old_client_{n}.args.json"
        args_path.write_text(json.dumps(args))
        out_path = self.workdir / f"old_client_{n}.out.json"
        # -I: no PYTHONPATH, no user site, no script directory on sys.path: only the venv's schedy.
        command = [str(self.venv.python), "-I", str(script), str(config or self.config), str(out_path),
                   str(args_path)]
        process = subprocess.Popen(command, cwd=self.workdir, env=self.venv.env(self.home), text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return RunningScript(process, out_path, script)

    def run(self, code: str, *, config: Path | None = None, **args: Any) -> dict[str, Any]:
        """Run ``code`` to the end and return its ``OUT`` (see :meth:`RunningScript.result`)."""
        return self.start(code, config=config, **args).result()

    def cli(self, *argv: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run the old ``schedy --config FILE ARGV...`` command; the test checks its exit code."""
        done = subprocess.run([str(self.venv.cli), "--config", str(config or self.config), *argv],
                              cwd=self.workdir, env=self.venv.env(self.home), capture_output=True, text=True,
                              timeout=SCRIPT_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
        assert "retrying" not in done.stderr, f"the 0.1.0b6 CLI had to retry:\n{done.stderr}"
        return done

    def raw(self) -> RawApi:
        """Our own HTTP view of the same user's data."""
        return RawApi(self.service.url, self.service.email, self.service.api_token)


@pytest.fixture
def old(old_client_venv: OldClientVenv, service: Any, tmp_path: Path) -> OldClient:
    """The 0.1.0b6 client for this test's own user of the service (both backends)."""
    return OldClient(old_client_venv, service, tmp_path)


@pytest.fixture
def raw(old: OldClient) -> Iterator[RawApi]:
    """Plain HTTP as the same user."""
    api = old.raw()
    yield api
    api.close()


def wait_for(paths: list[Path], timeout: float = 60.0) -> None:
    """Wait until every file in ``paths`` exists."""
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        assert time.monotonic() < deadline, f"never appeared: {[str(p) for p in paths if not p.exists()]}"
        time.sleep(0.02)
