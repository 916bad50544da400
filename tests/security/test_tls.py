"""``schedy server --tls-cert/--tls-key``: HTTPS, and a warning for plain HTTP beyond localhost.

The certificates come from trustme: a throwaway certificate authority, and a
server certificate it signed for 127.0.0.1; the client trusts that authority
through ``SSL_CERT_FILE``, as a team with its own authority would.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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
    """``schedy server ARGS``: what it printed when it exits at once, or (``wait``) by the time it listens.

    The start prints everything it has to say before it listens, so the output is read once the port
    accepts connections (or the process ended): at most ``wait`` × 15 seconds on a loaded machine.
    """
    # The machine's trust only, unless the test gives SSL_CERT_FILE.
    base = {k: v for k, v in clean_env(tmp_path).items() if k != "SSL_CERT_FILE"}
    env = base | {"SCHEDY_HOME": str(tmp_path / "data")} | (env or {})
    port = free_port()
    argv = schedy_argv("server", "--port", str(port), "--log-level", "warning", *args)
    if not wait:
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + wait * 15
    while process.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
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
        # A key without a certificate is a wrong argument (2); a file that cannot be used, a failure (1).
        assert done.returncode == (2 if expected.startswith("--tls-key needs") else 1), (args, done.stdout, done.stderr)
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
    assert "schedy gen-token --root https://gpu-box.example.test:" in out
    assert "  This machine does not trust the certificate (unable to get local issuer certificate)" in out
    # Trusted now, the name alone is left to say.
    out = _server(tmp_path / "b", "--tls-cert", str(cert), wait=4, env={"SSL_CERT_FILE": str(tmp_path / "ca.pem")})
    assert isinstance(out, str)
    assert "The certificate is for gpu-box.example.test, not 127.0.0.1" in out
    assert "does not trust" not in out
    # A self-signed certificate in a file of its own: that file is what the clients need.
    self_signed = trustme.CA()
    pem, key = tmp_path / "self-signed.pem", tmp_path / "self-signed-key.pem"
    pem.write_bytes(self_signed.cert_pem.bytes())
    key.write_bytes(self_signed.private_key_pem.bytes())
    out = _server(tmp_path / "c", "--tls-cert", str(pem), "--tls-key", str(key), wait=4)
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


def _self_signed(path: Path, *names: str, key_first: bool = True) -> bytes:
    """Write a self-signed certificate for ``names`` and its key to one file, as ``cat`` does; return the cert's PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alternatives: list[x509.GeneralName] = []
    for name in names:
        try:
            alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternatives.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(key_pem + cert_pem if key_first else cert_pem + key_pem)
    return cert_pem


def _first_start_lines(server: subprocess.Popen[str], count: int) -> list[str]:
    assert server.stdout is not None
    return [server.stdout.readline() for _ in range(count)]


def _until_started(home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``schedy list`` with the first start's configuration, once the service answers."""
    done = _client_list(home, **env)
    for _ in range(50):  # the service may still be starting
        if done.returncode == 0 or "Cannot reach" not in done.stderr:
            break
        done = _client_list(home, **env)
    return done


@pytest.mark.parametrize("key_first", [True, False], ids=["key-then-cert", "cert-then-key"])
def test_a_self_signed_certificate_whose_file_holds_the_key_is_handed_out_without_the_key(
    tmp_path: Path, key_first: bool
) -> None:
    """``cat cert.pem key.pem > both.pem; schedy server --tls-cert both.pem``: the clients get the certificate alone."""
    both = tmp_path / "both.pem"
    cert_pem = _self_signed(both, "127.0.0.1", "localhost", key_first=key_first)
    port = free_port()
    home = tmp_path / "home"
    argv = schedy_argv("server", "--port", str(port), "--log-level", "warning", "--tls-cert", str(both))
    env = {k: v for k, v in clean_env(home).items() if k != "SSL_CERT_FILE"}  # the machine's trust only
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as server:
        try:
            lines = _first_start_lines(server, 5)
            assert "but clients will refuse the service's certificate" in lines[3], lines
            advice = lines[4]
            assert advice.startswith("  This machine does not trust the certificate, which is self-signed"), lines
            named = Path(re.search(r"SSL_CERT_FILE=(\S+\.pem)", advice).group(1))  # type: ignore[union-attr]
            assert named != both.resolve()
            assert f"{both} also holds its private key" in advice
            # The file named holds the certificate, and nothing secret: anyone may read it.
            assert "PRIVATE KEY" not in named.read_text()
            assert named.read_bytes() == cert_pem
            assert named.stat().st_mode & 0o777 == 0o644
            assert named.parent == home / ".schedy"  # the data directory
            # It is what a client needs: the first start's configuration works with it.
            done = _until_started(home, SSL_CERT_FILE=str(named))
            assert done.returncode == 0, done.stderr
        finally:
            server.terminate()
            server.wait(30)


def test_the_advice_for_a_certificate_of_another_name_works_as_printed(tmp_path: Path) -> None:
    """The first start says which root to use; the printed ``schedy gen-token --root`` then works on this machine.

    The service listens on every address, so 127.0.0.2 (loopback too) leads to it, and the
    certificate names only that: the root it first writes, 127.0.0.1, is refused.
    """
    ca = trustme.CA()
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem.bytes())
    trusted = {"SSL_CERT_FILE": str(tmp_path / "ca.pem")}
    cert = _issued(tmp_path, ca, "127.0.0.2")
    port = free_port()
    home = tmp_path / "home"
    everywhere = "0.0.0.0"  # noqa: S104 - the service listens on every address: 127.0.0.2 too
    argv = schedy_argv(
        "server", "--host", everywhere, "--port", str(port), "--log-level", "warning", "--tls-cert", str(cert)
    )
    env = clean_env(home) | trusted
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as server:
        try:
            lines = _first_start_lines(server, 5)
            password = re.search(r"\(password: (\S+)\)", lines[1]).group(1)  # type: ignore[union-attr]
            advice = lines[4]
            assert advice.startswith("  The certificate is for 127.0.0.2, not 127.0.0.1: "), lines
            # Not SCHEDY_ROOT alone, which the client refuses: the environment replaces client.json as a whole.
            assert "SCHEDY_ROOT" not in advice
            command = re.search(r"(schedy gen-token --root https://\S+/)", advice).group(1)  # type: ignore[union-attr]
            assert command == f"schedy gen-token --root https://127.0.0.2:{port}/"
            assert _until_started(home, **trusted).returncode == 1  # the configuration first written: refused
            generated = subprocess.run(
                schedy_argv(*command.split()[1:], "--email", "admin@localhost"),
                input=password + "\n",
                capture_output=True,
                text=True,
                env=clean_env(home) | trusted,
                timeout=60,
                check=False,
            )
            assert generated.returncode == 0, generated.stderr
            done = _client_list(home, **trusted)
            assert done.returncode == 0, done.stderr
        finally:
            server.terminate()
            server.wait(30)


