"""Experiments: create, replace, read, list, delete, names, validation."""

from __future__ import annotations

import json

import pytest

from tests.server.conftest import exp_path

RANDOM = {"RandomSearch": {"lr": {"loguniform": {"low": 1e-5, "high": 0.1}}, "layers": {"choice": {"values": [1, 2]}}}}


def test_create_then_read_back(api):
    api.create_experiment("MNIST", RANDOM)
    answer = api.http.get("experiments/MNIST/")
    assert answer.status_code == 200
    body = answer.json()
    assert body["name"] == "MNIST"
    assert body["status"] == "RUNNING"
    assert body["scheduler"] == RANDOM
    assert body["createdAt"].endswith("Z")


def test_create_only_refuses_an_existing_name_and_keeps_the_original(api):
    api.create_experiment("MNIST", RANDOM)
    again = api.request(
        "PUT", "experiments/MNIST/", {"status": "DONE", "scheduler": {"Manual": None}}, headers={"If-None-Match": "*"}
    )
    assert again.status_code == 412
    assert "already exists" in again.json()["detail"]
    assert api.http.get("experiments/MNIST/").json()["scheduler"] == RANDOM


def test_put_without_precondition_replaces_status_and_scheduler(api):
    api.create_experiment("MNIST", RANDOM)
    answer = api.request("PUT", "experiments/MNIST/", {"status": "DONE", "scheduler": {"Manual": None}})
    assert answer.status_code == 200
    body = api.http.get("experiments/MNIST/").json()
    assert (body["status"], body["scheduler"]) == ("DONE", {"Manual": None})


def test_put_without_precondition_creates_when_absent(api):
    answer = api.request("PUT", "experiments/new/", {"status": "RUNNING", "scheduler": {"Manual": None}})
    assert answer.status_code == 201


def test_options_survive_a_replace_that_does_not_mention_them(api):
    api.create_experiment("seeded", RANDOM, seed=42, maxRetries=2)
    api.request("PUT", "experiments/seeded/", {"status": "DONE", "scheduler": RANDOM})
    body = api.http.get("experiments/seeded/").json()
    assert (body["seed"], body["maxRetries"], body["status"]) == (42, 2, "DONE")


@pytest.mark.parametrize("name", ["a b", "a/b c", "ünïcødé 実験", "100%", "a+b?c#d", "...", "-dash"])
def test_names_with_spaces_slashes_and_unicode_route_as_one_segment(api, name):
    api.create_experiment(name)
    assert api.http.get(exp_path(name)).json()["name"] == name
    assert api.add_job(name, hyperparameters={"x": 1}).json()["experiment"] == name
    assert [e["name"] for e in api.http.get("experiments/").json()["items"]] == [name]


def test_missing_experiment_is_404(api):
    answer = api.http.get("experiments/nope/")
    assert answer.status_code == 404
    assert answer.json()["detail"] == "Experiment 'nope' does not exist."


def test_another_users_experiment_is_simply_not_found(service, api):
    api.create_experiment("private", RANDOM)
    from tests.server.conftest import Api

    other = Api(service.url, service.new_user())
    try:
        assert other.http.get("experiments/private/").status_code == 404
        assert other.http.get("experiments/private/jobs/").status_code == 404
        assert other.http.get("experiments/private/nextjob/").status_code == 404
        assert other.http.get("experiments/").json()["items"] == []
        assert other.http.delete("experiments/private/", headers={"If-Match": "*"}).status_code == 412
        # The other user may use the same name in their own namespace.
        other.create_experiment("private")
    finally:
        other.close()
    assert api.http.get("experiments/private/").json()["scheduler"] == RANDOM


def test_list_pages_with_keyset_tokens(api):
    names = [f"exp-{i:03d}" for i in range(7)]
    for name in names:
        api.create_experiment(name)
    seen, params = [], {"limit": 3}
    pages = 0
    while True:
        page = api.http.get("experiments/", params=params).json()
        assert set(page) == {"items", "next"}
        seen += [e["name"] for e in page["items"]]
        pages += 1
        if page["next"] is None:
            break
        params["start"] = page["next"]
    assert seen == names
    assert pages == 3


def test_bad_page_token_is_400(api):
    answer = api.http.get("experiments/", params={"start": "garbage!"})
    assert answer.status_code == 400
    assert "page token" in answer.json()["detail"]


