"""The transport: keep-alive, authentication, retries, errors (against a scripted stub)."""

from __future__ import annotations

import gc
import json
import os
import socket
import time
import warnings
from pathlib import Path

import pytest

import schedy
from schedy import errors
from schedy._config import ClientConfig, load_config
from schedy._transport import RetryPolicy, Transport, problem_message
from tests.client.stub import Answer, Stub, job_json, make_transport

PROBLEM = {"Content-Type": "application/problem+json"}
EXP = {"name": "E", "status": "RUNNING", "scheduler": {"Manual": None}}


def test_one_connection_and_one_login_serve_many_requests(stub: Stub) -> None:
    stub.on("GET", "experiments/E/", Answer(200, EXP))
    transport = make_transport(stub.url)
    for _ in range(20):
        transport.request("GET", "experiments/E/")
    transport.close()
    assert len(stub.calls("GET", "experiments/E/")) == 20
    assert len({r.port for r in stub.requests}) == 1
    assert stub.tokens == 1
    assert stub.calls("POST", "token/")[0].json() == {"email": "me@example.com", "token": "secret"}
    assert stub.calls("GET", "experiments/E/")[0].headers["authorization"] == "Bearer jwt-1"


def test_names_are_percent_encoded_with_no_safe_character(stub: Stub, stub_db: schedy.SchedyDB) -> None:
    stub.on("GET", "experiments/a%2Fb%20c%3F%25/", Answer(200, {**EXP, "name": "a/b c?%"}))
    assert stub_db.get_experiment("a/b c?%").name == "a/b c?%"


def test_root_with_a_path_prefix(stub: Stub) -> None:
    stub.on("POST", "schedy/token/", Answer(200, {"token": "t", "expiresAt": time.time() + 3600}))
    stub.on("GET", "schedy/experiments/E/", Answer(200, EXP))
    transport = make_transport(stub.url + "schedy")
    assert transport.request("GET", "experiments/E/").json() == EXP
    transport.close()


def test_password_config_logs_in_with_passauth(stub: Stub) -> None:
    stub.on("POST", "passauth/", Answer(200, {"token": "t", "expiresAt": time.time() + 3600}))
    stub.on("GET", "experiments/E/", Answer(200, EXP))
    override = {"root": stub.url, "email": "me@example.com", "token": "pw", "token_type": "password"}
    with schedy.SchedyDB(config_override=override) as db:
        db.get_experiment("E")
    assert stub.calls("POST", "passauth/")[0].json() == {"email": "me@example.com", "token": "pw"}
    assert not stub.calls("POST", "token/")


def test_a_401_renews_the_jwt_and_retries_once(stub: Stub) -> None:
    stub.on("GET", "experiments/E/", Answer(401, {"title": "Unauthorized", "detail": "expired"}), Answer(200, EXP))
    transport = make_transport(stub.url)
    assert transport.request("GET", "experiments/E/").json() == EXP
    assert stub.tokens == 2
    assert [r.headers["authorization"] for r in stub.calls("GET", "experiments/E/")] == [
        "Bearer jwt-1",
        "Bearer jwt-2",
    ]
    transport.close()


def test_a_second_401_raises_reauthenticate_error(stub: Stub) -> None:
    stub.on("GET", "experiments/E/", Answer(401, {"title": "Unauthorized", "detail": "Bad session."}, PROBLEM))
    transport = make_transport(stub.url)
    with pytest.raises(errors.ReauthenticateError, match="Bad session"):
        transport.request("GET", "experiments/E/")
    assert len(stub.calls("GET", "experiments/E/")) == 2
    transport.close()


def test_the_jwt_is_renewed_shortly_before_it_expires(stub: Stub) -> None:
    stub.token_lifetime = 2.0  # renewal margin: a tenth of the lifetime
    stub.on("GET", "experiments/E/", Answer(200, EXP))
    transport = make_transport(stub.url)
    transport.request("GET", "experiments/E/")
    transport.request("GET", "experiments/E/")
    assert stub.tokens == 1
    time.sleep(1.85)
    transport.request("GET", "experiments/E/")
    assert stub.tokens == 2
    transport.close()


_HTML = b"<!DOCTYPE html>\n<html><head><title>Error\n response</title></head><body><p>Not here</p></body></html>\n"


