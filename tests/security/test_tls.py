"""``schedy server --tls-cert/--tls-key``: HTTPS, and a warning for plain HTTP beyond localhost.

The certificates come from trustme: a throwaway certificate authority, and a
server certificate it signed for 127.0.0.1; the client trusts that authority
through ``SSL_CERT_FILE``, as a team with its own authority would.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import trustme
from cryptography.hazmat.primitives import serialization

import schedy
from schedy.errors import UntrustedCertificateError
from schedy.server.dashboard.routes import PREFIX
from schedy.server.runner import local_root
from schedy.testing import ServiceProcess, free_port
from tests.cli.conftest import clean_env, schedy_argv
from tests.conftest import _database_url


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A certificate authority and a certificate for 127.0.0.1 it signed, as PEM files."""
    where = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    files = {name: where / f"{name}.pem" for name in ("ca", "cert", "key", "both", "stranger")}
    ca.cert_pem.write_to_path(str(files["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    cert.private_key_and_cert_chain_pem.write_to_path(str(files["both"]))
    trustme.CA().cert_pem.write_to_path(str(files["stranger"]))  # an authority that signed nothing of ours
    return files


@pytest.fixture(params=["sqlite", "postgres"])
def https_service(request: pytest.FixtureRequest, tmp_path: Path, pki: dict[str, Path]):
    url = _database_url(request.param, request, tmp_path)
    args = ("--tls-cert", str(pki["cert"]), "--tls-key", str(pki["key"]))
    with ServiceProcess.start(tmp_path / "home", url, extra_args=args) as service:
        yield service


def test_workers_claim_report_and_store_artifacts_over_https(
    https_service: ServiceProcess, pki: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert https_service.url.startswith("https://")
    monkeypatch.setenv("SSL_CERT_FILE", str(pki["ca"]))
    config = https_service.new_user().client_config
    content = os.urandom(3 * (1 << 20) + 5)
    (tmp_path / "model.bin").write_bytes(content)
    with schedy.SchedyDB(config_override=config) as db:
        db.add_experiment(schedy.RandomSearch("tls", {"x": schedy.random.Uniform(0, 1)}))
        exp = db.get_experiment("tls")
        with exp.next_job() as job:  # a lease and heartbeats, over TLS
            assert job.report(1, loss=0.5) is False
            job.save_artifact(tmp_path / "model.bin")
            assert job.load_artifact("model.bin", tmp_path / "back.bin").read_bytes() == content
            job.results["loss"] = 0.25
        done = exp.get_job(job.job_id)
        steps = [report["step"] for report in done.reports()]
    assert (done.status, done.results, steps) == (schedy.Job.DONE, {"loss": 0.25}, [1])
    # The first start's client configuration names the https root.
    assert https_service.first_start_config()["root"] == https_service.url
    # The dashboard's session cookie is Secure: the browser never sends it over plain HTTP.
    user = https_service.new_user()
    credentials = {"email": user.email, "password": user.password}
    login = httpx.post(
        https_service.url + PREFIX.strip("/") + "/session/",
        json=credentials,
        verify=ssl.create_default_context(cafile=pki["ca"]),
    )
    assert login.status_code == 200, login.text
    assert all("Secure" in cookie for cookie in login.headers.get_list("set-cookie"))


def test_a_client_that_does_not_trust_the_certificate_is_told_what_to_do(
    https_service: ServiceProcess, pki: dict[str, Path], tmp_path: Path
) -> None:
    config = tmp_path / "client.json"
    config.write_text(json.dumps(https_service.new_user().client_config))
    home = tmp_path / "client-home"
    home.mkdir()
    for trusted in (None, pki["stranger"]):  # the system's authorities only; an authority that signed nothing
        env = clean_env(home)
        env.pop("SSL_CERT_FILE", None)
        if trusted is not None:
            env["SSL_CERT_FILE"] = str(trusted)
        done = subprocess.run(
            schedy_argv("--config", str(config), "list"),
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert done.returncode == 1
        (line,) = done.stderr.splitlines()
        assert line.startswith(f"schedy: The service at {https_service.url} presented a TLS certificate this machine")
        assert "point SSL_CERT_FILE at that authority's PEM file" in line
    with pytest.raises(UntrustedCertificateError, match="does not trust"):
        list(schedy.SchedyDB(config_override=https_service.new_user().client_config).get_experiments())
    # A client given the http:// root of an HTTPS service learns which scheme to use.
    plain = json.loads(config.read_text()) | {"root": https_service.url.replace("https://", "http://")}
    config.write_text(json.dumps(plain))
    done = subprocess.run(
        schedy_argv("--config", str(config), "list"), capture_output=True, text=True, env=clean_env(home), timeout=60
    )
    assert done.returncode == 1
    assert "its root is https://, not http://" in done.stderr


def _server(
    tmp_path: Path, *args: str, wait: float = 0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str] | str:
    """``schedy server ARGS``: what it printed when it exits at once, or in its first ``wait`` seconds."""
    # The machine's trust only, unless the test gives SSL_CERT_FILE.
    base = {k: v for k, v in clean_env(tmp_path).items() if k != "SSL_CERT_FILE"}
    env = base | {"SCHEDY_HOME": str(tmp_path / "data")} | (env or {})
    argv = schedy_argv("server", "--port", str(free_port()), "--log-level", "warning", *args)
    if not wait:
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        out, _ = process.communicate(timeout=wait)
    except subprocess.TimeoutExpired:
        process.terminate()
        out, _ = process.communicate(timeout=30)
    return out


def test_unusable_certificate_files_stop_the_start_with_one_sentence(tmp_path: Path, pki: dict[str, Path]) -> None:
    other = trustme.CA().issue_cert("127.0.0.1")
    other.private_key_pem.write_to_path(str(tmp_path / "other-key.pem"))
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    encrypted = tmp_path / "encrypted-key.pem"
    encrypted.write_bytes(
        serialization.load_pem_private_key(pki["key"].read_bytes(), None).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    cases = [
        (("--tls-cert", str(tmp_path / "missing.pem")), "Cannot serve HTTPS: no file"),
        (("--tls-key", str(pki["key"])), "--tls-key needs --tls-cert"),
        (("--tls-cert", str(tmp_path / "junk.pem")), "--tls-cert takes a PEM certificate"),
        (("--tls-cert", str(pki["cert"])), "--tls-cert takes a PEM certificate"),  # no key in it, none given
        (
            ("--tls-cert", str(pki["cert"]), "--tls-key", str(tmp_path / "other-key.pem")),
            "the key is not this certificate's",
        ),
        (
            ("--tls-cert", str(pki["cert"]), "--tls-key", str(encrypted)),
            "it is encrypted, and the service starts unattended",  # not a passphrase prompt that blocks the start
        ),
    ]
    for args, expected in cases:
        done = _server(tmp_path, *args)
        assert isinstance(done, subprocess.CompletedProcess)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        (line,) = done.stderr.splitlines()
        assert line.startswith("schedy: "), line
        assert expected in line, (args, line)
    assert not (tmp_path / "data").exists()  # refused before the database was created


def test_plain_http_beyond_this_machine_is_warned_about_and_https_is_not(tmp_path: Path, pki: dict[str, Path]) -> None:
    warning = "Warning: serving plain HTTP on 0.0.0.0: passwords, API tokens and session tokens cross the network"
    assert warning in _server(tmp_path / "a", "--host", "0.0.0.0", wait=4)  # noqa: S104
    assert "Warning" not in _server(tmp_path / "b", wait=4)  # 127.0.0.1, the default
    with_tls = _server(tmp_path / "c", "--host", "0.0.0.0", "--tls-cert", str(pki["both"]), wait=4)  # noqa: S104
    assert "is serving" in with_tls
    assert "at https://127.0.0.1:" in with_tls
    assert "Warning" not in with_tls
    behind_proxy = _server(tmp_path / "d", "--host", "0.0.0.0", "--public-url", "https://schedy.example.org/", wait=4)  # noqa: S104
    assert "Warning" not in behind_proxy


def test_the_printed_and_written_root_is_one_a_client_can_use() -> None:
    """A wildcard is reached at 127.0.0.1; an IPv6 address needs brackets (``http://::1:8700/`` parses as no port)."""
    assert local_root("0.0.0.0", 8700, https=False) == "http://127.0.0.1:8700/"  # noqa: S104
    assert local_root("::", 8700, https=True) == "https://127.0.0.1:8700/"
    assert local_root("::1", 8701, https=False) == "http://[::1]:8701/"
    assert local_root("10.1.2.3", 443, https=True) == "https://10.1.2.3:443/"
    for host in ("::1", "fe80::1", "schedy.lab"):
        assert urlsplit(local_root(host, 8702, https=False)).port == 8702


def _issued(tmp_path: Path, ca: trustme.CA, *names: str) -> Path:
    """A file holding a certificate for ``names`` signed by ``ca``, then its key."""
    path = tmp_path / f"{names[0]}.pem"
    ca.issue_cert(*names).private_key_and_cert_chain_pem.write_to_path(str(path))
    return path


def _client_list(home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``schedy list`` with the configuration the first start wrote in ``home``."""
    return subprocess.run(
        schedy_argv("list"), capture_output=True, text=True, env=clean_env(home) | env, timeout=60, check=False
    )


def test_the_first_start_says_what_clients_need_when_they_would_refuse_the_certificate(tmp_path: Path) -> None:
    """Not "schedy.SchedyDB() now works here" when its first request would fail the certificate's check."""
    ca = trustme.CA()
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem.bytes())
    # A certificate for the machine's host name (not 127.0.0.1), by an authority this machine does not trust.
    cert = _issued(tmp_path, ca, "gpu-box.example.test")
    out = _server(tmp_path / "a", "--tls-cert", str(cert), wait=4)
    assert isinstance(out, str)
    assert "now works here" not in out
    assert "but clients will refuse the service's certificate at https://127.0.0.1:" in out
    assert "  The certificate is for gpu-box.example.test, not 127.0.0.1: clients reach the service by a name" in out
    assert "SCHEDY_ROOT=https://gpu-box.example.test:" in out
    assert "  This machine does not trust the certificate (unable to get local issuer certificate)" in out
    # Trusted now, the name alone is left to say.
    out = _server(tmp_path / "b", "--tls-cert", str(cert), wait=4, env={"SSL_CERT_FILE": str(tmp_path / "ca.pem")})
    assert isinstance(out, str)
    assert "The certificate is for gpu-box.example.test, not 127.0.0.1" in out
    assert "does not trust" not in out
    # A self-signed certificate: its own file is what the clients need.
    self_signed = trustme.CA()
    pem = tmp_path / "self-signed.pem"
    pem.write_bytes(self_signed.private_key_pem.bytes() + self_signed.cert_pem.bytes())
    out = _server(tmp_path / "c", "--tls-cert", str(pem), wait=4)
    assert isinstance(out, str)
    assert (
        f"This machine does not trust the certificate, which is self-signed: give the clients SSL_CERT_FILE={pem}."
        in out
    )


def test_a_certificate_for_localhost_only_makes_the_first_start_root_localhost(tmp_path: Path) -> None:
    """The written configuration then works as said: a real request from this machine succeeds."""
    ca = trustme.CA()
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem.bytes())
    trusted = {"SSL_CERT_FILE": str(tmp_path / "ca.pem")}
    cert = _issued(tmp_path, ca, "localhost")
    port = free_port()
    home = tmp_path / "home"
    env = clean_env(home) | trusted  # the data and the client's configuration in home/.schedy
    argv = schedy_argv("server", "--port", str(port), "--log-level", "warning", "--tls-cert", str(cert))
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as server:
        try:
            assert server.stdout is not None
            lines = [server.stdout.readline() for _ in range(4)]
            assert lines[0].endswith(f" at https://localhost:{port}/\n"), lines
            assert "schedy.SchedyDB() now works here." in lines[3], lines
            config = json.loads((home / ".schedy" / "client.json").read_text())
            assert config["root"] == f"https://localhost:{port}/"
            done = _client_list(home, **trusted)
            for _ in range(50):  # the service may still be starting
                if done.returncode == 0 or "Cannot reach" not in done.stderr:
                    break
                done = _client_list(home, **trusted)
            assert done.returncode == 0, done.stderr
        finally:
            server.terminate()
            server.wait(30)


def test_a_certificate_the_clients_accept_is_not_warned_about(tmp_path: Path, pki: dict[str, Path]) -> None:
    out = _server(tmp_path, "--tls-cert", str(pki["both"]), wait=4, env={"SSL_CERT_FILE": str(pki["ca"])})
    assert isinstance(out, str)
    assert "schedy.SchedyDB() now works here." in out
    assert "refuse" not in out
