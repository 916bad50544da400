"""Artifacts on an S3-compatible server (moto's S3 server, started here) through ``--artifacts s3://…``."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import s3fs  # a dev dependency: a broken install fails here, it does not skip

import schedy
from schedy.testing import ServiceProcess, free_port
from tests.conftest import BACKENDS, _database_url

BUCKET = "schedy-artifacts"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """moto's S3 server on a free port, with an empty bucket; yields the environment to reach it."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port), "-H", "127.0.0.1"], stdout=log, stderr=log
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(endpoint + "/moto-api/"):  # noqa: S310 - our own loopback server
                break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("moto's S3 server did not start") from None
            time.sleep(0.1)
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FSSPEC_S3_ENDPOINT_URL": endpoint,
    }
    fs = s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=endpoint)
    fs.mkdir(BUCKET)
    yield env
    process.terminate()
    process.wait(10)
    log.close()


@pytest.fixture(scope="module", params=BACKENDS)
def s3_service(
    request: pytest.FixtureRequest, s3: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, str]]:
    home = tmp_path_factory.mktemp(f"s3-{request.param}")
    prefix = f"{BUCKET}/{request.param}"
    with pytest.MonkeyPatch.context() as patch:
        for key, value in s3.items():
            patch.setenv(key, value)
        process = ServiceProcess.start(
            home, _database_url(request.param, request, home), extra_args=("--artifacts", f"s3://{prefix}")
        )
    yield process, prefix
    process.stop()


def test_round_trip_and_delete_on_s3(s3_service: tuple[ServiceProcess, str], s3: dict[str, str], tmp_path: Path):
    process, prefix = s3_service
    fs = s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=s3["FSSPEC_S3_ENDPOINT_URL"])

    def objects() -> list[str]:
        fs.invalidate_cache()
        return [p for p in fs.find(prefix) if "/blobs/" in p]

    # 12 MiB: more than s3fs's 5 MiB block, so a multipart upload.
    source = tmp_path / "model.pt"
    source.write_bytes(os.urandom(12 << 20))
    with schedy.SchedyDB(config_override=process.new_user().client_config) as db:
        exp = schedy.ManualSearch("s3")
        db.add_experiment(exp)
        job = exp.add_job(hyperparameters={})
        saved = job.save_artifact(source)
        assert saved.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
        assert len(objects()) == 1
        back = job.load_artifact("model.pt", tmp_path / "back.pt")
        assert back.read_bytes() == source.read_bytes()
        assert [a.name for a in job.artifacts()] == ["model.pt"]
        job.delete()
        deadline = time.monotonic() + 15
        while objects() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert objects() == []
