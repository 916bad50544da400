"""Every Python snippet of the README and docs/ runs as written, against the real service.

Each page's ```` ```python ```` blocks are run as a user of a fresh account
runs them: in a new Python process, configured by ``~/.schedy/client.json``,
in an empty working directory. Blocks that continue one another (a page
defines ``db`` once, then shows a worker) run in one namespace, in the order
of :data:`PLANS`. The names a page leaves to the reader's own code
(``train``, ``evaluate``, ``new_model``…) get the small stand-ins of
:data:`_STANDINS`; what a page's text assumes exists (the experiment it
reads, the ``job`` a fragment runs in) is created first by the plan's
``setup``; nothing else is added. A worker loop (``for job in
exp.jobs()``) never ends by itself on a random search: once it has
claimed a few jobs the test sets the experiment DONE, as its owner would;
the loop must then end after them, each DONE or PRUNED, and the process
exit 0.

Every block must be named in :data:`PLANS`, so a new snippet without a test
fails here. The sessions of the command line are run by
``tests/cli/test_readme.py``. The framework examples of integrations.md
train for a minute or more each: they run with the long variants
(``make test-slow``, after ``make setup-integrations``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import schedy
from tests.integrations.conftest import framework

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
_BLOCK = re.compile(r"^( *)```python\n(.*?)^\1```", re.S | re.M)

#: The reader's own code, as the pages call it: a model that trains and evaluates, and checkpoints of it.
_STANDINS = """
import builtins, pickle, random


class Model:
    def __init__(self, **hyperparameters):
        self.hyperparameters, self.steps = hyperparameters, 0

    def state_dict(self):
        return {"steps": self.steps}

    def save(self, path):
        save(self, path)

    def load(self, path):
        self.steps = load(path).steps


def train(**hyperparameters):
    return random.random()


def build(**hyperparameters):
    return Model(**hyperparameters)


def new_model(**hyperparameters):
    return Model(**hyperparameters)


def train_one_epoch(model):
    model.steps = getattr(model, "steps", 0) + 1
    return 1.0 / model.steps + random.random() / 10


def train_one_interval(model, hyperparameters=None):
    model.steps += 1
    return evaluate(model)


def evaluate(model):
    return model.steps / (model.steps + 1) - random.random() / 10


def save(model, path=None):
    path = path or f"model-{random.getrandbits(64):x}.pkl"
    with open(path, "wb") as file:
        pickle.dump(model, file)
    return path


def load(path):
    with open(path, "rb") as file:
        return pickle.load(file)


for _name in ("train", "build", "new_model", "train_one_epoch", "train_one_interval", "evaluate", "save", "load"):
    setattr(builtins, _name, globals()[_name])
"""

_RUNNER = """
import sys

import standins  # noqa: F401 - puts the reader's code in builtins
namespace = {"__name__": "__main__"}
for path in sys.argv[1:]:
    with open(path) as file:
        exec(compile(file.read(), path, "exec"), namespace)