_SERVICE_PAGE = Path(__file__).resolve().parents[2] / "docs" / "service.md"
_DOC_ROOT, _DOC_CA, _DOC_EMAIL = "https://schedy.lab.example.org:8700/", "/etc/ssl/lab-ca.pem", "me@example.org"


def _worker_setups() -> dict[str, str]:
    """docs/service.md's ways to set up a worker of an HTTPS service: their shell lines, as written."""
    text = _SERVICE_PAGE.read_text()
    block = re.search(r"```\n(.*?)```", text[text.index("**Serving other machines.**") :], re.S)
    assert block is not None
    lines = textwrap.dedent(block.group(1)).splitlines()
    worker = lines[next(i for i, line in enumerate(lines) if line.startswith("# on each worker machine")) + 1 :]
    setups = {"gen-token": "\n".join(worker)}
    variables = re.search(r"`(export SCHEDY_ROOT=[^`]*)`", text)  # the page's other way, in its text
    if variables is not None:
        ca_line = next(line for line in worker if "SSL_CERT_FILE" in line)
        setups["variables"] = f"{ca_line}\n{variables.group(1)}"
    return setups


@pytest.mark.parametrize("setup", ["gen-token", "variables"])
def test_the_documented_worker_setup_works_as_written_with_a_stale_client_json(
    tmp_path: Path, pki: dict[str, Path], setup: str
) -> None:
    """docs/service.md's worker lines, the lab's names replaced by the test's, then ``schedy list``.

    The worker machine has a client.json of another service (``SCHEDY_ROOT`` alone was refused then).
    """
    home = tmp_path / "worker"
    (home / ".schedy").mkdir(parents=True)
    (home / ".schedy" / "client.json").write_text(
        json.dumps({"root": "http://old.example.invalid/", "email": "old@x.org", "token": "stale"})
    )
    args = ("--tls-cert", str(pki["cert"]), "--tls-key", str(pki["key"]))
    with ServiceProcess.start(tmp_path / "service", extra_args=args) as service:
        user = service.new_user()
        script = _worker_setups()[setup]
        for documented, ours in (
            (_DOC_ROOT, service.url),
            (_DOC_CA, str(pki["ca"])),
            (_DOC_EMAIL, user.email),
            ("SCHEDY_TOKEN=…", f"SCHEDY_TOKEN={user.api_token}"),
        ):
            script = script.replace(documented, ours)
        # `schedy` is this interpreter's; then the worker's first command.
        shell = f'set -e\nschedy() {{ "{sys.executable}" -m schedy.cli.main "$@"; }}\n{script}\nschedy list\n'
        env = {k: v for k, v in clean_env(home).items() if k != "SSL_CERT_FILE"}
        done = subprocess.run(
            ["bash", "-c", shell],  # the shell the page's lines are written for
            input=user.password + "\n",  # what gen-token asks for
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, f"{script}\n{done.stderr}"
    # No error; gen-token says whose configuration it replaced (the stale one, of another user).
    notices = [line for line in done.stderr.splitlines() if "schedy:" in line]
    expected = ["schedy: it replaced the configuration of old@x.org"] if setup == "gen-token" else []
    assert [line.split(" (")[0] for line in notices] == expected, done.stderr
