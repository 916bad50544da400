"""A row carrying a hyperparameter of a branch it did not take is refused with a sentence saying whose branch it is.

It used to be refused as "does not have the hyperparameters of imp-branch (x, opt, m): unknown 'm'", a message
listing m as expected and unknown at once. docs/cli.md: "a conditional hyperparameter is absent on the rows
whose choice did not take its branch". Real service (SQLite and PostgreSQL), ``schedy`` as a subprocess.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schedy.errors import SchedyError
from tests.cli.conftest import Cli

BRANCHES = '{"values": ["sgd", "adam"], "branches": {"sgd": {"m": {"uniform": {"low": 0, "high": 1}}}}}'


def test_a_row_with_a_hyperparameter_of_a_branch_not_taken_is_told_whose_branch_it_is(cli: Cli, tmp_path: Path) -> None:
    cli.ok("add", "imp-branch", "tpe", "min", "loss", "x", "uniform", "-5", "5", "opt", "choice", BRANCHES)
    rows = [
        {"status": "DONE", "hyperparameters": {"x": 1.0, "opt": "sgd", "m": 0.5}, "results": {"loss": 2}},
        {"status": "DONE", "hyperparameters": {"x": 1.0, "opt": "adam", "m": 0.3}, "results": {"loss": 1}},
    ]
    (tmp_path / "branch.json").write_text(json.dumps(rows))
    for dry in ([], ["--dry-run"]):
        done = cli("import", "imp-branch", str(tmp_path / "branch.json"), *dry)
        assert done.returncode == 1, done.stderr
        assert "unknown 'm'" not in done.stderr
        assert done.stderr == (
            "schedy: Job 2 of the file does not have the hyperparameters of imp-branch (x, opt, m): "
            '\'m\' belongs to the branch opt = "sgd", and this job has opt = "adam"; nothing was added.\n'
        )
    # Names outside the space are still unknown, and a row without the choice is told so.
    rows[1]["hyperparameters"] = {"x": 1.0, "m": 0.3, "z": 1}
    (tmp_path / "branch.json").write_text(json.dumps(rows))
    done = cli("import", "imp-branch", str(tmp_path / "branch.json"))
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        "schedy: Job 2 of the file does not have the hyperparameters of imp-branch (x, opt, m): missing 'opt'; "
        "unknown 'z'; 'm' belongs to the branch opt = \"sgd\", and this job has no opt; nothing was added.\n"
    )
    with cli.db() as db:
        exp = db.get_experiment("imp-branch")
        assert list(exp.all_jobs()) == []
        # A job added by hand is refused by the service in the same words.
        with pytest.raises(
            SchedyError, match=r"'m' belongs to the branch opt = \"sgd\", and this job has opt = \"adam\""
        ):
            exp.add_job(hyperparameters={"x": 1.0, "opt": "adam", "m": 0.3}, status="DONE", results={"loss": 1})
        # The row that takes the branch is fine.
        rows.pop()
    (tmp_path / "branch.json").write_text(json.dumps(rows))
    assert "Added 1" in cli.ok("import", "imp-branch", str(tmp_path / "branch.json"))
