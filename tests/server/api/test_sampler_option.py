"""A random search's sampler is a top-level key of the experiment JSON, kept like the other options.

Inside ``RandomSearch`` every key is a hyperparameter to the 2018 client (the wire contract: new options go at the
top level), so ``sampler`` sits beside the scheduler on the wire (SQLite and PostgreSQL).
"""

from __future__ import annotations

from typing import Any

import schedy
from schedy.random import Uniform

SPACE = {"x": {"uniform": {"low": 0, "high": 1}}}


def _experiment(api: Any, path: str) -> dict[str, Any]:
    answer = api.request("GET", path)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _draws(api: Any, path: str, n: int) -> list[float]:
    xs = []
    for _ in range(n):
        answer = api.request("POST", path + "nextjob/", {"worker": "w"})
        assert answer.status_code == 200, answer.text
        xs.append(answer.json()["hyperparameters"]["x"])
    return xs


def test_the_sampler_is_shown_beside_the_space_and_drives_the_draws(api) -> None:
    path = api.create_experiment("sobol", {"RandomSearch": SPACE}, sampler="sobol", seed=5)
    shown = _experiment(api, path)
    assert shown["scheduler"] == {"RandomSearch": SPACE}  # the space only: what the 2018 client parses
    assert shown["sampler"] == "sobol"
    # A scrambled Sobol' sequence puts one point in each half of [0, 1) every two points.
    xs = _draws(api, path, 8)
    assert all(sum(a < 0.5 for a in xs[i : i + 2]) == 1 for i in range(0, 8, 2)), xs
    iid = api.create_experiment("iid", {"RandomSearch": SPACE})
    assert "sampler" not in _experiment(api, iid)


def test_a_replace_keeps_the_sampler_unless_the_body_names_one(api) -> None:
    path = api.create_experiment("kept", {"RandomSearch": SPACE}, sampler="halton")
    wider = {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 2}}}}
    assert api.request("PUT", path, {"scheduler": wider}).status_code == 200
    assert _experiment(api, path)["sampler"] == "halton"
    assert _experiment(api, path)["scheduler"] == wider
    assert api.request("PUT", path, {"sampler": "sobol"}).status_code == 200  # alone: the search keeps its space
    assert (_experiment(api, path)["sampler"], _experiment(api, path)["scheduler"]) == ("sobol", wider)
    assert api.request("PUT", path, {"sampler": None}).status_code == 200  # null: independent draws again
    assert "sampler" not in _experiment(api, path)
    # Another search drops it.
    assert api.request("PUT", path, {"sampler": "sobol"}).status_code == 200
    assert api.request("PUT", path, {"scheduler": {"Manual": None}}).status_code == 200
    assert "sampler" not in _experiment(api, path)


def test_a_sampler_for_another_search_or_an_unknown_one_is_refused_in_one_sentence(api) -> None:
    tpe = {"TPESearch": {"distributions": SPACE, "objective": "min", "resultName": "loss"}}
    refused = api.request("PUT", "experiments/tpe/", {"scheduler": tpe, "sampler": "sobol"})
    assert refused.status_code == 422
    assert refused.json()["detail"] == (
        "Option 'sampler' is a RandomSearch's, not a TPESearch's: leave it out "
        "(TPESearch's quasi-random start is its own 'startup' parameter)."
    )
    assert api.request("GET", "experiments/tpe/").status_code == 404  # nothing made
    path = api.create_experiment("manual")
    assert api.request("PUT", path, {"sampler": "halton"}).status_code == 422
    unknown = api.request("PUT", "experiments/lhs/", {"scheduler": {"RandomSearch": SPACE}, "sampler": "lhs"})
    assert unknown.status_code == 422
    assert unknown.json()["detail"] == "Option 'sampler' must be one of iid, sobol, halton or null, got 'lhs'."


def test_the_client_reads_and_changes_the_sampler(service) -> None:
    with schedy.SchedyDB(config_override=service.client_config) as db:
        _client_round_trip(db)


