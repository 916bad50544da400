"""``schedy import``: finished jobs from an export or an Optuna study become history a search learns from."""

from __future__ import annotations

import csv
import json

import pytest

import schedy
from schedy import pbt
from schedy.random import Choice, Uniform


def _tpe(cli, name: str) -> None:
    with cli.db() as db:
        db.add_experiment(schedy.TPESearch(name, {"x": Uniform(-5, 5), "y": Uniform(-5, 5)}, "min", "loss"))


def _pbt(cli, name: str, result: str) -> None:
    """A PBT search exploring ``x``: a job without it is refused by the service, which the import does not check."""
    with cli.db() as db:
        db.add_experiment(
            schedy.PopulationBasedTraining(
                name, pbt.MINIMIZE, result, pbt.Truncate(), {"x": pbt.Perturb()}, {"x": Uniform(0, 5)},
                population_size=2,
            )
        )  # fmt: skip


def _exported(cli, name: str, n: int, path) -> None:
    """A TPE search of ``n`` DONE jobs (x = 0, 1, …; loss = x), exported as CSV to ``path``."""
    _tpe(cli, name)
    with cli.db() as db:
        exp = db.get_experiment(name)
        for i in range(n):
            exp.add_job(hyperparameters={"x": float(i), "y": 0.0}, results={"loss": float(i)}, status="DONE")
    cli.ok("export", name, "-o", str(path))


def test_an_exported_experiment_warm_starts_another(cli, tmp_path):
    _tpe(cli, "source")
    with cli.db() as db:
        exp = db.get_experiment("source")
        for i in range(12):
            x = (i - 6 + 0.5) * 0.8  # in the space: -5 < x < 5
            exp.add_job(hyperparameters={"x": x, "y": 1.0}, results={"loss": x**2}, status="DONE")
        exp.add_job(hyperparameters={"x": 0.0, "y": 0.0}, status="QUEUED")  # not finished: not imported
        exp.add_job(hyperparameters={"x": 4.0, "y": 1.0}, results={"loss": 16.5}, status="PRUNED")
    for fmt in ("csv", "json"):
        out = tmp_path / f"export.{fmt}"
        cli.ok("export", "source", "--format", fmt, "-o", str(out))
        _tpe(cli, f"target-{fmt}")
        done = cli("import", f"target-{fmt}", str(out))
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"Added 12 DONE and 1 PRUNED jobs to target-{fmt} (1 QUEUED row skipped).\n"
        with cli.db() as db:
            jobs = list(db.get_experiment(f"target-{fmt}").all_jobs())
        assert sorted((j.hyperparameters["x"], j.results["loss"]) for j in jobs if j.status == "DONE") == sorted(
            ((i - 6 + 0.5) * 0.8, ((i - 6 + 0.5) * 0.8) ** 2) for i in range(12)
        )
        # A job stopped early stays one: TPE ranks it after every DONE job, by the value it reached.
        assert [(j.hyperparameters["x"], j.results) for j in jobs if j.status == "PRUNED"] == [(4.0, {"loss": 16.5})]


def test_strings_that_look_like_other_values_come_back_as_strings(cli, tmp_path):
    """A CSV export then import keeps "3", "true", "null", "1e-3", "nan" and "" strings as strings."""
    odd = {"n": "3", "flag": "true", "none": "null", "lr": "1e-3", "nan": "nan", "empty": "", "quoted": '"a"'}
    plain = {"n": 3, "flag": True, "lr": 0.001, "opt": "adam", "list": [1, 2], "nan": None}
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch("typed"))
        exp = db.get_experiment("typed")
        exp.add_job(hyperparameters=odd, results={"loss": 1.0, "note": "NaN"}, status="DONE")
        exp.add_job(hyperparameters=plain, results={"loss": float("inf")}, status="DONE")
    out = tmp_path / "typed.csv"
    cli.ok("export", "typed", "-o", str(out))
    cli.ok("add", "typed-again", "manual")
    cli.ok("import", "typed-again", str(out))
    with cli.db() as db:
        back = {j.hyperparameters["n"]: j for j in db.get_experiment("typed-again").all_jobs()}
    assert (back["3"].hyperparameters, back["3"].results) == (odd, {"loss": 1.0, "note": "NaN"})
    # None is JSON's null, not an empty cell (a job without that hyperparameter): it comes back.
    assert (back[3].hyperparameters, back[3].results) == (plain, {"loss": float("inf")})
    # Plain strings stay plain cells, as pandas reads them.
    assert ",adam," in out.read_text()