@pytest.mark.parametrize(
    ("answer", "error", "said"),
    [
        (Answer(501, _HTML, {"Content-Type": "text/html"}), errors.ServerError,
         "an HTML page titled 'Error response'."),
        (Answer(200, _HTML, {"Content-Type": "text/html"}), errors.UnhandledResponseError, "Expected JSON"),
        (Answer(405, b"Method Not Allowed", {"Content-Type": "text/plain"}), errors.ClientRequestError,
         "Method Not Allowed."),
        (Answer(200, {"hello": "world"}), errors.UnhandledResponseError, "answered without token and expiresAt."),
    ],
)  # fmt: skip
def test_another_web_server_at_the_root_is_named_as_a_wrong_root(stub: Stub, answer, error, said) -> None:
    """A proxy or another site where the service should be: what it said, and which setting to check."""
    stub.on("POST", "token/", answer)
    transport = make_transport(stub.url)
    with pytest.raises(error) as info:
        transport.request("GET", "experiments/E/")
    message = str(info.value)
    assert said in message
    assert f"Is {stub.url} the root of a Schedy service? `schedy server` prints its root when it starts" in message
    assert "<html" not in message
    transport.close()


def test_a_login_that_gets_no_answer_is_not_called_a_wrong_root(stub: Stub) -> None:
    stub.on("POST", "token/", Answer(drop=True))
    transport = make_transport(stub.url, attempts=2)
    with pytest.raises(errors.HTTPError) as info:
        transport.request("GET", "experiments/E/")
    assert info.value.code is None
    assert "root of a Schedy service" not in str(info.value)
    transport.close()


def test_a_schedy_problem_at_login_is_not_called_a_wrong_root(stub: Stub) -> None:
    stub.on("POST", "token/", Answer(429, {"title": "Too Many Requests", "detail": "Wait a minute."}, PROBLEM))
    transport = make_transport(stub.url, attempts=1)
    with pytest.raises(errors.ClientRequestError) as info:
        transport.request("GET", "experiments/E/")
    assert "Wait a minute." in str(info.value)
    assert "root of a Schedy service" not in str(info.value)
    transport.close()


def test_wrong_credentials_raise_authentication_error_without_retry(stub: Stub) -> None:
    stub.on("POST", "token/", Answer(403, {"title": "Forbidden", "detail": "Wrong email or API token."}, PROBLEM))
    transport = make_transport(stub.url)
    with pytest.raises(errors.AuthenticationError, match="Wrong email or API token") as info:
        transport.request("GET", "experiments/E/")
    assert info.value.code == 403
    assert len(stub.calls("POST", "token/")) == 1
    assert not stub.calls("GET", "experiments/E/")
    transport.close()


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried_with_backoff(stub: Stub, status: int) -> None:
    stub.on("GET", "experiments/E/", Answer(status), Answer(status), Answer(200, EXP))
    transport = make_transport(stub.url)
    assert transport.request("GET", "experiments/E/").json() == EXP
    assert len(stub.calls("GET", "experiments/E/")) == 3
    transport.close()


def test_retries_give_up_with_a_server_error(stub: Stub) -> None:
    stub.on("GET", "experiments/E/", Answer(503, {"title": "Unavailable", "detail": "Restarting."}, PROBLEM))
    transport = make_transport(stub.url, attempts=3)
    with pytest.raises(errors.ServerError, match="Restarting") as info:
        transport.request("GET", "experiments/E/")
    assert info.value.code == 503
    assert len(stub.calls("GET", "experiments/E/")) == 3
    transport.close()


@pytest.mark.parametrize("status", [400, 404, 409, 412, 422, 500])
def test_other_errors_are_never_retried(stub: Stub, status: int) -> None:
    stub.on("GET", "experiments/E/", Answer(status, {"title": "No", "detail": "Nope."}, PROBLEM))
    transport = make_transport(stub.url)
    with pytest.raises(errors.HTTPError) as info:
        transport.request("GET", "experiments/E/")
    assert info.value.code == status
    assert len(stub.calls("GET", "experiments/E/")) == 1
    transport.close()


@pytest.mark.parametrize("status", [502, 504])
def test_a_job_creation_is_not_repeated_after_a_gateway_error(
    stub: Stub, stub_db: schedy.SchedyDB, status: int
) -> None:
    stub.on("GET", "experiments/E/", Answer(200, EXP))
    stub.on("POST", "experiments/E/jobs/", Answer(status), Answer(201, job_json(status="QUEUED"), {"ETag": '"1"'}))
    exp = stub_db.get_experiment("E")
    with pytest.raises(errors.ServerError):
        exp.add_job(hyperparameters={"x": 1})
    assert len(stub.calls("POST", "experiments/E/jobs/")) == 1


def test_a_job_creation_is_repeated_after_a_503(stub: Stub, stub_db: schedy.SchedyDB) -> None:
    stub.on("GET", "experiments/E/", Answer(200, EXP))
    stub.on("POST", "experiments/E/jobs/", Answer(503), Answer(201, job_json(status="QUEUED"), {"ETag": '"1"'}))
    job = stub_db.get_experiment("E").add_job(hyperparameters={"x": 1})
    assert job.etag == '"1"'
    assert len(stub.calls("POST", "experiments/E/jobs/")) == 2


