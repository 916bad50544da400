"""A TPE search cannot be defined so that one claim costs the service seconds and hundreds of MB."""

from __future__ import annotations

import pytest

from schedy._search import MAX_CANDIDATE_SCORES, MAX_DECISION_WORK, MAX_EI_CANDIDATES, MAX_OBSERVATIONS, TPEParams
from schedy.errors import DefinitionError
from schedy.random import Uniform
from tests.security.conftest import exp_path, login


def _tpe(dims: int, **options: int) -> dict:
    space = {f"x{i}": {"uniform": {"low": 0, "high": 1}} for i in range(dims)}
    return {"TPESearch": {"distributions": space, "objective": "min", "resultName": "loss", **options}}


@pytest.mark.parametrize(
    ("scheduler", "sentence"),
    [
        # The review's search: 2.9 s and 190 MB a claim with 500 jobs.
        (_tpe(20, nEiCandidates=10_000, maxObservations=1_000_000, nStartupJobs=0), "n_ei_candidates must be"),
        (_tpe(1, nEiCandidates=1001), "n_ei_candidates must be an integer from 1 to 1000"),
        (_tpe(1, maxObservations=10_001), "max_observations must be an integer from 50 to 10000"),
        (_tpe(1, nEiCandidates=1000, maxObservations=10_000), "n_ei_candidates x max_observations must be at most"),
        (_tpe(11, nEiCandidates=1000, maxObservations=1000), "x hyperparameters must be at most 10,000,000"),
    ],
)
def test_costly_tpe_definitions_are_refused_in_one_sentence(service, scheduler, sentence):
    http = login(service.url, service.email, service.api_token)
    try:
        answer = http.put(exp_path("costly"), json={"status": "RUNNING", "scheduler": scheduler})
    finally:
        http.close()
    assert answer.status_code == 422, answer.text
    assert sentence in answer.json()["detail"]


def test_the_bounds_leave_room_for_the_defaults_and_large_useful_searches():
    assert MAX_EI_CANDIDATES * 1000 <= MAX_CANDIDATE_SCORES  # 1,000 candidates over the default history
    assert 100 * MAX_OBSERVATIONS <= MAX_CANDIDATE_SCORES
    space = {f"x{i}": Uniform(0, 1) for i in range(MAX_DECISION_WORK // (24 * 1000))}
    TPEParams(space, "min", "loss")  # the defaults with 416 hyperparameters
    TPEParams({"x": Uniform(0, 1)}, "min", "loss", n_ei_candidates=1000, max_observations=1000)
    with pytest.raises(DefinitionError, match="at most"):
        TPEParams({**space, "one more": Uniform(0, 1)}, "min", "loss")
