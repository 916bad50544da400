"""What the 2018 client is shown of a search, and which of its writes only echo it (pure, no database)."""

from __future__ import annotations

import pytest

from schedy.server.legacy import is_legacy, keeps_stored, legacy_scheduler

UNIFORM = {"x": {"uniform": {"low": 0, "high": 1, "step": 0.5}}}


@pytest.mark.parametrize(
    ("name", "params", "readable"),
    [
        ("Manual", None, True),
        ("RandomSearch", UNIFORM, True),
        ("RandomSearch", {"c": {"const": [1, 2]}}, True),
        ("RandomSearch", {"n": {"integer": {"low": 1, "high": 3}}}, False),
        ("RandomSearch", {"distributions": UNIFORM, "sampler": "sobol"}, False),
        ("PBT", {"objective": "min", "qualityResultName": "l", "exploit": {"truncate": 0.2}, "init": UNIFORM}, True),
        (
            "PBT",
            {
                "objective": "min",
                "qualityResultName": "l",
                "exploit": {"truncate": 0.2},
                "explore": {"x": {"resample": {}}},
            },
            False,
        ),
        ("GridSearch", {"x": [1, 2]}, False),
        ("TPESearch", {"distributions": UNIFORM, "objective": "min", "resultName": "l"}, False),
    ],
)
def test_a_search_the_old_client_cannot_parse_is_shown_as_manual(name, params, readable) -> None:
    assert legacy_scheduler(name, params) == ({name: params} if readable else {"Manual": None})


def test_only_an_echo_with_keys_left_out_keeps_the_stored_search() -> None:
    echo = {"RandomSearch": {"x": {"uniform": {"low": 0.0, "high": 1.0}}}}
    assert keeps_stored(echo, "RandomSearch", UNIFORM)
    assert not keeps_stored({"RandomSearch": {"x": {"uniform": {"low": 0, "high": 2}}}}, "RandomSearch", UNIFORM)
    assert not keeps_stored({"RandomSearch": {"y": {"uniform": {"low": 0, "high": 1}}}}, "RandomSearch", UNIFORM)
    assert keeps_stored({"Manual": None}, "RandomSearch", UNIFORM)  # its Manual never replaces a search
    choice = {"c": {"choice": {"values": [1, 2]}}}
    assert not keeps_stored({"RandomSearch": {"c": {"choice": {"values": [True, 2]}}}}, "RandomSearch", choice)
    assert not keeps_stored({"RandomSearch": {"c": {"choice": {"values": [1]}}}}, "RandomSearch", choice)
    assert keeps_stored({"Manual": None}, "GridSearch", {"x": [1]})


def test_the_old_client_is_told_apart_by_its_user_agent() -> None:
    assert is_legacy("python-requests/2.31.0")
    assert not is_legacy("schedy-python")
    assert not is_legacy("curl/8.0")
    assert not is_legacy(None)


def test_a_hyperparameter_removed_or_added_is_a_real_change() -> None:
    two = {"x": {"uniform": {"low": 0, "high": 1}}, "y": {"uniform": {"low": 0, "high": 1}}}
    assert keeps_stored({"RandomSearch": two}, "RandomSearch", two)
    assert not keeps_stored({"RandomSearch": {"x": two["x"]}}, "RandomSearch", two)
    assert not keeps_stored({"RandomSearch": {**two, "z": two["x"]}}, "RandomSearch", two)


def test_the_pbt_echo_leaves_out_only_what_the_old_client_cannot_keep() -> None:
    stored = {
        "objective": "min",
        "qualityResultName": "loss",
        "exploit": {"truncate": 0.2},
        "init": {"lr": {"loguniform": {"low": 1e-4, "high": 0.1}}},
        "explore": {"lr": {"perturb": {"minFactor": 0.8, "maxFactor": 1.2, "resampleProbability": 0.25}}},
        "numParallel": 4,
        "maxGenerations": 3,
    }
    echo = {
        "objective": "min",
        "qualityResultName": "loss",
        "exploit": {"truncate": 0.2},
        "init": {"lr": {"loguniform": {"low": 1e-4, "high": 0.1}}},
        "explore": {"lr": {"perturb": {"minFactor": 0.8, "maxFactor": 1.2}}},
        "numParallel": 4,
    }
    assert keeps_stored({"PBT": echo}, "PBT", stored)
    assert not keeps_stored({"PBT": {**echo, "numParallel": 8}}, "PBT", stored)
    assert not keeps_stored({"PBT": {key: value for key, value in echo.items() if key != "explore"}}, "PBT", stored)


def test_the_manual_it_was_shown_never_replaces_a_search_changed_since() -> None:
    """Shown Manual for a TPE search, paused after a new client made it a random search: the search stays."""
    space = {"x": {"uniform": {"low": 0, "high": 1}}}
    assert keeps_stored({"Manual": None}, "RandomSearch", space)
    assert keeps_stored({"Manual": None}, "Manual", None)
