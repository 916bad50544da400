"""``schedy add``, ``show``, ``list``, ``push`` and ``rm`` against the real service."""

from __future__ import annotations

import math

import pytest

import schedy
from schedy import pbt
from schedy.random import Choice, Constant, LogUniform, Normal, Uniform
from schedy.stopping import ASHA


def _manual(cli, name, *jobs):
    """Set up, through the library, a manual search with these ``(hyperparameters, results)`` jobs DONE."""
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch(name))
        exp = db.get_experiment(name)
        return [exp.add_job(hyperparameters=hps, results=results, status="DONE").job_id for hps, results in jobs]


# ---------------------------------------------------------------------------- add


def test_add_random_search_with_every_distribution(cli):
    done = cli(
        "add", "search", "random",
        "lr", "loguniform", '{"low": 1e-5, "high": 0.1}',
        "momentum", "uniform", '{"low": 0, "high": 1}',
        "noise", "normal", '{"mean": 0, "std": 2}',
        "layers", "choice", '{"values": [1, 2, 3], "weights": [1, 1, 2]}',
        "optimizer", "const", '"adam"',
    )  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    with cli.db() as db:
        exp = db.get_experiment("search")
    assert isinstance(exp, schedy.RandomSearch)
    assert exp.status == "RUNNING"
    assert exp.distributions == {
        "lr": LogUniform(1e-5, 0.1),
        "momentum": Uniform(0, 1),
        "noise": Normal(0, 2),
        "layers": Choice([1, 2, 3], [1, 1, 2]),
        "optimizer": Constant("adam"),
    }


def test_add_quasi_random_search_then_its_jobs_cover_the_axis(cli):
    cli.ok("add", "sobol", "random", "--sampler", "sobol", "x", "uniform", '{"low": 0, "high": 1}', "--max-jobs", "8")
    assert "sampler: sobol" in cli.ok("show", "sobol")
    with cli.db() as db:
        exp = db.get_experiment("sobol")
        assert isinstance(exp, schedy.RandomSearch)
        assert exp.sampler == "sobol"
        xs = []
        for job in exp.jobs():
            with job:
                xs.append(job.hyperparameters["x"])
    assert sorted(int(x * 8) for x in xs) == list(range(8))


def test_add_takes_the_seed_retries_and_run_time_options(cli):
    cli.ok("add", "opts", "--seed", "3", "tpe", "min", "loss", "x", "uniform", '{"low": 0, "high": 1}',
           "--max-retries", "2", "--max-run-time", "3600")  # fmt: skip
    shown = cli.ok("show", "opts")
    assert {"seed: 3", "max retries: 2", "max run time: 3600"} <= set(shown.splitlines())
    with cli.db() as db:
        exp = db.get_experiment("opts")
    assert (exp.seed, exp.max_retries, exp.max_run_time) == (3, 2, 3600)
    refused = cli("add", "bad", "grid", "a", "[1, 2]", "--max-retries", "-1")
    assert refused.returncode == 2
    assert "argument --max-retries: must not be negative, got -1" in refused.stderr


def test_add_tpe_then_a_worker_gets_jobs_of_its_space(cli):
    done = cli(
        "add", "tpe-search", "--max-jobs", "12", "tpe", "max", "accuracy",
        "lr", "loguniform", '{"low": 1e-5, "high": 0.1}',
        "layers", "integer", '{"low": 1, "high": 4}',
        "--startup-jobs", "3", "--startup", "halton",
    )  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    with cli.db() as db:
        exp = db.get_experiment("tpe-search")
        assert isinstance(exp, schedy.TPESearch)
        assert (exp.params.objective, exp.params.result_name) == ("max", "accuracy")
        assert (exp.params.n_startup_jobs, exp.params.startup) == (3, "halton")
        assert exp.max_jobs == 12
        seen = []
        for job in exp.jobs():
            with job:
                hps = job.hyperparameters
                seen.append(hps)
                job.results["accuracy"] = -abs(math.log10(hps["lr"]) + 3) - abs(hps["layers"] - 2)
    assert len(seen) == 12  # the budget, then the loop ended
    assert all(1e-5 <= h["lr"] <= 0.1 and h["layers"] in (1, 2, 3, 4) for h in seen)


