"""Artifacts go through the proxy HTTP_PROXY/HTTPS_PROXY name, as the client's other requests do (real service).

The forward proxy of test_proxy_hunt6 stands between the client and the service: it alone knows the name
``schedy.internal``. Before, the transport's requests went through it but an artifact's upload or download
connected straight to ``schedy.internal``, which this machine cannot resolve: ``save_artifact`` failed
after its retries ("No answer from the Schedy service … gaierror"), though every other call worked.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trustme

import schedy
from schedy.testing import ServiceProcess
from tests.client import test_proxy_hunt6
from tests.client.test_proxy_hunt6 import NAME, _Proxy
from tests.conftest import Service

# That test's forward proxy and clean proxy variables, as fixtures of this module.
proxy = test_proxy_hunt6.proxy
clean_proxy_env = test_proxy_hunt6.clean_proxy_env


def _save_and_load(db: schedy.SchedyDB, tmp_path: Path) -> tuple[bytes, Path]:
    content = b"checkpoint " * 1000
    source = tmp_path / "model.pt"
    source.write_bytes(content)
    exp = db.add_experiment(schedy.ManualSearch("proxied-artifacts"))
    exp.add_job(hyperparameters={"x": 1})
    with exp.next_job() as job:
        stored = job.save_artifact(source)
        job.results["loss"] = 0.5
    assert (stored.name, stored.size, stored.sha256) == ("model.pt", len(content), hashlib.sha256(content).hexdigest())
    again = exp.get_job(job.job_id)
    return content, again.load_artifact("model.pt", tmp_path / "out" / "model.pt")


def test_artifacts_of_an_http_root_go_through_http_proxy(
    service: Service, proxy: type[_Proxy], clean_proxy_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    port = urlsplit(service.url).port
    clean_proxy_env.setenv("HTTP_PROXY", f"http://me:secret@127.0.0.1:{proxy.port}")  # type: ignore[attr-defined]
    config = {**service.client_config, "root": f"http://{NAME}:{port}/"}
    (tmp_path / "out").mkdir()
    with schedy.SchedyDB(config_override=config, max_attempts=2) as db:
        content, loaded = _save_and_load(db, tmp_path)
    assert loaded.read_bytes() == content
    artifact_lines = [line for line in proxy.seen if "/artifacts/model.pt/" in line]
    assert [line.split(" ", 1)[0] for line in artifact_lines] == ["PUT", "GET"], proxy.seen
    assert all(line.split(" ", 1)[1].startswith(f"http://{NAME}:{port}/") for line in artifact_lines)
    assert None not in proxy.authorizations  # the artifacts' requests carried the proxy's credentials too


def test_artifacts_of_an_https_root_go_through_a_connect_tunnel(
    tmp_path: Path, proxy: type[_Proxy], clean_proxy_env: pytest.MonkeyPatch
) -> None:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    ca.issue_cert(NAME).private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "both.pem"))
    with ServiceProcess.start(tmp_path / "home", extra_args=("--tls-cert", str(tmp_path / "both.pem"))) as service:
        user = service.new_user()
        clean_proxy_env.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
        clean_proxy_env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")  # type: ignore[attr-defined]
        config = {**user.client_config, "root": f"https://{NAME}:{service.port}/"}
        (tmp_path / "out").mkdir()
        with schedy.SchedyDB(config_override=config, max_attempts=2) as db:
            content, loaded = _save_and_load(db, tmp_path)
    assert loaded.read_bytes() == content
    assert set(proxy.tunnels) == {f"{NAME}:{service.port}"}
    assert proxy.seen == []  # TLS end to end: the certificate (made for schedy.internal only) checked for its name