def test_delete_removes_the_experiment_and_its_jobs(api):
    api.create_experiment("gone")
    job_id = api.add_job("gone", hyperparameters={"x": 1}).json()["id"]
    assert api.http.delete("experiments/gone/").status_code == 204
    assert api.http.get("experiments/gone/").status_code == 404
    api.create_experiment("gone")
    assert api.http.get(f"experiments/gone/jobs/{job_id}/").status_code == 404


def test_delete_missing_is_204_unless_ensured(api):
    assert api.http.delete("experiments/never/").status_code == 204
    ensured = api.http.delete("experiments/never/", headers={"If-Match": "*"})
    assert ensured.status_code == 412
    assert "does not exist" in ensured.json()["detail"]


def test_job_counts_on_request(api):
    api.create_experiment("counted")
    for status in ["QUEUED", "QUEUED", "DONE"]:
        api.add_job("counted", status=status)
    body = api.http.get("experiments/counted/", params={"counts": "true"}).json()
    assert body["jobCounts"] == {"QUEUED": 2, "DONE": 1}


INVALID_DEFINITIONS = [
    ({"uniform": {"low": 1, "high": 0}}, "needs low < high, got low=1, high=0"),
    ({"uniform": {"low": 1, "high": 1}}, "needs low < high"),
    ({"uniform": {"low": 1.5, "high": 1.5}}, "a hyperparameter of one value is Constant(1.5)"),
    ({"loguniform": {"low": 0, "high": 1}}, "needs 0 < low"),
    ({"loguniform": {"low": -1, "high": 1}}, "needs 0 < low"),
    ({"normal": {"mean": 0, "std": 0}}, "needs std > 0"),
    ({"normal": {"mean": 0, "std": -1}}, "needs std > 0"),
    ({"choice": {"values": []}}, "non-empty list of values"),
    ({"choice": {"values": [1, 2], "weights": [1]}}, "one weight per value"),
    ({"choice": {"values": [1, 2], "weights": [0, 0]}}, "not all zero"),
    ({"choice": {"values": [1, 2], "weights": [-1, 2]}}, "non-negative weights"),
    ({"uniform": {"low": "a", "high": 1}}, "must be a number"),
    ({"uniform": {"low": True, "high": 2}}, "must be a number"),
    ({"uniform": {"low": 0}}, "missing 'high'"),
    ({"uniform": {"low": 0, "high": 1, "step": 2}}, "needs high - low to be a multiple of step"),
    ({"uniform": {"low": 0, "high": 1, "width": 2}}, "unknown key(s) 'width'"),
    ({"beta": {"a": 1}}, "unknown distribution 'beta'"),
    # Non-finite values would be handed out to every job; ranges a float cannot hold would draw infinities.
    ({"const": float("nan")}, "finite numbers only"),
    ({"const": {"layers": [64, float("inf")]}}, "finite numbers only"),
    ({"choice": {"values": [1, float("nan")]}}, "finite numbers only"),
    ({"choice": {"values": [1, 2], "weights": [1, float("inf")]}}, "must be a finite number"),
    ({"uniform": {"low": -1e308, "high": 1e308}}, "high - low overflows"),
    ({"normal": {"mean": 0, "std": 1e308}}, "beyond a float's range"),
    ({"uniform": {"low": float("-inf"), "high": 0}}, "must be a finite number"),
    # Integers past a float's range (JSON allows any number of digits).
    ({"normal": {"mean": 10**400, "std": 1}}, "must be a finite number"),
    ({"uniform": {"low": 0, "high": 1, "step": 10**400}}, "must be a finite number"),
    ({"choice": {"values": [1, 2], "weights": [10**400, 1]}}, "must be a finite number"),
    ({"uniform": {"low": 0, "high": 1e308, "step": 5e-324}}, "more than 10**9 steps"),
    ({"uniform": {}, "normal": {}}, "exactly one key"),
    ("uniform", "exactly one key"),
]