def test_add_grid_then_every_cell_exactly_once(cli):
    cli.ok("add", "ablation", "grid", "lr", "[0.1, 0.01]", "layers", '{"integer": {"low": 1, "high": 3}}')
    with cli.db() as db:
        exp = db.get_experiment("ablation")
        assert isinstance(exp, schedy.GridSearch)
        cells = []
        for job in exp.jobs():
            with job:
                cells.append((job.hyperparameters["lr"], job.hyperparameters["layers"]))
                job.results["loss"] = 1.0
    assert sorted(cells) == sorted((lr, n) for lr in (0.1, 0.01) for n in (1, 2, 3))


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["tpe", "best", "acc", "x", "uniform", '{"low": 0, "high": 1}'], "invalid choice: 'best'"),
        (["tpe", "max", "acc", "x", "uniform"], "Give each hyperparameter as HP DIST PARAMETERS"),
        (["tpe", "max", "acc", "x", "integer", '{"low": 0.5, "high": 3}'], "Distribution 'integer' low"),
        (["grid", "lr"], "Give the grid as HP VALUES pairs"),
        (["grid", "lr", "[]"], "needs at least one value"),
        (["grid", "lr", '{"uniform": {"low": 0, "high": 1}}'], "is continuous"),
    ],
)
def test_add_tpe_and_grid_refuse_bad_definitions_in_one_line(offline, words, message):
    done = offline("add", "bad", *words)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.splitlines()) == 1 or "invalid choice" in done.stderr


def test_add_manual_with_status_before_or_after_the_name(cli):
    cli.ok("add", "-s", "DONE", "first", "manual")
    cli.ok("add", "second", "--status", "DONE", "manual")
    cli.ok("add", "third", "manual")
    with cli.db() as db:
        found = {exp.name: (type(exp), exp.status) for exp in db.get_experiments()}
    assert found == {
        "first": (schedy.ManualSearch, "DONE"),
        "second": (schedy.ManualSearch, "DONE"),
        "third": (schedy.ManualSearch, "RUNNING"),
    }


def test_add_takes_short_forms_of_the_distributions(cli):
    """What users type first: two numbers for an interval, a JSON list for a choice; the same search as the JSON."""
    cli.ok(
        "add", "short", "tpe", "min", "loss",
        "lr", "loguniform", "1e-5", ".1",
        "batch", "integer", "16", "256",
        "shift", "normal", "-1", "0.5",
        "act", "choice", '["relu", "tanh"]',
        "dropout", "uniform", "[0, 0.5]",
        "depth", "const", "3",
    )  # fmt: skip
    cli.ok(
        "add", "population", "pbt", "max", "accuracy",
        "--init", "lr", "loguniform", "1e-4", "0.1", "--init", "width", "choice", "[64, 128]",
        "--explore", "lr", "--population", "4",
    )  # fmt: skip
    with cli.db() as db:
        exp = db.get_experiment("short")
        population = db.get_experiment("population")
        assert isinstance(exp, schedy.TPESearch)
        assert exp.distributions == {
            "lr": LogUniform(1e-5, 0.1),
            "batch": schedy.random.Integer(16, 256),
            "shift": schedy.random.Normal(-1, 0.5),
            "act": Choice(["relu", "tanh"]),
            "dropout": schedy.random.Uniform(0, 0.5),
            "depth": schedy.random.Constant(3),
        }
        with exp.next_job() as job:
            assert 16 <= job.hyperparameters["batch"] <= 256
            assert isinstance(job.hyperparameters["batch"], int)
            job.results["loss"] = 1.0
    assert isinstance(population, schedy.PopulationBasedTraining)
    assert population.initial_distributions == {"lr": LogUniform(1e-4, 0.1), "width": Choice([64, 128])}


