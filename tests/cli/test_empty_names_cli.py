"""An empty hyperparameter or result name from the command line and the client: refused before sending.

``schedy push m -p "" 1`` succeeded (``: 1``) and left a field without a name in every listing; see
tests/server/api/test_empty_names.py for the service's side.
"""

from __future__ import annotations

import pytest

import schedy
from schedy.errors import ClientRequestError, DefinitionError
from schedy.random import Uniform


def test_push_refuses_an_empty_name_before_sending(cli):
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch("m"))
    for words in (("-p", "", "1"), ("-p", "x", "1", "-r", "", "0.5")):
        refused = cli("push", "m", *words)
        what = "Result" if "-r" in words else "Hyperparameter"
        assert (refused.returncode, refused.stdout) == (2, ""), refused.stderr
        assert refused.stderr.startswith(f"schedy: {what} names must not be empty: name each ")
        assert len(refused.stderr.splitlines()) == 1
    with cli.db() as db:
        assert list(db.get_experiment("m").all_jobs()) == []


def test_import_refuses_an_empty_column_name_and_adds_nothing(cli, tmp_path):
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch("imp"))
    rows = tmp_path / "rows.csv"
    rows.write_text("status,hyperparameters.x,results.,results.acc\nDONE,1,2,0.5\n")
    refused = cli("import", "imp", str(rows))
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "schedy: Job 1 of the file cannot be sent: Result names must not be empty: name each result (e.g. loss); "
        "nothing was added."
    )
    with cli.db() as db:
        assert list(db.get_experiment("imp").all_jobs()) == []


def test_the_client_refuses_a_definition_with_an_empty_name_and_the_service_a_job(cli):
    with pytest.raises(DefinitionError, match=r"^Hyperparameter names must not be empty"):
        schedy.RandomSearch("unnamed", {"": Uniform(0, 1), "x": Uniform(0, 1)})
    with pytest.raises(DefinitionError, match=r"^Hyperparameter names must not be empty"):
        schedy.GridSearch("unnamed", {"": [1, 2]})
    with cli.db() as db:
        exp = schedy.ManualSearch("manual")
        db.add_experiment(exp)
        with pytest.raises(ClientRequestError, match="Result names must not be empty"):
            exp.add_job(hyperparameters={"x": 1}, results={"": 0.5}, status="DONE")
        assert list(exp.all_jobs()) == []