def test_a_lost_answer_to_a_get_is_retried(stub: Stub) -> None:
    stub.on("GET", "experiments/E/", Answer(drop=True), Answer(200, EXP))
    transport = make_transport(stub.url)
    response = transport.request("GET", "experiments/E/")
    assert response.json() == EXP
    assert response.replayed
    assert len(stub.calls("GET", "experiments/E/")) == 2
    transport.close()


def test_a_lost_answer_to_a_job_creation_is_not_retried(stub: Stub, stub_db: schedy.SchedyDB) -> None:
    stub.on("GET", "experiments/E/", Answer(200, EXP))
    stub.on("POST", "experiments/E/jobs/", Answer(drop=True), Answer(201, job_json(status="QUEUED"), {"ETag": '"1"'}))
    exp = stub_db.get_experiment("E")
    with pytest.raises(errors.HTTPError, match="may have reached it") as info:
        exp.add_job(hyperparameters={"x": 1})
    assert info.value.code is None
    assert len(stub.calls("POST", "experiments/E/jobs/")) == 1


def test_a_lost_claim_is_retried_only_when_the_job_has_a_lease(stub: Stub, stub_db: schedy.SchedyDB) -> None:
    claimed = Answer(200, job_json(), {"ETag": '"2"'})
    stub.on("GET", "experiments/E/", Answer(200, EXP))
    stub.on("POST", "experiments/E/nextjob/", Answer(drop=True), claimed)
    exp = stub_db.get_experiment("E")
    # With a lease the service takes back a claim whose heartbeats never come: retrying is safe.
    assert exp.next_job(heartbeat=30).job_id == "J1"
    assert len(stub.calls("POST", "experiments/E/nextjob/")) == 2
    # Without one, the job of the lost answer would stay RUNNING for good: no retry.
    stub.on("POST", "experiments/E/nextjob/", Answer(drop=True), claimed)
    with pytest.raises(errors.HTTPError, match="may have reached it"):
        exp.next_job(heartbeat=0)
    assert len(stub.calls("POST", "experiments/E/nextjob/")) == 3


def test_nothing_listening_at_first_contact_is_reported_at_once(stub: Stub) -> None:
    """No minute of retries when no service was ever there: it is not started, or the URL is wrong."""
    url = stub.url
    stub.close()
    transport = make_transport(url, attempts=10)
    started = time.monotonic()
    with pytest.raises(errors.ServiceUnreachableError) as info:
        transport.request("GET", "experiments/E/")
    assert time.monotonic() - started < 5  # one quick second try, not ten with backoff
    assert isinstance(info.value, errors.HTTPError)
    assert info.value.code is None
    message = str(info.value)
    assert message.startswith(f"Nothing answers at {url} (connection refused).")
    assert "schedy server" in message
    assert "HTTP error" not in message
    transport.close()