def test_add_pbt_with_every_option(cli):
    cli.ok(
        "add", "population", "pbt", "max", "accuracy", "--truncate", "0.25",
        "--init", "lr", "loguniform", '{"low": 1e-4, "high": 0.1}',
        "--init", "width", "choice", '{"values": [64, 128, 256]}',
        "--explore", "lr", "--perturb", "width", "0.5", "2",
        "--population", "8", "--max-generations", "5",
    )  # fmt: skip
    with cli.db() as db:
        exp = db.get_experiment("population")
    assert isinstance(exp, schedy.PopulationBasedTraining)
    assert (exp.objective, exp.result_name, exp.exploit) == (pbt.MAXIMIZE, "accuracy", pbt.Truncate(0.25))
    assert exp.explore == {"lr": pbt.Perturb(), "width": pbt.Perturb(0.5, 2.0)}
    assert exp.initial_distributions == {"lr": LogUniform(1e-4, 0.1), "width": Choice([64, 128, 256])}
    assert (exp.population_size, exp.max_generations) == (8, 5)


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["x", "uniform"], "Give each hyperparameter as HP DIST PARAMETERS, e.g. lr loguniform 1e-5 0.1; 'x uniform'"),
        (["x", "uniform", "0"], "Hyperparameter 'x': uniform takes 2 numbers (low, high)."),
        (["x", "normal", "0", "wide"], "Hyperparameter 'x': std must be a number, got 'wide'."),
        (["x", "loguniform", "[1e-5]"], "Hyperparameter 'x': loguniform takes 2 numbers (low, high), got 1"),
        (["act", "choice", "relu", "tanh"], """give the values of a choice as one JSON list, e.g. act choice"""),
        (["x", "uniform", "1", "0"], "Distribution 'uniform' needs low < high, got low=1, high=0."),
        (["x", "uniform", "{low: 0}"], "The value of the uniform distribution of 'x' is not valid JSON"),
        (
            ["x", "gaussian", "{}"],
            "unknown distribution 'gaussian'; use one of choice, const, integer, loguniform, normal, uniform.",
        ),
        (["x", "uniform", '{"low": 1, "high": 0}'], "Distribution 'uniform' needs low < high, got low=1, high=0."),
        (["x", "const", "1", "x", "const", "2"], "The hyperparameter 'x' is given twice."),
    ],
)
def test_add_random_refuses_bad_hyperparameters_in_one_line(offline, words, message):
    done = offline("add", "bad", "random", *words)
    assert done.returncode == 2
    assert done.stderr.startswith("schedy: ")
    assert message in done.stderr
    assert len(done.stderr.splitlines()) == 1  # and before any request: the service is not there


def test_add_pbt_refuses_an_invalid_definition(offline):
    done = offline("add", "bad", "pbt", "max", "accuracy", "--truncate", "0.9")
    assert done.returncode == 2
    assert done.stderr == "schedy: argument --truncate: must be above 0 and at most 0.5, got 0.9.\n"  # the option typed


def test_add_exist_ok_succeeds_for_the_same_definition_and_says_where_another_differs(cli):
    """What each node of a cluster runs before its workers: the first creates, the others find it."""
    words = ["tpe", "min", "loss", "lr", "loguniform", "1e-5", "0.1", "--max-jobs", "10"]
    cli.ok("add", "shared", *words, "--exist-ok")
    cli.ok("add", "--exist-ok", "shared", *words)  # before or after the scheduler's words
    with cli.db() as db:
        assert [e.name for e in db.get_experiments()] == ["shared"]
    changed = cli("add", "shared", *words[:-1], "20", "--exist-ok")
    assert changed.returncode == 1
    assert changed.stderr == (
        "schedy: An experiment named 'shared' already exists, defined otherwise: its option maxJobs is 10 there, "
        "20 here. Keep it as it is, change its options with 'schedy set', remove it first ('schedy rm'), or "
        "choose another name.\n"
    )
    without = cli("add", "shared", *words)
    assert without.stderr == (
        "schedy: An experiment named 'shared' already exists: add --exist-ok to use it if it is defined the same, "
        "or choose another name.\n"
    )


