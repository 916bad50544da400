"""TPE with early stopping through a real service: the policy must rank the search's result the same way."""

from __future__ import annotations

import pytest

import schedy
from schedy import errors
from schedy.random import Uniform
from schedy.stopping import ASHA, Median

SPACE = {"x": Uniform(0, 1)}


def test_a_policy_ranking_the_tpe_objective_the_other_way_is_refused_at_creation(service):
    db = schedy.SchedyDB(config_override=service.client_config)
    exp = schedy.TPESearch("tpe-stop", SPACE, schedy.MINIMIZE, "loss", early_stopping=ASHA("loss", "max"))
    with pytest.raises(errors.ClientRequestError, match="would maximise 'loss', which this TPESearch minimises"):
        db.add_experiment(exp)
    with pytest.raises(errors.ClientRequestError, match="does not exist"):
        db.get_experiment("tpe-stop")
    exp.early_stopping = ASHA("loss", "min")
    db.add_experiment(exp)
    assert db.get_experiment("tpe-stop").early_stopping == ASHA("loss", "min")
    # Another result may be watched either way.
    other = schedy.TPESearch("tpe-other", SPACE, schedy.MINIMIZE, "loss", early_stopping=Median("acc", "max"))
    db.add_experiment(other)
    assert db.get_experiment("tpe-other").early_stopping == Median("acc", "max")