def test_a_host_that_drops_connections_is_reported_after_the_connect_timeout_not_the_answer_timeout() -> None:
    """A black-holed host (a firewall dropping packets): seconds, not a minute per attempt.

    A listener whose backlog is full never completes another handshake, as a host that drops SYNs.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    filler = socket.create_connection(listener.getsockname(), timeout=5)  # the backlog's one place
    config = ClientConfig.from_mapping({"root": url, "email": "me@example.com", "token": "secret"}, "test")
    retry = RetryPolicy(attempts=10, backoff=0.001, max_backoff=0.01)
    transport = Transport(config, timeout=60.0, retry=retry, connect_timeout=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(errors.ServiceUnreachableError) as info:
            transport.request("GET", "experiments/E/")
        assert time.monotonic() - started < 5  # two attempts of 0.5 s, not one of 60
        assert str(info.value).startswith(f"Nothing answers at {url} (no connection within 0.5 s).")
    finally:
        transport.close()
        filler.close()
        listener.close()


def test_a_service_that_answered_then_went_away_is_retried_then_reported(stub: Stub) -> None:
    """An outage, not a missing service: the retry policy applies."""
    stub.on("GET", "experiments/E/", Answer(200, EXP))
    transport = make_transport(stub.url, attempts=3)
    transport.request("GET", "experiments/E/")
    stub.close()
    transport.close()  # the next request needs a new connection, which is refused
    with pytest.raises(errors.HTTPError, match="gave up after 3 attempts") as info:
        transport.request("GET", "experiments/E/")
    assert not isinstance(info.value, errors.ServiceUnreachableError)
    assert info.value.code is None
    transport.close()


def test_a_keep_alive_connection_closed_while_idle_is_reopened_quietly(stub: Stub, stub_db: schedy.SchedyDB) -> None:
    stub.on("GET", "experiments/E/", Answer(200, EXP, close_after=True))
    stub.on("POST", "experiments/E/jobs/", Answer(201, job_json(status="QUEUED"), {"ETag": '"1"'}))
    exp = stub_db.get_experiment("E")
    time.sleep(0.2)  # the service has closed the idle connection by now
    exp.add_job(hyperparameters={"x": 1})  # not replayable: must not fail on the dead socket
    assert len(stub.calls("POST", "experiments/E/jobs/")) == 1
    assert len({r.port for r in stub.requests}) == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_worker_opens_its_own_connection(stub: Stub) -> None:
    stub.on("GET", "experiments/E/", Answer(200, EXP))
    transport = make_transport(stub.url)
    transport.request("GET", "experiments/E/")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            transport.request("GET", "experiments/E/")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    transport.request("GET", "experiments/E/")
    transport.close()
    calls = stub.calls("GET", "experiments/E/")
    assert len(calls) == 3
    assert calls[0].port == calls[2].port != calls[1].port


def test_error_messages_show_the_problem_detail_and_keep_the_raw_body(stub: Stub, stub_db: schedy.SchedyDB) -> None:
    body = {"title": "Not Found", "detail": "Experiment 'nope' does not exist."}
    stub.on("GET", "experiments/nope/", Answer(404, body, PROBLEM))
    with pytest.raises(errors.ClientRequestError) as info:
        stub_db.get_experiment("nope")
    assert str(info.value) == "HTTP error 404 on GET experiments/nope/: Experiment 'nope' does not exist."
    assert info.value.code == 404
    assert '"detail"' in info.value.body


def test_problem_message_falls_back_to_title_then_raw_text() -> None:
    assert problem_message(409, b'{"title": "Conflict"}', "PUT", "x/") == "HTTP error 409 on PUT x/: Conflict"
    assert (
        problem_message(500, b"Internal Server Error", "GET", "x/") == "HTTP error 500 on GET x/: Internal Server Error"
    )
    assert problem_message(500, b"", "GET", "x/").endswith("<no message from the service>")


def test_invalid_json_answer_raises_unhandled_response_error(stub: Stub, stub_db: schedy.SchedyDB) -> None:
    stub.on("GET", "experiments/E/", Answer(200, b"<html>proxy</html>"))
    with pytest.raises(errors.UnhandledResponseError, match="Expected JSON"):
        stub_db.get_experiment("E")


def test_a_job_answer_without_etag_is_refused(stub: Stub, stub_db: schedy.SchedyDB) -> None:
    stub.on("GET", "experiments/E/", Answer(200, EXP))
    stub.on("GET", "experiments/E/jobs/J1/", Answer(200, job_json()))
    with pytest.raises(errors.UnhandledResponseError, match="ETag"):
        stub_db.get_experiment("E").get_job("J1")


def test_an_unreachable_root_is_said_with_where_it_was_configured(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/"  # the discard port: nothing listens
    path = tmp_path / "lab.json"
    path.write_text(json.dumps({"root": url, "email": "a@b.c", "token": "t"}))
    environment = {"SCHEDY_ROOT": url, "SCHEDY_EMAIL": "a@b.c", "SCHEDY_TOKEN": "t"}
    for config, where in (
        (load_config(path), f"the 'root' of {path}"),
        (load_config(environ=environment), "SCHEDY_ROOT"),
        (load_config(config_override={"root": url, "email": "a@b.c", "token": "t"}), "the root given to SchedyDB"),
    ):
        transport = Transport(config, retry=RetryPolicy(attempts=1))
        with pytest.raises(errors.ServiceUnreachableError) as info:
            transport.request("GET", "experiments/")
        assert str(info.value).endswith(f"point the client at the right one ({where}).")
        transport.close()


@pytest.mark.parametrize("closed_again", [True, False], ids=["closed-again", "garbage-collected"])
def test_a_connection_reopened_after_close_is_closed_too(stub: Stub, closed_again: bool) -> None:
    # `with SchedyDB() as db:` closes it at the end of the block; a lazy `exp.all_jobs()` read after it,
    # or any later call, reopens a connection, which close() or the garbage collector must close as well.
    stub.on("GET", "experiments/E/", Answer(200, EXP))
    transport = make_transport(stub.url)
    transport.request("GET", "experiments/E/")
    transport.close()
    assert transport.request("GET", "experiments/E/").json() == EXP  # reopened
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if closed_again:
            transport.close()
        del transport
        gc.collect()
    leaked = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaked
    assert len(stub.calls("GET", "experiments/E/")) == 2