def test_add_refuses_an_existing_name(cli):
    _manual(cli, "taken")
    done = cli("add", "taken", "manual")
    assert done.returncode == 1
    assert done.stderr == (
        "schedy: An experiment named 'taken' already exists: add --exist-ok to use it if it is defined the same, "
        "or choose another name.\n"
    )


# ---------------------------------------------------------------------------- push


def test_push_parses_values_as_json_and_prints_the_job(cli):
    _manual(cli, "manual")
    out = cli.ok(
        "push", "manual", "-p", "lr", "0.01", "layers", "[64, 64]", "act", '"relu"', "bn", "true",
        "-r", "loss", "NaN", "note", "null", "-s", "DONE",
    )  # fmt: skip
    fields = dict(line.split(": ", 1) for line in out.splitlines())
    assert fields["status"] == "DONE"
    assert (fields["lr"], fields["layers"], fields["act"], fields["bn"]) == ("0.01", "[64, 64]", "relu", "true")
    assert (fields["loss"], fields["note"]) == ("NaN", "null")
    with cli.db() as db:
        job = db.get_experiment("manual").get_job(fields["id"])
    assert job.hyperparameters == {"lr": 0.01, "layers": [64, 64], "act": "relu", "bn": True}
    assert math.isnan(job.results["loss"])
    assert job.results["note"] is None
    # Without -s, the job is QUEUED: the next worker gets it.
    assert "status: QUEUED" in cli.ok("push", "manual", "-p", "x", "1").splitlines()
    # -p and -r repeated, as one writes options elsewhere, add up (the last one used to win alone).
    out = cli.ok("push", "manual", "-p", "lr", "0.1", "-p", "layers", "3", "-r", "loss", "0.5", "-r", "acc", "0.9")
    pushed = dict(line.split(": ", 1) for line in out.splitlines())
    with cli.db() as db:
        job = db.get_experiment("manual").get_job(pushed["id"])
    assert (job.hyperparameters, job.results) == ({"lr": 0.1, "layers": 3}, {"loss": 0.5, "acc": 0.9})
    twice = cli("push", "manual", "-p", "lr", "0.1", "-p", "lr", "0.2")
    assert (twice.returncode, twice.stderr.strip()) == (2, "schedy: The hyperparameter 'lr' is given twice.")


def test_negative_numbers_in_every_json_spelling_are_values_not_options(cli):
    """argparse took ``-1e-3`` or ``-Infinity`` for an unknown option ("unrecognized arguments"); ``-1`` worked."""
    _manual(cli, "negative")
    out = cli.ok(
        "push", "negative", "-p", "x", "-1.5e-3", "z", "-2E+2", "w", "-1",
        "-r", "loss", "-1e-3", "worst", "-Infinity", "-s", "DONE",
    )  # fmt: skip
    fields = dict(line.split(": ", 1) for line in out.splitlines())
    with cli.db() as db:
        job = db.get_experiment("negative").get_job(fields["id"])
    assert (job.status, job.hyperparameters, job.results) == (
        "DONE",
        {"x": -0.0015, "z": -200.0, "w": -1},
        {"loss": -0.001, "worst": -math.inf},
    )
    # The distributions of `add` too, and an option after them still is one.
    cli.ok("add", "below-zero", "random", "x", "uniform", "-1e-3", "1e-3", "y", "normal", "-2.5e1", "1", "-s", "DONE")
    with cli.db() as db:
        exp = db.get_experiment("below-zero")
    assert (exp.status, exp.distributions) == ("DONE", {"x": Uniform(-1e-3, 1e-3), "y": Normal(-25.0, 1.0)})
    # A mistyped option is no number: still refused.
    refused = cli("push", "negative", "-p", "x", "1", "-q", "DONE")
    assert (refused.returncode, "unrecognized arguments: -q" in refused.stderr) == (2, True)