def test_an_optuna_dataframe_warm_starts_tpe_past_its_startup(cli, tmp_path):
    """30 imported trials are more than the 10 startup jobs: the first claim already uses the model."""
    header = "number,value,datetime_start,datetime_complete,duration,params_x,params_y,state\n"
    xs = [-5 + i * 10 / 29 for i in range(30)]  # spread over the whole range; loss x**2, best near 0
    rows = [f"{i},{x**2!r},2026-01-01,2026-01-01,0,{x!r},0.5,COMPLETE\n" for i, x in enumerate(xs)]
    rows.append("30,,2026-01-01,,0,3.0,0.5,FAIL\n")
    rows.append("31,9.5,2026-01-01,2026-01-01,0,3.0,0.5,PRUNED\n")  # Optuna keeps a pruned trial's last value
    (tmp_path / "study.csv").write_text(header + "".join(rows))
    _tpe(cli, "warm")
    added = cli.ok("import", "warm", str(tmp_path / "study.csv"))
    assert added == "Added 30 DONE and 1 PRUNED jobs to warm (1 FAIL row skipped).\n"
    with cli.db() as db:
        exp = db.get_experiment("warm")
        jobs = list(exp.all_jobs())
        assert sorted(j.results["loss"] for j in jobs if j.status == "DONE") == sorted(x**2 for x in xs)
        assert all(set(j.hyperparameters) == {"x", "y"} for j in jobs)
        # With the history, TPE hands out points near the imported good region (x near 0), where
        # startup draws (before 10 jobs) would spread over [-5, 5]: about half within 2.5 of 0.
        near = 0
        for _ in range(8):
            with exp.next_job() as job:
                near += abs(job.hyperparameters["x"]) < 2.5
                job.results["loss"] = job.hyperparameters["x"] ** 2
    assert near >= 6


def test_bad_files_are_refused_in_one_line_and_nothing_is_added(cli, tmp_path):
    _tpe(cli, "strict")
    cases = {
        "garbage.csv": ("a,b\n1,2\n", "neither JSON nor a CSV"),
        "broken.json": ("[{", "does not parse"),
        "lines.jsonl": ('{"hyperparameters": {"x": 1, "y": 1}, "results": {"loss": 1}}\nnot json\n', "Line 2"),
    }
    for file, (text, message) in cases.items():
        (tmp_path / file).write_text(text)
        done = cli("import", "strict", str(tmp_path / file))
        assert done.returncode == 2, done.stderr
        assert message in done.stderr
    # A job outside the search space is found before anything is sent, by a dry run too.
    (tmp_path / "outside.json").write_text(
        json.dumps(
            [
                {"hyperparameters": {"x": 1, "y": 1}, "results": {"loss": 2}},
                {"hyperparameters": {"x": 1, "z": 1}, "results": {"loss": 2}},
            ]
        )
    )
    for dry in ([], ["--dry-run"]):
        done = cli("import", "strict", str(tmp_path / "outside.json"), *dry)
        assert done.returncode == 1
        assert done.stderr == (
            "schedy: Job 2 of the file does not have the hyperparameters of strict (x, y): missing 'y'; "
            "unknown 'z'; nothing was added.\n"
        )
    with cli.db() as db:
        assert list(db.get_experiment("strict").all_jobs()) == []
    # A grid's rows too.
    with cli.db() as db:
        db.add_experiment(schedy.GridSearch("cells", {"x": [1, 2], "y": [0]}))
    (tmp_path / "cells.json").write_text(
        json.dumps(
            [
                {"hyperparameters": {"x": 1, "y": 0}, "results": {"loss": 2}},
                {"hyperparameters": {"x": 2, "z": 1}, "results": {"loss": 2}},
            ]
        )
    )
    done = cli("import", "cells", str(tmp_path / "cells.json"), "--dry-run")
    assert done.returncode == 1
    assert done.stderr == (
        "schedy: Job 2 of the file does not have the hyperparameters of cells (x, y): missing 'y'; unknown 'z'; "
        "nothing was added.\n"
    )
    # What only the service refuses (here a PBT job without its explored hyperparameter) stops the import after
    # the jobs before it.
    _pbt(cli, "members", "score")
    (tmp_path / "members.json").write_text(
        json.dumps(
            [
                {"hyperparameters": {"x": 0.5}, "results": {"score": 2}},
                {"hyperparameters": {"z": 1}, "results": {"score": 2}},
            ]
        )
    )
    done = cli("import", "members", str(tmp_path / "members.json"))
    assert done.returncode == 1
    assert done.stderr.startswith("schedy: Added 1 of 2 jobs, then job 2 was refused: ")
    assert "'x'" in done.stderr
    missing = cli("import", "strict", str(tmp_path / "nope.csv"))
    assert missing.returncode == 1
    assert "Cannot read" in missing.stderr