"""


@dataclass(frozen=True)
class Plan:
    """How to run blocks of a page: which, in what order, and what ends their worker loop.

    Attributes:
        blocks: indexes of the page's Python blocks, run in this order in one namespace.
        experiment: the experiment a worker loop works on; set DONE once ``jobs`` jobs were claimed, after
            which they must end DONE or PRUNED.
        jobs: jobs claimed before the test ends the loop.
        setup: code run first, in the same namespace: what the page's text assumes exists
            (an experiment it reads, the ``job`` a fragment works in).
        env: environment variables the page tells the reader to set.
        run_by: the blocks are a script run by ``schedy run ARGS... python SCRIPT``, as the page says.
        needs: modules of optional extras; skipped without them (never in CI, see ``framework``).
        elsewhere: the test that runs these blocks instead.

    """

    blocks: tuple[int, ...]
    experiment: str | None = None
    jobs: int = 3
    setup: str = ""
    env: tuple[tuple[str, str], ...] = ()
    run_by: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    elsewhere: str | None = None


_MNIST = """
import schedy
schedy.SchedyDB().add_experiment(schedy.RandomSearch("mnist", {"lr": schedy.random.LogUniform(1e-4, 1e-1)}))
"""
_MNIST_ASHA = """
import schedy
schedy.SchedyDB().add_experiment(schedy.RandomSearch(
    "mnist", {"lr": schedy.random.LogUniform(1e-4, 1e-1)},
    early_stopping=schedy.stopping.ASHA("val_loss", "min", min_step=100, max_step=2000),
))
"""
_PBT = """
import schedy
db = schedy.SchedyDB()
db.add_experiment(schedy.PopulationBasedTraining(
    "pbt", "max", "accuracy", schedy.pbt.Truncate(0.25), {"lr": schedy.pbt.Perturb()},
    initial_distributions={"lr": schedy.random.LogUniform(1e-4, 1e-1)}, population_size=4,
))
exp = db.get_experiment("pbt")
"""
_RESUME = """
import schedy, torch
exp = schedy.ManualSearch("resume")
schedy.SchedyDB().add_experiment(exp)
exp.add_job(hyperparameters={"lr": 0.01})
job = exp.next_job()
model = torch.nn.Linear(4, 2)
"""
_INTEGRATIONS = ("sklearn",)
_FRAMEWORKS = {"xgboost", "lightgbm", "keras", "transformers", "lightning"}

PLANS: dict[str, list[Plan]] = {
    # The experiment first, then the loop of the page's opening (which shows a worker before its experiment).
    "README.md": [Plan((1, 0), experiment="MNIST")],
    "artifacts.md": [
        Plan((0, 1), experiment="mnist", setup=_MNIST, needs=("torch",)),
        Plan((2,), experiment="pbt", setup=_PBT),
        Plan((3,), setup=_RESUME, needs=("torch",)),
        Plan((4,), experiment="mnist", jobs=2, setup=_MNIST, run_by=("run", "-n", "2", "mnist")),
    ],
    "cli.md": [Plan((0,), elsewhere="tests/cli/test_readme.py: the session runs this train.py")],
    "early-stopping.md": [
        Plan((0,), experiment="mnist"),
        Plan((1,), experiment="mnist", setup=_MNIST_ASHA),
    ],
    "from-optuna.md": [Plan((0,), experiment="mnist")],
    "integrations.md": [
        Plan((0,), experiment="digits-xgboost", jobs=1, needs=("xgboost", *_INTEGRATIONS)),
        Plan((1,), experiment="digits-lightgbm", jobs=1, needs=("lightgbm", *_INTEGRATIONS)),
        Plan(
            (2,),
            experiment="digits-keras",
            jobs=1,
            env=(("KERAS_BACKEND", "torch"),),
            needs=("torch", "keras", *_INTEGRATIONS),
        ),
        Plan((3,), experiment="digits-transformers", jobs=1, needs=("transformers", "torch", *_INTEGRATIONS)),
        Plan((4,), experiment="digits-lightning", jobs=1, needs=("lightning", *_INTEGRATIONS)),
        Plan((5,), elsewhere="tests/integrations/test_lightning.py: the same DDP worker, two ranks on gloo"),
        Plan((6,), experiment="digits-svc", jobs=6, needs=_INTEGRATIONS),
    ],
    "pbt.md": [Plan((0, 1), experiment="resnet-pbt"), Plan((0, 2), experiment="resnet-pbt"), Plan((0, 3))],
    "search.md": [Plan((0,)), Plan((1,))],
}


def _blocks(page: Path) -> list[str]:
    return [textwrap.dedent(match.group(2)) for match in _BLOCK.finditer(page.read_text())]


def _cases() -> list[Any]:
    cases = []
    for page in PAGES:
        for number, plan in enumerate(PLANS.get(page.name, [])):
            if plan.elsewhere is None:
                # A framework's training takes a minute or more on CI's machine: with the long variants.
                # (a tiny BERT's 27 epochs took 6 min on a loaded 2-core machine).
                marks = [pytest.mark.slow, pytest.mark.timeout(1200)] if set(plan.needs) & _FRAMEWORKS else []
                cases.append(pytest.param(page, plan, id=f"{page.name}-{number}", marks=marks))
    return cases


def test_every_snippet_has_a_plan() -> None:
    """A block added to a page without saying how to run it fails here."""
    missing = []
    for page in PAGES:
        planned = {index for plan in PLANS.get(page.name, []) for index in plan.blocks}
        blocks = _blocks(page)
        missing += [f"{page.name} block {i}" for i in range(len(blocks)) if i not in planned]
        assert planned <= set(range(len(blocks))), f"{page.name} has {len(blocks)} Python blocks"
    assert not missing, f"Python snippets no test runs: {missing}"


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("page", "plan"), _cases())
def test_the_snippets_run_as_written(
    service: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: Path, plan: Plan
) -> None:
    for name, value in plan.env:
        monkeypatch.setenv(name, value)  # e.g. Keras imports only with a backend named
    for module in plan.needs:
        framework(module)
    home, work = tmp_path / "home", tmp_path / "work"
    (home / ".schedy").mkdir(parents=True)
    (home / ".schedy" / "client.json").write_text(json.dumps(service.client_config))
    work.mkdir()
    (work / "standins.py").write_text(_STANDINS)
    (work / "runner.py").write_text(_RUNNER)
    blocks = _blocks(page)
    files = []
    if plan.setup:
        (work / "setup.py").write_text(plan.setup)
        files.append("setup.py")
    for index in plan.blocks:
        path = work / f"{page.stem}-{index}.py"
        path.write_text(blocks[index])
        files.append(path.name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDY_")}
    env.update(plan.env, HOME=str(home))
    runner = [sys.executable, "runner.py"]
    if plan.run_by:
        subprocess.run([*runner, *files[:1]], cwd=work, env=env, check=True, timeout=60)
        command = [sys.executable, "-m", "schedy.cli.main", *plan.run_by, *runner, *files[1:]]
    else:
        command = [*runner, *files]
    process = subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        if plan.experiment is not None and not plan.run_by:
            _end_after_jobs(service, plan, process)
        output, _ = process.communicate(timeout=1100)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output.decode(errors="replace")[-3000:]
    if plan.experiment is not None:
        with schedy.SchedyDB(config_override=service.client_config, heartbeat=0) as db:
            jobs = list(db.get_experiment(plan.experiment).all_jobs())
        assert sum(job.status in (schedy.Job.DONE, schedy.Job.PRUNED) for job in jobs) >= plan.jobs
        assert not [job for job in jobs if job.status == schedy.Job.CRASHED]


def _end_after_jobs(service: Any, plan: Plan, process: subprocess.Popen[bytes]) -> None:
    """Set the plan's experiment DONE once ``plan.jobs`` of its jobs were claimed, as its owner would."""
    assert plan.experiment is not None
    deadline = time.monotonic() + 1100
    with schedy.SchedyDB(config_override=service.client_config, heartbeat=0) as db:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                exp = db.get_experiment(plan.experiment)
            except schedy.errors.ClientRequestError as exc:
                if exc.code != 404:  # not created yet
                    raise
                time.sleep(0.2)
                continue
            # Claimed, not finished: a framework's job trains for a minute; the worker ends after it.
            if len(list(exp.all_jobs())) >= plan.jobs:
                exp.status = exp.DONE
                exp.push_updates()
                return
            time.sleep(0.2)