def test_push_to_a_done_experiment_warns_that_no_worker_gets_the_job_until_it_runs_again(cli):
    """A spent budget ends the search: the pushed job waited QUEUED, `run --once` said "no job left", no hint."""
    cli.ok("add", "bud", "random", "x", "uniform", "0", "1", "--max-jobs", "1")
    with cli.db() as db:
        for job in db.get_experiment("bud").jobs():
            with job:
                job.results["loss"] = job.hyperparameters["x"]
    assert cli.ok("status", "bud").strip() == "DONE"
    pushed = cli("push", "bud", "-p", "x", "0.5")
    assert pushed.returncode == 0, pushed.stderr  # the job was added
    assert "status: QUEUED" in pushed.stdout.splitlines()
    assert pushed.stderr == (
        "schedy: 'bud' is DONE: no worker will be handed this job until 'schedy status bud RUNNING'.\n"
    )
    # A finished run recorded by hand is handed to nobody anyway: no warning.
    done = cli("push", "bud", "-p", "x", "0.25", "-r", "loss", "0.25", "-s", "DONE")
    assert (done.returncode, done.stderr) == (0, "")
    # What the warning says works: the queued job is handed out, and nothing more.
    cli.ok("status", "bud", "RUNNING")
    handed = []
    with cli.db() as db:
        for job in db.get_experiment("bud").jobs():
            with job:
                handed.append(job.hyperparameters["x"])
    assert handed == [0.5]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "lr"], "Give hyperparameters as NAME VALUE pairs; got 1 word (lr), so 'lr' has no value."),
        (["-p", "lr", "0.1", "-r", "loss"], "Give results as NAME VALUE pairs"),
        (
            ["-p", "act", "relu"],
            """The value of hyperparameter 'act' is not valid JSON (quote strings twice: '"relu"')""",
        ),
        (["-p", "x", "1", "x", "2"], "The hyperparameter 'x' is given twice."),
    ],
)
def test_push_refuses_bad_pairs_in_one_line(offline, args, message):
    done = offline("push", "manual", *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.splitlines()) == 1  # and before any request: the service is not there


# ---------------------------------------------------------------------------- show


def test_show_an_experiment_with_its_distributions_and_job_counts(cli):
    with cli.db() as db:
        db.add_experiment(schedy.RandomSearch("exp", {"lr": LogUniform(1e-5, 0.1)}))
        exp = db.get_experiment("exp")
        exp.add_job(hyperparameters={"lr": 0.01}, status="DONE")
        exp.add_job(hyperparameters={"lr": 0.02})
    lines = cli.ok("show", "exp").splitlines()
    assert lines[:4] == ["name: exp", "status: RUNNING", "scheduler: RandomSearch",
                         'lr: loguniform ({"low": 1e-05, "high": 0.1})']  # fmt: skip
    assert "jobs: 1 QUEUED, 1 DONE" in lines
    assert any(line.startswith("created: ") for line in lines)