@pytest.mark.parametrize(("distribution", "message"), INVALID_DEFINITIONS)
def test_impossible_distributions_are_422_and_nothing_is_written(api, distribution, message):
    body = {"status": "RUNNING", "scheduler": {"RandomSearch": {"lr": distribution}}}
    answer = api.request("PUT", "experiments/bad/", body)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert message in answer.json()["detail"]
    assert "'lr'" in answer.json()["detail"]
    assert api.http.get("experiments/bad/").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"", 400, "empty"),
        (b"\xff\xfe", 400, "not UTF-8"),
        (b"[]", 422, "must be a JSON object"),
        (b'{"status": "RUNNING"}', 422, "needs a scheduler"),
        (b'{"status": "PAUSED", "scheduler": {"Manual": null}}', 422, "Unknown experiment status 'PAUSED'"),
        (b'{"scheduler": {"Grid": {}}}', 422, "Unknown scheduler 'Grid'"),
        (b'{"scheduler": {}}', 422, "exactly one key"),
        (b'{"scheduler": {"Manual": 3}}', 422, "takes no parameters"),
        (b'{"scheduler": {"RandomSearch": [1]}}', 422, "must be an object"),
        (b'{"scheduler": {"Manual": null}, "colour": "red"}', 422, "Unknown experiment field(s) 'colour'"),
        (b'{"scheduler": {"Manual": null}, "seed": ' + b"9" * 5000 + b"}", 400, "thousands of digits"),
        (b'{"scheduler": {"Manual": null}, "k' + b"k" * 10_000 + b'": 1}', 422, "Unknown experiment field(s) 'kkk"),
        (b'{"scheduler": {"Manual": null}, "seed": -1}', 422, "'seed'"),
        (b'{"scheduler": {"Manual": null}, "maxRetries": "3"}', 422, "'maxRetries'"),
        (b'{"scheduler": {"PBT": {"objective": "up", "qualityResultName": "q"}}}', 422, "'min' or 'max'"),
        (
            b'{"scheduler": {"PBT": {"objective": "max", "qualityResultName": "q", "exploit": {"truncate": 0.9}}}}',
            422,
            "0 < proportion <= 0.5",
        ),
        (
            b'{"scheduler": {"PBT": {"objective": "max", "qualityResultName": "q", "init": {"x": {"const": 1}}}}}',
            422,
            "needs numParallel",
        ),
        (
            b'{"scheduler": {"PBT": {"objective": "max", "qualityResultName": "q", "numParallel": 0}}}',
            422,
            "positive integer",
        ),
    ],
)
def test_bad_experiment_bodies_get_a_readable_4xx_and_nothing_is_written(api, body, status, message):
    answer = api.request("PUT", "experiments/bad/", body)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["detail"]
    assert len(answer.json()["detail"]) <= 500  # one sentence, however much was sent
    assert api.http.get("experiments/bad/").status_code == 404


def test_oversized_body_is_413_and_nothing_is_written(api):
    body = json.dumps({"scheduler": {"RandomSearch": {"x": {"const": "a" * (2 << 20)}}}})
    answer = api.request("PUT", "experiments/big/", body)
    assert answer.status_code == 413
    assert "limit" in answer.json()["detail"]
    assert api.http.get("experiments/big/").status_code == 404


def test_dot_names_are_refused(api):
    answer = api.request("PUT", "experiments/%2E%2E/", {"scheduler": {"Manual": None}})
    assert answer.status_code == 422
    assert "path step" in answer.json()["detail"]


def test_overlong_name_is_422(api):
    answer = api.request("PUT", exp_path("x" * 1001), {"scheduler": {"Manual": None}})
    assert answer.status_code == 422
    assert "1 to 1000" in answer.json()["detail"]


@pytest.mark.parametrize("key", [2**31, 2**63, 2**64 + 5, 10**30])
def test_forged_page_tokens_with_huge_keys_are_400_on_every_list(api, key):
    """A token names a row by its key; one no column can hold was not made by the service."""
    import base64

    api.create_experiment("paged")
    job = api.add_job("paged", hyperparameters={"x": 1}).json()
    token = base64.urlsafe_b64encode(f"k{key}".encode()).decode().rstrip("=")
    lists = [
        "experiments/",
        "experiments/paged/jobs/",
        "experiments/paged/events/",
        "experiments/paged/reports/",
        f"experiments/paged/jobs/{job['id']}/reports/",
    ]
    for path in lists:
        answer = api.http.get(path, params={"start": token})
        if key < 2**63 and path != "experiments/":
            assert answer.status_code == 200, (path, answer.text)  # a key past the end: an empty last page
            assert answer.json() == {"items": [], "next": None}
        else:
            assert answer.status_code == 400, (path, answer.text)
            assert "page token" in answer.json()["detail"]
