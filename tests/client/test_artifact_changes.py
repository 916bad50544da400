"""A file that changes while ``save_artifact`` sends it, and files that are not regular files.

The uploads go through a TCP relay to the real service that holds an upload
once its first MiB went through: the file (64 MiB, far more than the
sockets' buffers) is changed while the client is still sending it, then the
upload goes on. Nothing of the client is patched.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import schedy
from schedy import errors

_SIZE = 64 << 20
_HOLD_AFTER = 1 << 20


class _Relay:
    """Forwards TCP connections to the service; holds the first to send over ``_HOLD_AFTER`` bytes until released.

    ``corrupt``: flip one byte of that connection's, past where it would be held, instead of holding it.
    """

    def __init__(self, port: int, *, corrupt: bool = False) -> None:
        self.upstream = port
        self.corrupt = corrupt
        self.held = threading.Event()
        self.release = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upload: bool) -> None:
        count = 0
        try:
            while data := source.recv(1 << 16):
                count += len(data)
                if upload and count > _HOLD_AFTER and not self.held.is_set():
                    self.held.set()
                    if self.corrupt:
                        data = data[:-1] + bytes([data[-1] ^ 1])
                    else:
                        self.release.wait(60)
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.release.set()
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def relay(service: Any) -> Iterator[_Relay]:
    proxy = _Relay(service.process.port)
    yield proxy
    proxy.close()


def _job_through(relay: _Relay, service: Any) -> tuple[schedy.SchedyDB, schedy.Job]:
    db = schedy.SchedyDB(config_override={**service.client_config, "root": f"http://127.0.0.1:{relay.port}/"})
    exp = schedy.ManualSearch("changes")
    db.add_experiment(exp)
    return db, exp.add_job(hyperparameters={})


def _checkpoint(path: Path) -> Path:
    path.write_bytes(hashlib.sha256(b"seed").digest() * (_SIZE // 32))
    old = time.time() - 3600  # so that a write now changes its modification time, whatever the clock's tick
    os.utime(path, (old, old))
    return path


def _grow(path: Path) -> None:
    with path.open("ab") as file:
        file.write(b"\1" * (6 << 20))


def _rewrite(path: Path) -> None:
    with path.open("r+b") as file:  # in place, past what was sent by now: same size
        file.seek(_SIZE - (1 << 20))
        file.write(b"\2" * 4096)


def _replace(path: Path) -> None:
    fresh = path.with_name("fresh")
    fresh.write_bytes(b"\3" * 1000)
    os.replace(fresh, path)


def _blobs_in_progress(service: Any) -> list[Path]:
    return list((service.process.home / "artifacts" / "tmp").glob("*.part"))


@pytest.mark.parametrize("change", [_grow, _rewrite, _replace], ids=["grown", "rewritten", "replaced"])
def test_a_file_changed_during_its_upload_is_refused_and_nothing_is_saved(
    change: Any, relay: _Relay, service: Any, tmp_path: Path
) -> None:
    db, job = _job_through(relay, service)
    with db:
        path = _checkpoint(tmp_path / "ck.bin")
        with ThreadPoolExecutor(1) as pool:
            saving = pool.submit(job.save_artifact, path)
            assert relay.held.wait(30), "the upload never went through the relay"
            change(path)
            relay.release.set()
            with pytest.raises(ValueError, match="changed while it was uploaded") as caught:
                saving.result(60)
        message = str(caught.value)
        assert message.startswith(f"{str(path)!r} changed while it was uploaded (")
        assert message.endswith("so nothing was saved: save it once it is complete.")
        assert "damaged in transit" not in message
        assert job.artifacts() == []
        deadline = time.monotonic() + 10
        while _blobs_in_progress(service) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _blobs_in_progress(service) == []
        # Once it is complete, it is saved, all of it.
        saved = job.save_artifact(path)
        assert (saved.size, saved.sha256) == (path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())


def test_an_unchanged_file_damaged_in_transit_is_still_said_so(service: Any, tmp_path: Path) -> None:
    relay = _Relay(service.process.port, corrupt=True)
    try:
        db, job = _job_through(relay, service)
        with db:
            path = _checkpoint(tmp_path / "ck.bin")
            with pytest.raises(errors.ClientRequestError, match="it was damaged in transit, and nothing was saved"):
                job.save_artifact(path)
            assert relay.held.is_set()
            assert job.artifacts() == []
    finally:
        relay.close()


def test_files_that_are_not_regular_files_are_refused(db: schedy.SchedyDB, tmp_path: Path) -> None:
    exp = schedy.ManualSearch("special")
    db.add_experiment(exp)
    job = exp.add_job(hyperparameters={})
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for path in ("/dev/null", "/proc/self/status", str(fifo)):
        with pytest.raises(ValueError, match=r"is not a regular file \(") as caught:
            job.save_artifact(path, name="special")
        assert str(caught.value).startswith(f"{path!r} is not a regular file")
    assert job.artifacts() == []
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert job.save_artifact(empty).size == 0  # an empty regular file is still fine
    with pytest.raises(FileNotFoundError, match="No file to save as an artifact at"):
        job.save_artifact(tmp_path / "missing")