def test_an_import_run_again_adds_only_what_is_new(cli, tmp_path):
    """Twice the same export, a fixed file after a refusal, an Optuna study exported again after more trials."""
    _exported(cli, "origin", 6, tmp_path / "origin.csv")
    _tpe(cli, "again")
    assert cli.ok("import", "again", str(tmp_path / "origin.csv")) == "Added 6 DONE jobs to again.\n"
    assert cli.ok("import", "again", str(tmp_path / "origin.csv")) == "Added no job to again (6 already there).\n"
    assert cli.ok("import", "again", str(tmp_path / "origin.csv"), "--dry-run") == (
        "Would add no job to again (6 already there).\n"
    )
    with cli.db() as db:
        assert len(list(db.get_experiment("again").all_jobs())) == 6

    # Rows without ids (JSON lines): a refusal half-way (by the service: a PBT search's rows are not checked
    # before), then the file fixed and imported again.
    lines = [{"hyperparameters": {"x": 1.0, "y": 1.0}, "results": {"loss": 2.0}, "status": "DONE"}] * 2
    lines.append({"hyperparameters": {"z": 4.0, "y": 1.0}, "results": {"loss": 16.0}, "status": "DONE"})
    (tmp_path / "runs.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    _pbt(cli, "fixed", "loss")
    refused = cli("import", "fixed", str(tmp_path / "runs.jsonl"))
    assert refused.returncode == 1
    assert refused.stderr.startswith("schedy: Added 2 of 3 jobs, then job 3 was refused: ")
    assert "Run the import again once it is fixed" in refused.stderr
    lines[2]["hyperparameters"] = {"x": 4.0, "y": 1.0}
    (tmp_path / "runs.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert cli.ok("import", "fixed", str(tmp_path / "runs.jsonl")) == "Added 1 DONE job to fixed (2 already there).\n"
    with cli.db() as db:
        # The two identical rows are two jobs: a file's rows are told apart by their place.
        xs = sorted(j.hyperparameters["x"] for j in db.get_experiment("fixed").all_jobs())
    assert xs == [1.0, 1.0, 4.0]

    # An Optuna study's CSV again after more trials, with a column it did not have before.
    header = "number,value,datetime_start,params_x,params_y,state"
    rows = [f"{i},{i * 0.5},2026-01-01 00:00:0{i},{i * 0.5},0.5,COMPLETE" for i in range(4)]
    (tmp_path / "study1.csv").write_text("\n".join([header, *rows[:3]]) + "\n")
    wider = [header.replace(",state", ",system_attrs_x,state")] + [r.replace(",COMPLETE", ",,COMPLETE") for r in rows]
    (tmp_path / "study2.csv").write_text("\n".join(wider) + "\n")
    _tpe(cli, "study")
    assert cli.ok("import", "study", str(tmp_path / "study1.csv")) == "Added 3 DONE jobs to study.\n"
    assert cli.ok("import", "study", str(tmp_path / "study2.csv")) == "Added 1 DONE job to study (3 already there).\n"


def test_an_id_already_holding_another_job_stops_the_import_with_a_sentence(cli, tmp_path):
    _tpe(cli, "taken")
    with cli.db() as db:
        exp = db.get_experiment("taken")
        exp.add_job(hyperparameters={"x": 0.0, "y": 0.0}, results={"loss": 0.0}, status="DONE")
    cli.ok("export", "taken", "--format", "json", "-o", str(tmp_path / "taken.json"))
    jobs = json.loads((tmp_path / "taken.json").read_text())
    jobs[0]["results"]["loss"] = 7.0  # the same id, other results
    (tmp_path / "edited.json").write_text(json.dumps(jobs))
    done = cli("import", "taken", str(tmp_path / "edited.json"))
    assert done.returncode == 1
    assert f"A job '{jobs[0]['id']}' already exists in taken with other hyperparameters, results or status" in (
        done.stderr
    )
    with cli.db() as db:
        [job] = db.get_experiment("taken").all_jobs()
    assert job.results == {"loss": 0.0}


def test_an_optuna_csv_is_read_with_the_types_the_search_declares(cli, tmp_path):
    """pandas writes booleans as True/False and an integer column with empty cells as floats (2.0).

    It leaves a None category empty, as it leaves a conditional parameter its trial did not have.
    """
    from schedy.random import Choice, Integer

    space = {
        "bn": Choice([True, False]),
        "width": Choice([32, 64]),
        "opt": Choice(["sgd", "adam"], branches={"sgd": {"steps": Integer(1, 5)}}),
        "scale": Choice(["1e-3", "1"]),
        "norm": Choice(["batch", None]),
    }
    with cli.db() as db:
        db.add_experiment(schedy.TPESearch("typed", space, "min", "loss"))
    (tmp_path / "study.csv").write_text(
        ",number,value,datetime_start,params_bn,params_norm,params_opt,params_scale,params_steps,params_width,state\n"
        "0,0,0.5,2026-01-01,True,batch,sgd,1e-3,3.0,32.0,COMPLETE\n"
        "1,1,0.7,2026-01-01,False,,adam,1,,64.0,COMPLETE\n"
    )
    assert cli.ok("import", "typed", str(tmp_path / "study.csv"), "--dry-run") == "Would add 2 DONE jobs to typed.\n"
    assert cli.ok("import", "typed", str(tmp_path / "study.csv")) == "Added 2 DONE jobs to typed.\n"
    with cli.db() as db:
        hps = sorted((j.hyperparameters for j in db.get_experiment("typed").all_jobs()), key=lambda h: h["opt"])
    assert hps == [
        {"bn": False, "norm": None, "opt": "adam", "scale": "1", "width": 64},
        {"bn": True, "norm": "batch", "opt": "sgd", "scale": "1e-3", "steps": 3, "width": 32},
    ]
    assert [type(h["width"]) for h in hps] == [int, int]
    assert type(hps[1]["steps"]) is int


def test_none_among_a_searchs_values_survives_an_export_and_an_import(cli, tmp_path):
    """pandas writes None as an empty cell, as it writes a branch's hyperparameter that a row does not have.

    Read back as the search declares it: None where None is a value and the hyperparameter exists for the
    row's choices, absent otherwise; a random search, a TPE search and a grid take the jobs unchanged,
    from what ``schedy export`` writes (None as ``null``) and from the same file with empty cells.
    """
    from schedy.random import Choice

    space = {
        "opt": Choice(["sgd", "adam", None], branches={"sgd": {"nesterov": Choice([True, None])}}),
        "x": Uniform(0, 1),
    }
    jobs = [
        ({"opt": None, "x": 0.1}, 1.0),
        ({"opt": "sgd", "nesterov": None, "x": 0.2}, 2.0),
        ({"opt": "sgd", "nesterov": True, "x": 0.3}, 3.0),
        ({"opt": "adam", "x": 0.4}, 4.0),
    ]
    grid = {"opt": ["sgd", None], "width": [None, 32]}
    with cli.db() as db:
        db.add_experiment(schedy.RandomSearch("source", space))
        db.add_experiment(schedy.GridSearch("grid", grid))
        exp = db.get_experiment("source")
        for hps, loss in jobs:
            exp.add_job(hyperparameters=hps, results={"loss": loss}, status="DONE")
        cells = db.get_experiment("grid")
        cells.add_job(hyperparameters={"opt": None, "width": None}, results={"loss": 5.0}, status="DONE")
        cells.add_job(hyperparameters={"opt": "sgd", "width": 32}, results={"loss": 6.0}, status="DONE")
    for name in ("source", "grid"):
        cli.ok("export", name, "-o", str(tmp_path / f"{name}.csv"))
    with (tmp_path / "source.csv").open(newline="") as stream:
        first = next(csv.DictReader(stream))
    assert (first["hyperparameters.opt"], first["hyperparameters.nesterov"]) == ("null", "")  # None; not taken
    for name in ("source", "grid"):  # as pandas writes them: None an empty cell
        with (tmp_path / f"{name}.csv").open(newline="") as stream:
            rows = [["" if cell == "null" else cell for cell in row] for row in csv.reader(stream)]
        with (tmp_path / f"{name}-empty.csv").open("w", newline="") as stream:
            csv.writer(stream).writerows(rows)
    for suffix in ("", "-empty"):
        with cli.db() as db:
            db.add_experiment(schedy.TPESearch(f"tpe{suffix}", space, "min", "loss"))
            db.add_experiment(schedy.GridSearch(f"grid-again{suffix}", grid))
        added = cli.ok("import", f"tpe{suffix}", str(tmp_path / f"source{suffix}.csv"))
        assert added == f"Added 4 DONE jobs to tpe{suffix}.\n"
        added = cli.ok("import", f"grid-again{suffix}", str(tmp_path / f"grid{suffix}.csv"))
        assert added == f"Added 2 DONE jobs to grid-again{suffix}.\n"
        with cli.db() as db:
            back = sorted((j.results["loss"], j.hyperparameters) for j in db.get_experiment(f"tpe{suffix}").all_jobs())
            cells_back = sorted(
                (j.results["loss"], j.hyperparameters) for j in db.get_experiment(f"grid-again{suffix}").all_jobs()
            )
        assert back == [(loss, hps) for hps, loss in jobs]
        assert cells_back == [(5.0, {"opt": None, "width": None}), (6.0, {"opt": "sgd", "width": 32})]
    # Into the experiment it came from, the same jobs: recognised, not refused as different.
    for suffix in ("", "-empty"):
        added = cli.ok("import", "source", str(tmp_path / f"source{suffix}.csv"))
        assert added == "Added no job to source (4 already there).\n"


def test_a_spreadsheet_csv_with_a_byte_order_mark_is_recognised_and_other_encodings_refused(cli, tmp_path):
    """Excel saves "CSV UTF-8" with a byte-order mark: the first column's name must still be read.

    Read as part of the name ("\\ufeffid"), the ids were lost: every import of the file added its
    jobs again. A file in another encoding is refused in one sentence, not a traceback.
    """
    _exported(cli, "sheet-source", 3, tmp_path / "plain.csv")
    sheet = tmp_path / "sheet.csv"
    sheet.write_bytes(b"\xef\xbb\xbf" + (tmp_path / "plain.csv").read_bytes().replace(b"\n", b"\r\n"))
    _tpe(cli, "sheet")
    assert cli.ok("import", "sheet", str(sheet)) == "Added 3 DONE jobs to sheet.\n"
    assert cli.ok("import", "sheet", str(sheet)) == "Added no job to sheet (3 already there).\n"
    assert cli.ok("import", "sheet", str(tmp_path / "plain.csv")) == "Added no job to sheet (3 already there).\n"
    latin = tmp_path / "latin.csv"
    latin.write_bytes("hyperparameters.x,hyperparameters.y,results.loss,note\n1,1,1,café\n".encode("latin-1"))
    refused = cli("import", "sheet", str(latin))
    assert refused.returncode == 1
    assert refused.stderr == (
        f"schedy: Cannot read {latin}: it is not UTF-8 text (line 2 holds the byte 0xe9); "
        "save it as UTF-8 CSV or JSON lines.\n"
    )
    with cli.db() as db:
        assert len(list(db.get_experiment("sheet").all_jobs())) == 3


def test_strings_with_line_breaks_survive_an_export_and_an_import(cli, tmp_path):
    """A newline, a carriage return or both in a hyperparameter or a result come back exactly, one row one job.

    The export wrote a value with a lone carriage return unquoted, and the import split lines itself: the row
    came back as a DONE job with half its hyperparameters and no results, and "x\\ny" as "xy".
    """
    cli.ok("add", "breaks", "manual")
    cli.ok("push", "breaks", "-p", "a", '"x\\ny"', "c", '"x\\ry"', "d", "1", "-r", "loss", "0.5", "-s", "DONE")
    cli.ok(
        "push", "breaks", "-p", "a", '"line\\r\\nend"', "c", '"\\r"', "d", "2",
        "-r", "why", '"a,\\"b\\"\\r"', "-s", "DONE",
    )  # fmt: skip
    out = tmp_path / "breaks.csv"
    cli.ok("export", "breaks", "-o", str(out))
    cli.ok("add", "breaks-again", "manual")
    assert cli.ok("import", "breaks-again", str(out)) == "Added 2 DONE jobs to breaks-again.\n"
    with cli.db() as db:
        back = sorted(
            (j.hyperparameters["d"], j.hyperparameters, j.results) for j in db.get_experiment("breaks-again").all_jobs()
        )
    assert back == [
        (1, {"a": "x\ny", "c": "x\ry", "d": 1}, {"loss": 0.5}),
        (2, {"a": "line\r\nend", "c": "\r", "d": 2}, {"why": 'a,"b"\r'}),
    ]
    # The file read by any CSV reader (pandas, a spreadsheet) is one row per job too.
    with out.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [(r["hyperparameters.a"], r["hyperparameters.c"]) for r in rows] == [("x\ny", "x\ry"), ("line\r\nend", "\r")]
    # JSON lines written with ensure_ascii=False keep U+2028 and U+0085 raw: no end of line either.
    cli.ok("push", "breaks", "-p", "a", '"\\u2028"', "c", '"\\u0085"', "d", "3", "-r", "loss", "1", "-s", "DONE")
    jobs = json.loads(cli.ok("export", "breaks", "--format", "json"))
    (tmp_path / "breaks.jsonl").write_text("".join(json.dumps(job, ensure_ascii=False) + "\n" for job in jobs))
    cli.ok("add", "breaks-lines", "manual")
    assert cli.ok("import", "breaks-lines", str(tmp_path / "breaks.jsonl")) == "Added 3 DONE jobs to breaks-lines.\n"
    with cli.db() as db:
        lines = {j.hyperparameters["d"]: j.hyperparameters for j in db.get_experiment("breaks-lines").all_jobs()}
    assert lines[3] == {"a": "\u2028", "c": "\u0085", "d": 3}


def test_a_csv_row_cut_by_a_line_break_outside_quotes_is_refused_and_nothing_is_added(cli, tmp_path):
    """A value with a line break not in quotes (as earlier exports wrote a carriage return) is no damaged job."""
    cli.ok("add", "cut", "manual")
    cut = tmp_path / "cut.csv"
    cut.write_bytes(
        b'id,status,hyperparameters.a,hyperparameters.c,hyperparameters.d,results.loss\nj1,DONE,"x\ny",x\ry,1,0.5\n'
    )
    done = cli("import", "cut", str(cut))
    assert done.returncode == 2
    assert done.stderr == (
        "schedy: Row 1 of the file has 4 cells but its header names 6 columns (a value with a line break must be "
        "in double quotes); nothing was added.\n"
    )
    # A cell too many is refused as well; an empty cell at the end of a row (a spreadsheet's) is no value lost.
    cut.write_text("hyperparameters.a,results.loss\n1,0.5,7\n")
    done = cli("import", "cut", str(cut))
    assert (done.returncode, "Row 1 of the file has 3 cells but its header names 2 columns" in done.stderr) == (2, True)
    cut.write_text("hyperparameters.a,results.loss\n1,0.5,\n")
    assert cli.ok("import", "cut", str(cut)) == "Added 1 DONE job to cut.\n"
    with cli.db() as db:
        assert [(j.hyperparameters, j.results) for j in db.get_experiment("cut").all_jobs()] == [
            ({"a": 1}, {"loss": 0.5})
        ]


def test_json_objects_that_are_not_jobs_are_refused_and_nothing_is_added(cli, tmp_path):
    """Any JSON object used to be an empty DONE job: ``{"a": 1}`` is a row of something else, not a job."""
    cli.ok("add", "shapes", "manual")
    cases = {
        "lines.jsonl": '{"a": 1}\n{"foo": "bar"}\n',
        "array.json": json.dumps([{"id": "j1", "hyperparameters": {"x": 1}, "results": {}}, {"x": 1, "loss": 2}]),
        "no-results.jsonl": '{"hyperparameters": {"x": 1}, "status": "DONE"}\n',
        "no-hyperparameters.jsonl": '{"results": {"loss": 1}, "status": "DONE"}\n',
        "unfinished.jsonl": '{"status": "QUEUED"}\n',
    }
    for file, text in cases.items():
        (tmp_path / file).write_text(text)
        for dry in ([], ["--dry-run"]):
            done = cli("import", "shapes", str(tmp_path / file), *dry)
            number = 2 if file == "array.json" else 1
            assert (file, done.returncode, done.stdout, done.stderr) == (
                file,
                2,
                "",
                f"schedy: Job {number} of the file is not a job object with 'hyperparameters' and 'results'.\n",
            )
    with cli.db() as db:
        assert list(db.get_experiment("shapes").all_jobs()) == []
    # What `schedy export --format json` writes, as an array or one job a line, still reads.
    cli.ok("push", "shapes", "-p", "x", "1", "-r", "loss", "2", "-s", "DONE")
    cli.ok("push", "shapes", "-p", "x", "2")
    exported = json.loads(cli.ok("export", "shapes", "--format", "json"))
    (tmp_path / "export.jsonl").write_text("".join(json.dumps(job) + "\n" for job in exported))
    cli.ok("add", "shapes-again", "manual")
    assert cli.ok("import", "shapes-again", str(tmp_path / "export.jsonl")) == (
        "Added 1 DONE job to shapes-again (1 QUEUED row skipped).\n"
    )


def test_a_csv_cell_longer_than_csvs_own_limit_is_read_and_a_broken_quote_is_one_line(cli, tmp_path):
    # csv's default limit is 128 KiB a cell; a long string (a note, an error text) is a value like any other.
    long = "x" * 200_000
    path = tmp_path / "long.csv"
    path.write_text(f"hyperparameters.a,results.why,status\n1,{long},DONE\n")
    cli.ok("add", "long-cell", "manual")
    assert cli.ok("import", "long-cell", str(path)) == "Added 1 DONE job to long-cell.\n"
    with cli.db() as db:
        (job,) = db.get_experiment("long-cell").all_jobs()
    assert job.results == {"why": long}

    broken = tmp_path / "broken.csv"
    broken.write_text('hyperparameters.a,results.loss\n1,"0.5\n')  # a quote never closed: csv reads to the end
    refused = cli("import", "long-cell", str(broken))
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_a_choice_of_a_string_and_a_value_with_the_same_text_keeps_each_through_an_export_and_an_import(cli, tmp_path):
    """A choice of "3" and 3, "true" and True, None and "None": each job comes back with its own value and type.

    The import tried the declared values in order by their text first: True came back "true", 3 as "3" and
    the string "None" as None; a None result was dropped (an empty cell), and pandas read "None", "NA" and
    "True" as NaN and a boolean.
    """
    values = ["3", 3, "true", True, "True", None, "None", "NA", "+3", 2.5, "2.5"]
    space = {"v": Choice(values)}
    with cli.db() as db:
        db.add_experiment(schedy.RandomSearch("odd", space))
        db.add_experiment(schedy.RandomSearch("odd2", space))
        exp = db.get_experiment("odd")
        for i, value in enumerate(values):
            exp.add_job(hyperparameters={"v": value}, results={"loss": float(i), "echo": value}, status="DONE")
    out = tmp_path / "odd.csv"
    cli.ok("export", "odd", "-o", str(out))
    assert cli.ok("import", "odd2", str(out)) == f"Added {len(values)} DONE jobs to odd2.\n"
    with cli.db() as db:
        back = sorted((j.results["loss"], j.hyperparameters, j.results) for j in db.get_experiment("odd2").all_jobs())
    # json.dumps tells True from 1, 3 from 3.0 and "3": == would not.
    assert [json.dumps(row) for row in back] == [
        json.dumps((float(i), {"v": value}, {"loss": float(i), "echo": value})) for i, value in enumerate(values)
    ]

    pandas = pytest.importorskip("pandas")
    frame = pandas.read_csv(out)
    read = dict(zip(frame["results.loss"], frame["hyperparameters.v"], strict=True))
    # Every string is a string (in JSON quotes where it would read as another value), None alone is NaN.
    assert [read[float(i)] for i, value in enumerate(values) if isinstance(value, str)] == [
        '"3"',
        '"true"',
        '"True"',
        '"None"',
        '"NA"',
        '"+3"',
        '"2.5"',
    ]
    assert [float(i) for i in read if pandas.isna(read[i])] == [float(values.index(None))]


def _optuna_multi_objective(path) -> None:
    """Optuna's ``trials_dataframe()`` of a two-objective study: ``values_0``, ``values_1``, no ``value``."""
    path.write_text(
        "number,values_0,values_1,params_lr,params_act,params_bn,params_n,state\n"
        "0,0.5,0.7,0.01,relu,True,2,COMPLETE\n"
        "1,0.25,0.9,0.001,tanh,False,5,COMPLETE\n"
        "2,,,0.1,tanh,False,1,FAIL\n"
    )


def test_rows_without_the_result_a_tpe_search_ranks_by_are_refused_with_the_columns_that_may_hold_it(cli, tmp_path):
    """A multi-objective study's trials, or an export of another result, used to be added without the result.

    TPE ranks such DONE jobs worst and steers away from them: the warm start taught it the opposite.
    """
    from schedy.random import Integer, LogUniform

    space = {
        "lr": LogUniform(1e-4, 1),
        "act": Choice(["relu", "tanh"]),
        "bn": Choice([True, False]),
        "n": Integer(1, 8),
    }
    with cli.db() as db:
        db.add_experiment(schedy.TPESearch("mo", space, "min", "loss"))
    study = tmp_path / "mo.csv"
    _optuna_multi_objective(study)
    for args in ([], ["--result", "loss"], ["--dry-run"]):
        refused = cli("import", "mo", str(study), *args)
        assert (refused.returncode, refused.stdout) == (1, "")
        assert refused.stderr == (
            "schedy: None of the file's 2 DONE rows has 'loss', the result mo ranks jobs by: its search would rank "
            "them worst and steer away from their hyperparameters; --result loss=COLUMN reads it from a column of "
            "the file that may hold it (values_0, values_1); nothing was added.\n"
        )
    with cli.db() as db:
        assert list(db.get_experiment("mo").all_jobs()) == []
    missing = cli("import", "mo", str(study), "--result", "loss=values_2")
    assert (missing.returncode, missing.stderr) == (
        2,
        "schedy: The file has no column 'values_2' to read the result 'loss' from.\n",
    )
    # What the refusal says: the first objective is the search's loss.
    added = cli("import", "mo", str(study), "--result", "loss=values_0")
    assert (added.returncode, added.stdout, added.stderr) == (
        0,
        "Added 2 DONE jobs to mo (1 FAIL row skipped).\n",
        "schedy: not imported: the file's values_1.\n",
    )
    with cli.db() as db:
        jobs = sorted((j.results["loss"], j.hyperparameters, j.results) for j in db.get_experiment("mo").all_jobs())
    assert jobs == [
        (0.25, {"lr": 0.001, "act": "tanh", "bn": False, "n": 5}, {"loss": 0.25}),
        (0.5, {"lr": 0.01, "act": "relu", "bn": True, "n": 2}, {"loss": 0.5}),
    ]

    # An export of a search of loss, into a search of accuracy: refused, naming the export's result column.
    _exported(cli, "losses", 3, tmp_path / "losses.csv")
    cli.ok("export", "losses", "--format", "json", "-o", str(tmp_path / "losses.json"))
    cli.ok("add", "imp2", "tpe", "max", "accuracy", "x", "uniform", "-5", "5", "y", "uniform", "-5", "5")
    for file in ("losses.csv", "losses.json"):
        refused = cli("import", "imp2", str(tmp_path / file), "--dry-run")
        assert refused.returncode == 1
        assert refused.stderr.startswith("schedy: None of the file's 3 DONE rows has 'accuracy', the result imp2 ")
        assert refused.stderr.endswith("(results.loss); nothing was added.\n")
    # Some rows without it: added, with a warning that counts them.
    lines = [
        {"hyperparameters": {"x": 1.0, "y": 0.0}, "results": {"accuracy": 0.5}, "status": "DONE"},
        {"hyperparameters": {"x": 2.0, "y": 0.0}, "results": {"acc": 0.75}, "status": "DONE"},
        {"hyperparameters": {"x": 3.0, "y": 0.0}, "results": {"accuracy": 0.25}, "status": "DONE"},
    ]
    (tmp_path / "some.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    warned = cli("import", "imp2", str(tmp_path / "some.jsonl"))
    assert (warned.returncode, warned.stdout) == (0, "Added 3 DONE jobs to imp2.\n")
    assert warned.stderr == (
        "schedy: 1 of the file's 3 DONE rows has no 'accuracy', the result imp2 ranks jobs by: its search would "
        "rank it worst and steer away from its hyperparameters (added all the same); --result accuracy=COLUMN "
        "reads it from a column of the file that may hold it (results.acc).\n"
    )


def test_rows_without_an_early_stopping_policys_result_are_added_with_a_warning(cli, tmp_path):
    """A random search ranks nothing: its policy's result only names the best job. An Optuna value becomes it."""
    cli.ok("add", "stopped", "random", "x", "uniform", "-5", "5", "y", "uniform", "-5", "5",
           "--early-stopping", "median:loss:min")  # fmt: skip
    study = tmp_path / "study.csv"
    study.write_text("number,value,params_x,params_y,state\n0,0.5,1.0,2.0,COMPLETE\n")
    assert cli.ok("import", "stopped", str(study), "--dry-run") == "Would add 1 DONE job to stopped.\n"
    _exported(cli, "other", 2, tmp_path / "other.csv")
    text = (tmp_path / "other.csv").read_text()
    (tmp_path / "other.csv").write_text(text.replace("results.loss", "results.val_loss"))
    warned = cli("import", "stopped", str(tmp_path / "other.csv"))
    assert (warned.returncode, warned.stdout) == (0, "Added 2 DONE jobs to stopped.\n")
    assert warned.stderr == (
        "schedy: None of the file's 2 DONE rows has 'loss', the result stopped's early-stopping policy judges by: "
        "they cannot be its best job (added all the same); --result loss=COLUMN reads it from a column of the file "
        "that may hold it (results.val_loss).\n"
        "schedy: not imported: the file's created_at, updated_at, started_at, finished_at, attempt, end_reason; "
        "a job added gets its own times, worker and attempt.\n"
    )
    assert cli.ok("import", "stopped", str(study)) == "Added 1 DONE job to stopped.\n"
    with cli.db() as db:
        assert sorted(j.results.get("loss", -1) for j in db.get_experiment("stopped").all_jobs()) == [-1, -1, 0.5]
