"""``schedy import`` refuses, before anything is sent, what the search cannot use or the service cannot take.

And it says what it leaves out: the columns it does not import, the rows it skips by their status.
"""

from __future__ import annotations

import json

import httpx

import schedy
from schedy.random import Choice, Integer, LogUniform, Uniform

#: A TPE search of loss with a conditional hyperparameter (momentum only on the sgd branch).
_SPACE = {
    "optimizer": Choice(["sgd", "adam"], branches={"sgd": {"momentum": Uniform(0, 0.99)}}),
    "layers": Integer(1, 8),
    "lr": LogUniform(1e-5, 1e-1),
    "tag": Choice(["3", 3, True, None]),
}


def _jobs(cli, name: str) -> list[schedy.Job]:
    with cli.db() as db:
        return list(db.get_experiment(name).all_jobs())


def _lines(path, *jobs: dict) -> None:
    path.write_text("".join(json.dumps(job) + "\n" for job in jobs))


def test_a_result_read_from_another_column_is_never_taken_from_the_files_own_column_of_that_name(cli, tmp_path):
    """``--result loss=results.acc`` used to fill loss from ``results.loss`` wherever ``results.acc`` was empty."""
    cli.ok("add", "rfb", "random", "x", "uniform", "0", "1")
    (tmp_path / "rfb.csv").write_text(
        "id,status,hyperparameters.x,results.loss,results.acc\na1,DONE,0.1,0.9,0.8\na2,DONE,0.2,0.5,\n"
    )
    _lines(
        tmp_path / "rfb.jsonl",
        {"id": "b1", "hyperparameters": {"x": 0.1}, "results": {"loss": 0.9, "acc": 0.8}},
        {"id": "b2", "hyperparameters": {"x": 0.2}, "results": {"loss": 0.5}},
    )
    for file in ("rfb.csv", "rfb.jsonl"):
        cli.ok("import", "rfb", str(tmp_path / file), "--result", "loss=results.acc")
    assert {job.job_id: job.results for job in _jobs(cli, "rfb")} == {
        "a1": {"loss": 0.8},
        "a2": {},
        "b1": {"loss": 0.8},
        "b2": {},
    }
    # Into a search ranking by loss, the rows without results.acc are counted by the warning.
    cli.ok("add", "rfb-tpe", "tpe", "min", "loss", "x", "uniform", "0", "1")
    for file in ("rfb.csv", "rfb.jsonl"):
        done = cli("import", "rfb-tpe", str(tmp_path / file), "--result", "loss=results.acc", "--dry-run")
        assert done.returncode == 0, done.stderr
        assert done.stderr.startswith("schedy: 1 of the file's 2 DONE rows has no 'loss', the result rfb-tpe ranks ")
    # A JSON file none of whose jobs has the column is refused, as a CSV without it is.
    refused = cli("import", "rfb", str(tmp_path / "rfb.jsonl"), "--result", "loss=results.nope")
    assert (refused.returncode, refused.stderr) == (
        2,
        "schedy: No job of the file has 'results.nope' (results.NAME, for a JSON job) to read the result 'loss' "
        "from.\n",
    )


def test_a_hyperparameter_value_outside_the_searchs_space_is_refused_naming_row_and_space(cli, tmp_path):
    with cli.db() as db:
        db.add_experiment(schedy.TPESearch("space", _SPACE, "min", "loss"))
    good = {"optimizer": "adam", "layers": 2, "lr": 0.02, "tag": 3}
    cases = {
        "layers": (2.5, "layers = 2.5, outside the space of space, where layers is an integer from 1 to 8"),
        "lr": (0.5, "lr = 0.5, outside the space of space, where lr is a number from 1e-05 to 0.1"),
        "tag": ("nope", 'tag = "nope", outside the space of space, where tag is one of "3", 3, true, null'),
    }
    cases_out = {**cases, "layers-high": ("layers", 99), "bool": ("layers", True)}
    for key, case in cases_out.items():
        name, value = (key, case[0]) if key in cases else case
        path = tmp_path / f"{key}.jsonl"
        _lines(path, {"hyperparameters": good, "results": {"loss": 0.3}}, {
            "hyperparameters": {**good, name: value}, "results": {"loss": 0.3}
        })  # fmt: skip
        for dry in ([], ["--dry-run"]):
            refused = cli("import", "space", str(path), *dry)
            assert (key, refused.returncode, refused.stdout) == (key, 1, "")
            assert refused.stderr.startswith(f"schedy: Job 2 of the file has {name} = {json.dumps(value)}, outside")
            assert refused.stderr.endswith("; nothing was added.\n")
            if key in cases:
                assert cases[key][1] in refused.stderr
    # A CSV: a string for an integer, named by its place in the file (the skipped row before it counted).
    (tmp_path / "bad.csv").write_text(
        "id,status,hyperparameters.optimizer,hyperparameters.layers,hyperparameters.lr,hyperparameters.tag,"
        "results.loss\n"
        "z0,QUEUED,adam,1,0.01,3,\n"
        "z1,DONE,adam,abc,0.01,3,0.5\n"
    )
    refused = cli("import", "space", str(tmp_path / "bad.csv"))
    assert (refused.returncode, refused.stderr) == (
        1,
        'schedy: Job 2 of the file has layers = "abc", outside the space of space, where layers is an integer '
        "from 1 to 8; nothing was added.\n",
    )
    assert _jobs(cli, "space") == []
    # Every value in the space: added, the conditional momentum only on its branch, an integer written 2.0 too.
    _lines(
        tmp_path / "ok.jsonl",
        {"hyperparameters": {**good, "optimizer": "sgd", "momentum": 0.9}, "results": {"loss": 0.3}},
        {"hyperparameters": {**good, "layers": 8.0, "lr": 1e-5, "tag": None}, "results": {"loss": 0.2}},
    )
    assert cli.ok("import", "space", str(tmp_path / "ok.jsonl")) == "Added 2 DONE jobs to space.\n"
    # A grid's values are its lists'.
    with cli.db() as db:
        db.add_experiment(schedy.GridSearch("grid", {"lr": [0.1, 0.01], "n": [1, 2]}))
    _lines(tmp_path / "grid.jsonl", {"hyperparameters": {"lr": 0.1, "n": 3}, "results": {}})
    refused = cli("import", "grid", str(tmp_path / "grid.jsonl"))
    assert refused.stderr == (
        "schedy: Job 1 of the file has n = 3, outside the space of grid, where n is one of 1, 2; nothing was added.\n"
    )


