"""``schedy set``: change an existing experiment's options, against the real service."""

from __future__ import annotations


def _run_all(db, name: str) -> int:
    exp = db.get_experiment(name)
    done = 0
    for job in exp.jobs():
        with job:
            job.results["loss"] = job.hyperparameters["x"]
            done += 1
    return done


def test_set_extends_a_spent_budget_and_the_search_goes_on(cli):
    cli.ok("add", "budget", "random", "x", "uniform", '{"low": 0, "high": 1}', "--max-jobs", "3", "--seed", "4")
    with cli.db() as db:
        assert _run_all(db, "budget") == 3
    raised = cli("set", "budget", "--max-jobs", "5")
    assert raised.returncode == 0, raised.stderr
    assert "Experiment 'budget': max jobs 3 → 5." in raised.stderr
    assert "'schedy status budget RUNNING' goes on with the search" in raised.stderr  # spent budget: DONE
    assert {"max jobs: 5", "jobs made: 3"} <= set(cli.ok("show", "budget").splitlines())
    cli.ok("status", "budget", "RUNNING")
    with cli.db() as db:
        assert _run_all(db, "budget") == 2  # the 3 created count against the new budget of 5
        exp = db.get_experiment("budget")
        assert (exp.max_jobs, exp.seed, exp.status) == (5, 4, "DONE")  # the seed was kept


def test_set_changes_and_unsets_options_and_keeps_the_others(cli):
    cli.ok("add", "opts", "tpe", "min", "loss", "x", "uniform", '{"low": 0, "high": 1}',
           "--seed", "3", "--max-retries", "2", "--max-run-time", "60", "--max-jobs", "10")  # fmt: skip
    done = cli("set", "opts", "--seed", "none", "--max-retries", "0", "--early-stopping", "asha:loss:min:min_step=2")
    assert done.returncode == 0, done.stderr
    assert "Experiment 'opts': seed 3 → none." in done.stderr
    assert "Experiment 'opts': max retries 2 → 0." in done.stderr
    assert "early stopping none → asha:loss:min:min_step=2,reduction_factor=3." in done.stderr  # as given
    with cli.db() as db:
        exp = db.get_experiment("opts")
        assert (exp.seed, exp.max_retries, exp.max_run_time, exp.max_jobs) == (None, 0, 60, 10)
        assert exp.early_stopping.min_step == 2
        assert "seed" not in exp.extra  # unset on the service, not stored as null
    again = cli("set", "opts", "--early-stopping", "none", "--max-run-time", "none", "--max-jobs", "10")
    assert "max jobs already 10." in again.stderr
    with cli.db() as db:
        exp = db.get_experiment("opts")
        assert (exp.early_stopping, exp.max_run_time, exp.max_jobs) == (None, None, 10)
    assert "max run time" not in cli.ok("show", "opts")


def test_set_refuses_bad_values_in_one_line_and_changes_nothing(cli):
    cli.ok("add", "tpe", "tpe", "max", "acc", "x", "uniform", '{"low": 0, "high": 1}', "--max-jobs", "7")
    cases = [
        (["--max-jobs", "0"], "argument --max-jobs: must be a positive integer or none, got 0", 2),
        (["--seed", "-1"], "argument --seed: must be a non-negative integer or none, got -1", 2),
        (["--max-run-time", "soon"], "argument --max-run-time: must be a number of seconds or none, got 'soon'", 2),
        (["--early-stopping", "asha:acc"], "--early-stopping 'asha:acc': use NAME:RESULT:OBJECTIVE", 2),
        (
            ["--max-jobs", "3", "--early-stopping", "median:acc:min"],
            "which this TPESearch maximises: use the same objective.",
            2,
        ),
        ([], "Name at least one option to change", 2),
    ]
    for words, message, code in cases:
        done = cli("set", "tpe", *words)
        assert done.returncode == code, (words, done.stderr)
        assert message in done.stderr, (words, done.stderr)
    with cli.db() as db:
        exp = db.get_experiment("tpe")
        assert (exp.max_jobs, exp.early_stopping) == (7, None)
    missing = cli("set", "nope", "--max-jobs", "3")
    assert missing.returncode == 1
    assert "nope" in missing.stderr


def test_set_refuses_a_bad_policy_before_any_request(offline):
    done = offline("set", "exp", "--early-stopping", "asha:loss:sideways")
    assert done.returncode == 2
    assert """ASHA needs objective "min" or "max", not 'sideways'.""" in done.stderr
    assert "127.0.0.1:9" not in done.stderr  # no request was tried