def _client_round_trip(db: schedy.SchedyDB) -> None:
    db.add_experiment(schedy.RandomSearch("client", {"x": Uniform(0, 1)}, sampler="sobol"))
    exp = db.get_experiment("client")
    assert isinstance(exp, schedy.RandomSearch)
    assert exp.sampler == "sobol"
    assert exp.distributions == {"x": Uniform(0, 1)}
    exp.sampler = "halton"
    exp.push_updates()
    assert db.get_experiment("client").sampler == "halton"
    exp.sampler = "iid"
    exp.push_updates()
    assert db.get_experiment("client").sampler == "iid"


def test_schedys_own_client_of_0_2_0_dev0_is_shown_the_sampler_where_it_reads_it(api) -> None:
    """That client (User-Agent ``schedy-python``, no version) reads and writes the sampler inside RandomSearch."""
    path = api.create_experiment("dev0", {"RandomSearch": SPACE}, sampler="sobol")
    answer = api.request("GET", path, headers={"User-Agent": "schedy-python"})
    shown = answer.json()
    assert shown["scheduler"] == {"RandomSearch": {"distributions": SPACE, "sampler": "sobol"}}
    assert "sampler" not in shown
    listed = api.request("GET", "experiments/", headers={"User-Agent": "schedy-python"}).json()["items"]
    assert [item["scheduler"] for item in listed if item["name"] == "dev0"] == [shown["scheduler"]]
    # What it sends back (its pause, its declaration with exist_ok) keeps the search.
    echo = {"status": "DONE", "scheduler": shown["scheduler"]}
    assert api.request("PUT", path, echo, headers={"User-Agent": "schedy-python"}).status_code == 200
    now = _experiment(api, path)
    assert (now["status"], now["sampler"], now["scheduler"]) == ("DONE", "sobol", {"RandomSearch": SPACE})
    # Today's client sends its version and is shown today's form.
    assert "sampler" in api.request("GET", path, headers={"User-Agent": f"schedy-python/{schedy.__version__}"}).json()


def test_the_0_2_0_dev0_client_resets_the_sampler_by_sending_the_plain_space(api) -> None:
    """Its i.i.d. random search has no sampler inside: from it, a plain space means i.i.d. draws."""
    path = api.create_experiment("dev0-reset", {"RandomSearch": SPACE}, sampler="sobol")
    plain = {"scheduler": {"RandomSearch": SPACE}}
    assert api.request("PUT", path, plain, headers={"User-Agent": "schedy-python"}).status_code == 200
    assert "sampler" not in _experiment(api, path)


def test_a_sampler_for_a_stored_search_this_version_cannot_read_is_409_not_500(service, api) -> None:
    from sqlalchemy import update

    from schedy.server.store import Store
    from schedy.server.store.tables import experiments

    path = api.create_experiment("unreadable-space", {"RandomSearch": SPACE})
    store = Store(service.process.database_url, pool_size=1)
    try:
        with store.write() as conn:
            bad = '{"x": {"triangular": {"low": 0, "high": 1}}}'
            conn.execute(update(experiments).where(experiments.c.name == "unreadable-space").values(params=bad))
    finally:
        store.dispose()
    answer = api.request("PUT", path, {"sampler": "sobol"})
    assert answer.status_code == 409, answer.text
    assert "give it a scheduler again" in answer.json()["detail"]


def test_a_sampler_put_among_the_hyperparameters_is_pointed_to_the_top_level(api) -> None:
    body = {"scheduler": {"RandomSearch": {"sampler": "sobol", **SPACE}}}
    answer = api.request("PUT", "experiments/misplaced/", body)
    assert answer.status_code == 422
    assert answer.json()["detail"] == (
        "'sampler' is an option of the experiment, not a hyperparameter: put \"sampler\": \"sobol\" "
        'at the top level, beside "scheduler".'
    )