def test_show_an_experiment_with_an_objective_names_its_best_job_and_hyperparameters(cli):
    space = {"lr": LogUniform(1e-5, 0.1), "act": Choice(["relu", "tanh"])}
    with cli.db() as db:
        tpe = db.add_experiment(schedy.TPESearch("tpe", space, schedy.MINIMIZE, "loss"))
        for lr, loss in ((0.01, 0.5), (0.001234567891, 0.125), (0.02, math.nan)):
            tpe.add_job(hyperparameters={"lr": lr, "act": "tanh"}, results={"loss": loss}, status="DONE")
        tpe.add_job(hyperparameters={"lr": 0.03, "act": "relu"}, results={"loss": 0.01}, status="PRUNED")
        best = next(j for j in tpe.all_jobs() if j.results["loss"] == 0.125).job_id
        misnamed = db.add_experiment(schedy.TPESearch("misnamed", space, schedy.MINIMIZE, "loss"))
        for lr in (0.01, 0.02):
            misnamed.add_job(hyperparameters={"lr": lr, "act": "relu"}, results={"val_loss": lr}, status="DONE")
        # An early-stopping policy judges reports: final results named otherwise are no slip.
        stopped = db.add_experiment(schedy.RandomSearch("stopped", space, early_stopping=ASHA("val_loss", "min")))
        stopped.add_job(hyperparameters={"lr": 0.01, "act": "relu"}, results={"test_acc": 0.9}, status="DONE")
        db.add_experiment(schedy.TPESearch("fresh", space, schedy.MINIMIZE, "loss"))
    lines = cli.ok("show", "tpe").splitlines()
    at = lines.index("jobs: 3 DONE, 1 PRUNED")  # a PRUNED job's partial result never wins, nor NaN
    assert lines[at + 1 : at + 3] == [
        f"best: loss 0.125 (job {best})",
        "best hyperparameters: lr=0.001234567891, act=tanh",  # every digit: ready to be copied
    ]
    assert "best: no loss in 2 done jobs" in cli.ok("show", "misnamed").splitlines()
    assert "best" not in cli.ok("show", "stopped")
    assert "best" not in cli.ok("show", "fresh")


def test_show_a_job_with_what_the_service_recorded(cli):
    (job_id,) = _manual(cli, "exp", ({"lr": 0.01}, {"loss": 0.25}))
    lines = cli.ok("show", "exp", job_id).splitlines()
    assert lines[:4] == [f"id: {job_id}", "status: DONE", "lr: 0.01", "loss: 0.25"]
    assert any(line.startswith("created_at: ") for line in lines)
    assert any(line.startswith("finished_at: ") for line in lines)
    missing = cli("show", "exp", "nope")
    assert missing.returncode == 1
    assert missing.stderr.startswith("schedy: ")
    assert "HTTP error" not in missing.stderr  # the service's sentence, not the route it answered
    assert len(missing.stderr.splitlines()) == 1


# ---------------------------------------------------------------------------- list


@pytest.fixture
def scored(cli):
    """An experiment whose jobs have numeric, missing and NaN losses; returns the ids in push order."""
    return _manual(
        cli,
        "scored",
        ({"lr": 0.1}, {"loss": 10}),  # 10 > 9: numeric order, not text order
        ({"lr": 0.2}, {}),
        ({"lr": 0.3}, {"loss": 9}),
        ({"lr": 0.4}, {"loss": math.nan}),
        ({"lr": 0.5}, {"loss": 0.5}),
    )


def test_list_experiments_plain_is_the_original_format(cli):
    assert cli.ok("list") == ""  # nothing at all: not even a blank line
    cli.ok("add", "b-random", "random", "x", "uniform", '{"low": 0, "high": 1}')
    cli.ok("add", "-s", "DONE", "a-manual", "manual")
    lines = cli.ok("list").splitlines()
    assert [line.split() for line in lines] == [["b-random", "RUNNING", "RandomSearch"], ["a-manual", "DONE", "Manual"]]


def test_list_jobs_in_every_layout(cli, scored):
    plain = cli.ok("list", "scored").splitlines()
    assert [line.split() for line in plain] == [[job_id, "DONE"] for job_id in scored]  # oldest first
    lines = cli.ok("list", "scored", "-t").splitlines()
    assert [cell.strip() for cell in lines[1].strip("|").split("|")] == ["id", "status", "lr", "loss"]
    first = [cell.strip() for cell in lines[3].strip("|").split("|")]
    assert first == [scored[0], "DONE", "0.1", "10"]
    assert [lines[0][:2], lines[2][:2], lines[-1][:2]] == ["+-", "|-", "+-"]
    blocks = cli.ok("list", "scored", "-p").strip().split("\n\n")
    assert blocks[0].splitlines() == [f"id: {scored[0]}", "status: DONE", "lr: 0.1", "loss: 10"]
    assert blocks[1].splitlines() == [f"id: {scored[1]}", "status: DONE", "lr: 0.2"]
    chosen = cli.ok("list", "scored", "-f", "loss", "-f", "id").splitlines()
    assert chosen[0].split() == ["10", scored[0]]
    assert chosen[1].split() == [scored[1]]  # a missing value is blank


