"""nextjob: queued first, then the scheduler; GET for 0.1.0b6, POST for ours."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

DISTRIBUTIONS = {
    "u": {"uniform": {"low": -1, "high": 1}},
    "n": {"normal": {"mean": 5, "std": 0.1}},
    "lu": {"loguniform": {"low": 1e-5, "high": 1e-1}},
    "c": {"choice": {"values": ["adam", {"sgd": 0.9}, None], "weights": [1, 1, 0]}},
    "k": {"const": [1, 2]},
}


def test_queued_jobs_are_handed_out_oldest_first_then_none(api):
    api.create_experiment("q")
    ids = [api.add_job("q", hyperparameters={"i": i}).json()["id"] for i in range(3)]
    handed = []
    for _ in range(3):
        answer = api.http.get("experiments/q/nextjob/")
        assert answer.status_code == 200
        assert answer.json()["status"] == "RUNNING"
        handed.append(answer.json()["id"])
    assert handed == ids
    assert api.http.get("experiments/q/nextjob/").status_code == 204


def test_the_old_clients_put_running_after_nextjob_succeeds(api):
    api.create_experiment("q")
    api.add_job("q", hyperparameters={"x": 1})
    answer = api.http.get("experiments/q/nextjob/")
    job = answer.json()
    put = api.request(
        "PUT",
        f"experiments/q/jobs/{job['id']}/",
        {"status": "RUNNING", "hyperparameters": job["hyperparameters"]},
        headers={"If-Match": answer.headers["etag"]},
    )
    assert put.status_code == 200
    assert put.json()["startedAt"] == job["startedAt"]


def test_random_search_samples_every_distribution_within_its_support(api):
    api.create_experiment("rs", {"RandomSearch": DISTRIBUTIONS})
    samples = [api.http.post("experiments/rs/nextjob/").json()["hyperparameters"] for _ in range(60)]
    assert all(-1 <= s["u"] < 1 for s in samples)
    assert all(4 < s["n"] < 6 for s in samples)
    assert all(1e-5 <= s["lu"] < 1e-1 for s in samples)
    assert {repr(s["c"]) for s in samples} == {"'adam'", "{'sgd': 0.9}"}
    assert all(s["k"] == [1, 2] for s in samples)
    assert len({s["u"] for s in samples}) == 60
    # Log-uniform: about half the samples below the geometric midpoint 1e-3.
    assert 15 < sum(s["lu"] < 1e-3 for s in samples) < 45
    assert len(api.all_jobs("rs")) == 60


def test_random_search_hands_out_queued_jobs_first(api):
    api.create_experiment("rs", {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}})
    api.add_job("rs", hyperparameters={"x": 5})
    assert api.http.get("experiments/rs/nextjob/").json()["hyperparameters"] == {"x": 5}
    assert api.http.get("experiments/rs/nextjob/").json()["hyperparameters"]["x"] < 1


def test_done_experiment_hands_out_nothing(api):
    api.create_experiment("paused", {"RandomSearch": {"x": {"const": 1}}}, status="DONE")
    assert api.add_job("paused", hyperparameters={"x": 1}).status_code == 201
    assert api.http.get("experiments/paused/nextjob/").status_code == 204
    assert api.http.post("experiments/paused/nextjob/").status_code == 204
    assert [j["status"] for j in api.all_jobs("paused")] == ["QUEUED"]


def test_nextjob_of_a_missing_experiment_is_404(api):
    assert api.http.get("experiments/nope/nextjob/").status_code == 404


def test_post_records_the_worker_and_a_lease(api):
    api.create_experiment("q")
    api.add_job("q")
    job = api.request("POST", "experiments/q/nextjob/", {"worker": "gpu-3", "heartbeat": 10}).json()
    assert job["worker"] == "gpu-3"
    assert job["leaseExpiresAt"] > job["startedAt"]
    beat = api.http.post(f"experiments/q/jobs/{job['id']}/heartbeat/")
    assert beat.status_code == 200
    assert beat.json()["leaseExpiresAt"] >= job["leaseExpiresAt"]
    done = api.request(
        "PUT", f"experiments/q/jobs/{job['id']}/", {"status": "DONE"}, headers={"If-Match": beat.headers["etag"]}
    )
    assert done.status_code == 200, "a heartbeat must not change the ETag"
    assert done.json()["leaseExpiresAt"] is None
    assert api.http.post(f"experiments/q/jobs/{job['id']}/heartbeat/").status_code == 412


def test_post_waits_for_work_when_asked(api):
    api.create_experiment("q")

    def add_later():
        time.sleep(0.5)
        api.add_job("q", hyperparameters={"late": True})

    thread = threading.Thread(target=add_later)
    started = time.monotonic()
    thread.start()
    answer = api.request("POST", "experiments/q/nextjob/", {"wait": 10})
    thread.join()
    assert answer.status_code == 200
    assert answer.json()["hyperparameters"] == {"late": True}
    assert time.monotonic() - started < 8


def test_post_wait_gives_up_with_204(api):
    api.create_experiment("q")
    started = time.monotonic()
    assert api.request("POST", "experiments/q/nextjob/", {"wait": 0.3}).status_code == 204
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"wait": -1}, "between 0 and"),
        ({"wait": 10_000}, "between 0 and"),
        ({"wait": "soon"}, "must be a number"),
        ({"heartbeat": 0}, "between"),
        ({"worker": 7}, "must be a string"),
        ({"worker": "gpu\u00003"}, "printable characters"),
        ({"colour": 1}, "Unknown nextjob option(s) 'colour'"),
        ([], "must be a JSON object"),
    ],
)
def test_bad_nextjob_options_are_422_and_hand_out_nothing(api, body, message):
    api.create_experiment("q")
    api.add_job("q")
    answer = api.request("POST", "experiments/q/nextjob/", body)
    assert answer.status_code == 422
    assert message in answer.json()["detail"]
    assert [j["status"] for j in api.all_jobs("q")] == ["QUEUED"]


def test_a_worker_gone_while_waiting_for_work_is_never_handed_a_job(api):
    """A worker stopped (Ctrl-C) during a long poll: the job added later stays QUEUED for a live worker.

    Handed to the dead connection, it would stay RUNNING until its lease lapsed, then end CRASHED
    without having run (and without retries, be lost).
    """
    api.create_experiment("gone")
    url = api.http.base_url
    sock = socket.create_connection((url.host, url.port))
    body = json.dumps({"wait": 20, "worker": "gone"}).encode()
    sock.sendall(
        (
            f"POST /experiments/gone/nextjob/ HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: {api.http.headers['Authorization']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
    )
    time.sleep(1.5)  # waiting for work, between two looks
    sock.close()  # the worker is gone, and at once there is work
    added = api.add_job("gone", status="QUEUED", hyperparameters={"x": 1}).json()["id"]
    time.sleep(1.5)  # the poll's next looks, had it gone on
    assert {job["id"]: job["status"] for job in api.all_jobs("gone")} == {added: "QUEUED"}
    claimed = api.request("POST", "experiments/gone/nextjob/", {"worker": "alive"})
    assert claimed.status_code == 200
    assert claimed.json()["id"] == added
