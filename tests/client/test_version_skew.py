"""Schedy's client beside a service of another version: what each answers, read right (no service needed)."""

from __future__ import annotations

import schedy
from schedy._experiments import experiment_from_wire
from schedy._transport import USER_AGENT, problem_message
from schedy.random import Uniform

SPACE = {"x": {"uniform": {"low": 0, "high": 1}}}


def test_a_sampler_inside_random_search_as_services_of_0_2_0_dev0_show_it_is_read_and_kept() -> None:
    exp = experiment_from_wire(
        {"name": "e", "status": "RUNNING", "scheduler": {"RandomSearch": {"distributions": SPACE, "sampler": "sobol"}}}
    )
    assert isinstance(exp, schedy.RandomSearch)
    assert exp.sampler == "sobol"
    assert exp.distributions == {"x": Uniform(0, 1)}
    # A pause sends the status alone: nothing that service would refuse, nothing that resets its sampler.
    exp._sync()
    exp.status = schedy.Experiment.DONE
    assert exp._changes(exp._to_wire(), exp._synced or {}) == {"status": "DONE"}


def test_an_option_an_older_service_does_not_know_is_said_to_be_why_it_was_refused() -> None:
    answer = b'{"title": "Invalid request", "detail": "Unknown experiment field(s) \'sampler\'; allowed: status."}'
    text = problem_message(422, answer, "PUT", "experiments/e/")
    assert text == (
        "HTTP error 422 on PUT experiments/e/: Unknown experiment field(s) 'sampler'; allowed: status. "
        f"The service may be older than this client (Schedy {schedy.__version__}): upgrade it to use that field."
    )


def test_the_client_names_its_version_to_the_service() -> None:
    assert f"schedy-python/{schedy.__version__}" == USER_AGENT
