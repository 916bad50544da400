"""``schedy.testing.ServiceProcess.start`` fails when its own service cannot listen, even if another answers (hunt6).

It waited for any answer to ``/ping/`` on the port, so on a port another service held (``free_port()`` then
``start()`` races under pytest-xdist) it returned as started: its process exited moments later, and the test
talked to the other service.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import schedy
from schedy.testing import ServiceProcess


def test_start_on_a_port_another_service_holds_raises_the_servers_sentence(tmp_path: Path) -> None:
    # A first start of "b" leaves its "is serving" line in b's log: an earlier start's line must not count.
    earlier = ServiceProcess.start(tmp_path / "b")
    port = earlier.port
    earlier.stop()
    with ServiceProcess.start(tmp_path / "a", port=port) as holder:
        with pytest.raises(RuntimeError) as raised:
            ServiceProcess.start(tmp_path / "b", port=port)
        message = str(raised.value)
        assert f"Cannot listen on 127.0.0.1:{port} (Address already in use)" in message
        assert message.count("is serving") == 0  # this start's lines only, not the earlier start's
        assert holder.process.poll() is None
        with schedy.SchedyDB(config_override=holder.new_user().client_config) as db:
            assert list(db.get_experiments()) == []  # the holder goes on serving, untouched
