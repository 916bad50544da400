"""``schedy push`` and ``schedy import`` with values JSON can say but the service refuses: one line, not a traceback.

Such values (an integer past a float's range, lists nested more than 100 levels deep) are found before
anything is sent, and said in one ``schedy: …`` line, like any other input the command refuses.
"""

from __future__ import annotations

import json

import pytest

import schedy

#: An integer of 401 digits: JSON reads it, the service refuses it (past a float's range).
BIG = "1" + "0" * 400
TOO_BIG = (
    "an integer of 401 digits is past a float's range (1.8e308), which the service refuses: "
    "send it as a float or a string"
)


def _manual(cli, name: str) -> None:
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch(name))


def _job_count(cli, name: str) -> int:
    with cli.db() as db:
        return len(list(db.get_experiment(name).all_jobs()))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "x", BIG], f"The value of hyperparameter 'x' cannot be sent: {TOO_BIG}."),
        (["-p", "x", "1", "-r", "loss", f"[{BIG}]"], f"The value of result 'loss' cannot be sent: {TOO_BIG}."),
        (
            ["-p", "x", "[" * 150 + "]" * 150],
            "The value of hyperparameter 'x' cannot be sent: a value nests lists or dicts more than 100 levels "
            "deep, which the service refuses: flatten it.",
        ),
        (
            ["-p", "x", "1", "-r", "loss", "[" * 20_000 + "]" * 20_000],  # an argument holds at most 128 KiB
            "The value of result 'loss' nests lists or dicts far more than 100 levels deep, which the service "
            "refuses: flatten it.",
        ),
    ],
    ids=["big-hyperparameter", "big-result", "deep", "far-too-deep"],
)
def test_push_refuses_a_value_the_service_would_in_one_line(cli, args, message):
    _manual(cli, "manual")
    done = cli("push", "manual", *args)
    assert "Traceback" not in done.stderr
    assert done.returncode == 2  # as for a value that is not JSON: the arguments are wrong
    assert done.stderr == f"schedy: {message}\n"
    assert _job_count(cli, "manual") == 0


def test_import_refuses_a_file_holding_a_value_the_service_would_and_adds_nothing(cli, tmp_path):
    _manual(cli, "target")
    good = {"status": "DONE", "hyperparameters": {"x": 1}, "results": {"loss": 1}}
    rows = {
        "array.json": "["
        + json.dumps(good)
        + ', {"status": "DONE", "hyperparameters": {"x": '
        + BIG
        + '}, "results": {}}]',
        "lines.jsonl": json.dumps(good) + '\n{"hyperparameters": {"x": 1}, "results": {"loss": ' + BIG + "}}\n",
        "table.csv": f"hyperparameters.x,results.loss\n1,1\n{BIG},2\n",
    }
    for name, text in rows.items():
        path = tmp_path / name
        path.write_text(text)
        done = cli("import", "target", str(path))
        assert "Traceback" not in done.stderr, name
        assert done.returncode == 1, name
        assert done.stderr == f"schedy: Job 2 of the file cannot be sent: {TOO_BIG}; nothing was added.\n", name
        dry = cli("import", "--dry-run", "target", str(path))  # found before anything would be sent
        assert dry.stderr == done.stderr, name
    assert _job_count(cli, "target") == 0


def test_import_refuses_json_nested_too_deeply_to_read_in_one_line(cli, tmp_path):
    _manual(cli, "target")
    deep = "[" * 100_000 + "]" * 100_000
    files = {
        "array.json": ("[" + deep + "]", "The file cannot be imported"),
        "lines.jsonl": ('{"hyperparameters": {}, "results": ' + deep + "}\n", "Line 1 of the file cannot be imported"),
    }
    for name, (text, start) in files.items():
        path = tmp_path / name
        path.write_text(text)
        done = cli("import", "target", str(path))
        assert "Traceback" not in done.stderr, name
        assert done.returncode == 2, name  # as for a file that is not JSON
        assert done.stderr == (
            f"schedy: {start}: it nests lists or dicts far more than 100 levels deep, which the service refuses: "
            "flatten it.\n"
        ), name
    assert _job_count(cli, "target") == 0