def _ids(table_output):
    return [line.strip("|").split("|")[0].strip() for line in table_output.splitlines()[3:-1]]


def test_list_sorts_numbers_by_value_with_missing_and_nan_last(cli, scored):
    ascending = _ids(cli.ok("list", "scored", "-t", "-s", "loss"))
    assert ascending == [scored[4], scored[2], scored[0], scored[1], scored[3]]
    descending = _ids(cli.ok("list", "scored", "-t", "-s", "loss", "-d"))
    assert descending == [scored[0], scored[2], scored[4], scored[1], scored[3]]
    unknown = cli("list", "scored", "-s", "accuracy")
    assert unknown.returncode == 2
    assert unknown.stderr == "schedy: There is no field 'accuracy'; the fields are: id, status, lr, loss.\n"


def test_list_sorts_by_several_fields_and_sorts_an_empty_list(cli):
    pushed = _manual(cli, "ties", ({"a": 1, "b": 2}, {}), ({"a": 0, "b": 5}, {}), ({"a": 1, "b": 1}, {}))
    assert _ids(cli.ok("list", "ties", "-t", "-s", "a", "-s", "b")) == [pushed[1], pushed[2], pushed[0]]
    _manual(cli, "empty")  # no job has a loss yet: sorting by it is no error
    assert _ids(cli.ok("list", "empty", "-t", "-s", "loss")) == []


def test_list_names_a_field_in_two_categories_by_its_long_name(cli):
    _manual(cli, "clash", ({"x": 1}, {"x": 2}))
    lines = cli.ok("list", "clash", "-t").splitlines()
    assert [cell.strip() for cell in lines[1].strip("|").split("|")] == ["id", "status", "hyperparameter.x", "result.x"]
    ambiguous = cli("list", "clash", "-s", "x")
    assert ambiguous.returncode == 2
    assert "Field 'x' is ambiguous: use hyperparameter.x or result.x." in ambiguous.stderr
    assert cli.ok("list", "clash", "-f", "result.x").split() == ["2"]


# ---------------------------------------------------------------------------- rm


def test_rm_force_removes_a_job_then_the_experiment(cli):
    (job_id,) = _manual(cli, "exp", ({"x": 1}, {}))
    assert cli.ok("rm", "-f", "exp", job_id) == ""
    assert cli.ok("list", "exp") == ""
    assert cli.ok("rm", "exp", "-f") == ""
    assert cli.ok("list") == ""


def test_rm_asks_and_keeps_the_experiment_unless_yes(cli):
    _manual(cli, "exp")
    kept = cli("rm", "exp", stdin="n\n")
    assert kept.returncode == 1  # declined: a script must not go on as if it were removed
    assert "name: exp" in kept.stdout
    assert "Are you sure you want to remove exp and all its jobs? [y/N]" in kept.stdout
    assert kept.stderr == "schedy: exp was not removed.\n"
    no_answer = cli("rm", "exp", stdin="")
    assert no_answer.returncode == 1
    assert "exp was not removed." in no_answer.stderr
    assert cli.ok("list").split() == ["exp", "RUNNING", "Manual"]
    cli.ok("rm", "exp", stdin="y\n")
    assert cli.ok("list") == ""


def test_rm_asks_before_removing_a_job(cli):
    (job_id,) = _manual(cli, "exp", ({"x": 1}, {}))
    kept = cli("rm", "exp", job_id, stdin="\n")
    assert kept.returncode == 1
    assert f"{job_id} was not removed." in kept.stderr
    cli.ok("rm", "exp", job_id, stdin="yes\n")
    assert cli.ok("list", "exp") == ""
    done = cli("rm", "-f", "ghost")
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1
    assert "Experiment 'ghost' does not exist." in done.stderr
