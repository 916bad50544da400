"""``--early-stopping`` as the docs write it: partial JSON, and policies checked against the search before sending."""

from __future__ import annotations

import pytest

from schedy._experiments import experiment_from_wire
from schedy.stopping import ASHA, Hyperband, Median

_SPACE = ("x", "uniform", "0", "1")


def test_add_takes_the_partial_json_policies_the_docs_show_with_the_service_defaults(cli):
    median = '{"median": {"resultName": "loss", "objective": "min", "compare": "value"}}'
    cli.ok("add", "es2", "random", *_SPACE, "--early-stopping", median)
    cli.ok("add", "es3", "random", *_SPACE, "--early-stopping", '{"asha": {"resultName": "loss", "objective": "min"}}')
    hyperband = '{"hyperband": {"resultName": "acc", "objective": "max", "maxStep": 27}}'
    cli.ok("add", "es4", "manual", "--early-stopping", hyperband)
    with cli.db() as db:
        assert db.get_experiment("es2").early_stopping == Median(
            "loss", "min", warmup_steps=0, min_jobs=5, compare="value"
        )
        assert db.get_experiment("es3").early_stopping == ASHA("loss", "min", min_step=1, reduction_factor=3)
        assert db.get_experiment("es4").early_stopping == Hyperband("acc", "max", 1, 27)
    assert "early stopping: asha:loss:min:min_step=1,reduction_factor=3" in cli.ok("show", "es3")


def test_a_partial_policy_read_from_the_service_is_the_policy_with_its_defaults():
    exp = experiment_from_wire(
        {
            "name": "older",
            "status": "RUNNING",
            "scheduler": {"Manual": None},
            "earlyStopping": {"asha": {"resultName": "loss", "objective": "min"}},
        }
    )
    assert exp.early_stopping == ASHA("loss", "min")
    assert exp.declared_objective() == ("loss", "min")


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (
            '{"asha": {"objective": "min"}}',
            "JSON (the earlyStopping option): ASHA needs resultName, the name of the reported metric",
        ),
        ('{"median": {"resultName": "loss"}}', '(the earlyStopping option): Median needs objective, "min" or "max".'),
        ('{"hyperband": {"resultName": "loss", "objective": "min"}}', "Hyperband needs maxStep"),
        ('{"asha": {"resultName": "loss", "objective": "min", "minstep": 2}}', "Unknown ASHA option(s) 'minstep'"),
        ('{"sha": {"resultName": "loss", "objective": "min"}}', "Unknown early-stopping policy 'sha'"),
    ],
)
def test_add_names_what_is_missing_or_unknown_in_a_json_policy_before_sending(offline, policy, message):
    done = offline("add", "bad", "manual", "--early-stopping", policy)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("search", "policy", "message"),
    [
        (("tpe", "min", "loss", "lr", "loguniform", "1e-5", "0.1"), "asha:loss:max",
         "The asha policy would maximise 'loss', which this TPESearch minimises: use the same objective."),
        (("tpe", "max", "acc", *_SPACE), '{"median": {"resultName": "acc", "objective": "min"}}',
         "The median policy would minimise 'acc', which this TPESearch maximises: use the same objective."),
        (("pbt", "max", "acc"), "hyperband:acc:min:max_step=9",
         "The hyperband policy would minimise 'acc', which this PopulationBasedTraining maximises"),
    ],
)  # fmt: skip
def test_add_refuses_a_policy_against_the_search_objective_before_sending(offline, search, policy, message):
    # offline: no service listens, so exit 2 with the rule's sentence means nothing was sent.
    done = offline("add", "e2", *search, "--early-stopping", policy)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "HTTP" not in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_add_takes_a_policy_on_another_result_either_way(cli):
    cli.ok("add", "other", "tpe", "min", "loss", *_SPACE, "--early-stopping", "asha:acc:max")
    with cli.db() as db:
        assert db.get_experiment("other").early_stopping == ASHA("acc", "max")


def test_set_refuses_a_policy_against_the_search_objective_and_keeps_the_old_one(cli):
    cli.ok("add", "mnist-tpe", "tpe", "min", "val_loss", *_SPACE, "--early-stopping", "median:val_loss:min")
    done = cli("set", "mnist-tpe", "--early-stopping", "asha:val_loss:max", "--max-jobs", "7")
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "schedy: The asha policy would maximise 'val_loss', which this TPESearch minimises: use the same objective.\n"
    )
    with cli.db() as db:
        exp = db.get_experiment("mnist-tpe")
        assert (exp.early_stopping, exp.max_jobs) == (Median("val_loss", "min"), None)
    cli.ok("set", "mnist-tpe", "--early-stopping", "asha:val_loss:min")
    with cli.db() as db:
        assert db.get_experiment("mnist-tpe").early_stopping == ASHA("val_loss", "min")
