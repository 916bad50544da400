"""The transport in a forked child, and an https:// root of a plain-HTTP service (real service, real HTTP)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import pytest

import schedy
from schedy._transport import _Token
from schedy.errors import HTTPError, ServiceUnreachableError
from schedy.testing import ServiceProcess
from tests.conftest import Service


def test_a_process_forked_while_another_thread_renews_the_token_is_not_left_hanging(
    database_url: str, tmp_path: Path
) -> None:
    """A DataLoader-style worker forked while the JWT is being renewed during an outage.

    Before, the renewing thread held the transport's auth lock through its minute of retries; the child
    inherited it held, by a thread that does not exist there, and its first request hung for ever, even
    once the service was back.
    """
    home = tmp_path / "home"
    service = ServiceProcess.start(home, database_url)
    port = service.port
    db = schedy.SchedyDB(config_override=service.new_user().client_config, heartbeat=0)
    exp = db.add_experiment(schedy.ManualSearch("forked"))
    exp.add_job(hyperparameters={"x": 1})
    job = exp.next_job()
    transport = db._transport
    assert transport._token is not None
    service.stop()
    # The JWT reaches its renewal time while the service is away: another thread renews it, and retries.
    transport._token = _Token(transport._token.header.split(" ", 1)[1], time.monotonic() - 1)

    def renew() -> None:
        with contextlib.suppress(HTTPError):
            transport.request("GET", "experiments/")

    renewer = threading.Thread(target=renew, daemon=True)
    renewer.start()
    time.sleep(1.0)  # renewing: its login is being retried
    pid = os.fork()
    if pid == 0:  # the child: report once the service is back, or die of the alarm
        signal.signal(signal.SIGALRM, signal.SIG_DFL)  # a hang ends in SIGALRM (pytest-timeout sets a handler)
        signal.alarm(40)
        try:
            job.report(1, loss=0.5)
        except BaseException:  # any failure is the child's exit status
            os._exit(2)
        os._exit(0)
    try:
        service = ServiceProcess.start(home, database_url, port=port)
        deadline = time.monotonic() + 45
        status = None
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.2)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child's report still hung after the service came back")
        assert status is not None
        assert os.WIFEXITED(status), f"child ended with status {status}"
        assert os.WEXITSTATUS(status) == 0, f"child ended with status {status}"
        renewer.join(60)
        assert [report["step"] for report in exp.get_job(job.job_id).reports()] == [1]
    finally:
        service.stop()
        db.close()


def test_an_https_root_of_a_plain_http_service_says_so_at_once(service: Service) -> None:
    """Before: a minute of "[SSL: WRONG_VERSION_NUMBER] …; retrying", then an error blaming an outage."""
    root = service.url.replace("http://", "https://")
    started = time.monotonic()
    config = {**service.client_config, "root": root}
    with schedy.SchedyDB(config_override=config) as db, pytest.raises(ServiceUnreachableError) as caught:
        list(db.get_experiments())
    assert time.monotonic() - started < 5
    assert str(caught.value).startswith(
        f"The service at {root} speaks plain HTTP, not HTTPS: use the root {service.url} (the root given to SchedyDB)"
    )
