"""``schedy artifact get -o PATH`` (``job.load_artifact(name, to)``) where PATH is not a plain file.

A download goes to a temporary file renamed into place, which replaced whatever PATH was: a
symbolic link lost its link (its target unchanged), a FIFO became a regular file its reader
never saw, and, as root, ``-o /dev/full`` replaced the device node with a file. A link is now
written through and a FIFO or a device written into; a destination that cannot be written is
said so at once, not retried as a failure of the service.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import schedy


def _artifact(cli, tmp_path: Path, content: bytes) -> str:
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch("dest"))
        job = db.get_experiment("dest").add_job(hyperparameters={"x": 1})
        source = tmp_path / "weights.bin"
        source.write_bytes(content)
        job.save_artifact(source, name="model.pt")
        return job.job_id


def test_a_symbolic_link_is_written_through_and_stays_a_link(cli, tmp_path: Path) -> None:
    content = os.urandom((1 << 20) + 5)
    job_id = _artifact(cli, tmp_path, content)
    target = tmp_path / "store" / "model.pt"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "current.pt"
    link.symlink_to(target)

    said = cli.ok("artifact", "get", "dest", job_id, "model.pt", "-o", str(link))
    assert "1.0 MiB written" in said
    assert link.is_symlink()
    assert link.resolve() == target.resolve()
    assert target.read_bytes() == content
    assert [p.name for p in target.parent.iterdir()] == ["model.pt"]  # no temporary file left


def test_a_fifo_gets_the_bytes_and_stays_a_fifo(cli, tmp_path: Path) -> None:
    content = os.urandom(3 * (1 << 20) + 11)
    job_id = _artifact(cli, tmp_path, content)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()

    said = cli.ok("artifact", "get", "dest", job_id, "model.pt", "-o", str(fifo))
    reader.join(60)
    assert received == [content]
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert said.strip() == f"model.pt: written to {fifo}."


def test_a_destination_that_cannot_be_written_is_said_at_once_not_blamed_on_the_service(cli, tmp_path: Path) -> None:
    job_id = _artifact(cli, tmp_path, b"checkpoint")
    refused = cli("artifact", "get", "dest", job_id, "model.pt", "-o", "/proc/schedy-cannot-write-here")
    assert refused.returncode == 1
    assert "/proc/" in refused.stderr
    assert "No such file or directory" in refused.stderr
    assert "service" not in refused.stderr  # a local problem: no "No answer from the Schedy service", no retries
    assert len(refused.stderr.strip().splitlines()) == 1