def test_a_ranked_result_that_is_not_a_number_counts_as_missing(cli, tmp_path):
    cli.ok("add", "str-loss", "tpe", "min", "loss", "x", "uniform", "0", "1")
    _lines(
        tmp_path / "some.jsonl",
        {"hyperparameters": {"x": 0.1}, "results": {"loss": "abc"}},
        {"hyperparameters": {"x": 0.2}, "results": {"loss": 0.5}},
    )
    warned = cli("import", "str-loss", str(tmp_path / "some.jsonl"))
    assert (warned.returncode, warned.stdout) == (0, "Added 2 DONE jobs to str-loss.\n")
    assert warned.stderr == (
        "schedy: 1 of the file's 2 DONE rows has no number as 'loss', the result str-loss ranks jobs by: its search "
        "would rank it worst and steer away from its hyperparameters (added all the same); the file has no other "
        "column that may hold it (results.NAME, value, values_NAME, user_attrs_NAME).\n"
    )
    _lines(tmp_path / "none.jsonl", {"hyperparameters": {"x": 0.3}, "results": {"loss": "abc"}})
    refused = cli("import", "str-loss", str(tmp_path / "none.jsonl"))
    assert refused.returncode == 1
    assert refused.stderr.startswith("schedy: The file's DONE row has no number as 'loss', the result str-loss ")


def test_a_job_larger_than_a_request_the_service_takes_is_refused_before_anything_is_sent(cli, tmp_path):
    """The dry run used to promise it; the import then added the rows before it and stopped at it with 413."""
    cli.ok("add", "big", "manual")
    rows = [{"hyperparameters": {"i": i}, "results": {"loss": 0.5}} for i in range(3)]
    rows[1]["results"]["log"] = "x" * (1 << 20)
    _lines(tmp_path / "big.jsonl", *rows)
    for dry in (["--dry-run"], []):
        refused = cli("import", "big", str(tmp_path / "big.jsonl"), *dry)
        assert (refused.returncode, refused.stdout) == (1, "")
        assert refused.stderr.startswith(
            "schedy: Job 2 of the file cannot be sent: its job is 1,048,6"  # and some bytes
        )
        assert refused.stderr.endswith(
            " bytes of JSON, over the service's limit of 1,048,576 bytes a request (keep big data in files stored "
            "with the job: job.save_artifact); nothing was added.\n"
        )
    assert _jobs(cli, "big") == []
    # Just under the limit: added.
    rows[1]["results"]["log"] = "x" * ((1 << 20) - 200)
    _lines(tmp_path / "fits.jsonl", *rows)
    assert cli.ok("import", "big", str(tmp_path / "fits.jsonl")) == "Added 3 DONE jobs to big.\n"


def test_the_columns_not_imported_are_named_once_and_skipped_rows_by_their_status(cli, tmp_path):
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch("src"))
        exp = db.get_experiment("src")
        exp.add_job(hyperparameters={"x": 1}, results={"loss": 1.0}, status="DONE")
        exp.add_job(hyperparameters={"x": 2}, results={"loss": 2.0}, status="CRASHED")
        exp.add_job(hyperparameters={"x": 3}, results={"loss": 3.0}, status="CRASHED")
        exp.add_job(hyperparameters={"x": 4})  # QUEUED
        job = exp.add_job(hyperparameters={"x": 5}, results={"loss": 5.0}, status="DONE")
    # A job's note: a column of the export.
    credentials = {"email": cli.service.email, "token": cli.service.api_token}
    token = httpx.post(cli.service.url + "token/", json=credentials).json()["token"]
    answer = httpx.put(
        cli.service.url + f"experiments/src/jobs/{job.job_id}/notes/",
        json={"text": "a note"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    cli.ok("add", "dst", "manual")
    for fmt in ("csv", "json"):
        cli.ok("export", "src", "--format", fmt, "-o", str(tmp_path / f"src.{fmt}"))
        done = cli("import", "dst", str(tmp_path / f"src.{fmt}"), "--dry-run")
        skipped = "(2 CRASHED and 1 QUEUED rows skipped)"
        assert (done.returncode, done.stdout) == (0, f"Would add 2 DONE jobs to dst {skipped}.\n")
        times = "created_at, updated_at" if fmt == "csv" else "createdAt, updatedAt"
        assert done.stderr.startswith(f"schedy: not imported: the file's {times}, ")
        assert done.stderr.endswith(", note; a job added gets its own times, worker and attempt.\n")
        assert len(done.stderr.splitlines()) == 1
    # A file of hyperparameters and results only: nothing to say.
    _lines(tmp_path / "plain.jsonl", {"hyperparameters": {"x": 1}, "results": {"loss": 1.0}, "status": "FAILED"})
    done = cli("import", "dst", str(tmp_path / "plain.jsonl"))
    assert (done.stdout, done.stderr) == ("Added no job to dst (1 FAILED row skipped).\n", "")
