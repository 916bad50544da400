"""Will a client on this machine accept the service's certificate? Checked before ``schedy server`` says so.

On its first start the service writes a client configuration naming the
root it serves at (``https://127.0.0.1:8700/`` for a service listening on
loopback or every address) and says ``schedy.SchedyDB()`` now works. With
``--tls-cert`` that holds only if the certificate names that host and this
machine trusts it; a certificate made for the machine's host name, or a
self-signed one, fails the client's verification at the first request.

So, before it starts, the service plays both sides of a TLS handshake in
memory (no socket): its own certificate and key on one side, on the other
the context every client uses (:func:`ssl.create_default_context`, which
honours ``SSL_CERT_FILE``), asking for the root's host. When the certificate
does not name that host but names ``localhost``, the root becomes
``https://localhost:PORT/``; otherwise :func:`check` returns what to do, one
sentence per problem, which the service prints instead of "now works here".

A self-signed certificate is what the clients must trust (``SSL_CERT_FILE``).
When its file also holds the private key (``--tls-key`` defaults to the
certificate's file), that file is never the one named: the certificates alone
are copied to a file of their own (``certificate_copy``, in the data
directory), which is named instead.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = ["LocalCheck", "certificate_names", "check"]

#: Rounds of the in-memory handshake before it is given up (TLS 1.3 needs two or three).
_ROUNDS = 8

#: A PEM certificate block; a private key's PEM label ends with "PRIVATE KEY" (PKCS#8, RSA, EC, encrypted).
_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.S)
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")


@dataclass(frozen=True)
class LocalCheck:
    """What a client on this machine makes of the certificate.

    Attributes:
        root: the root to give local clients: the one asked for, or ``https://localhost:PORT/``
            when only that name is in the certificate.
        problems: what to do for the client to accept it (empty: it does).

    """

    root: str
    problems: tuple[str, ...]


def certificate_names(cert: str) -> list[str]:
    """The host names and addresses a PEM certificate is valid for (its subjectAltName, else its CN).

    Empty when they cannot be read (Python's decoder of a certificate file is not public API).
    """
    try:
        decoded = ssl._ssl._test_decode_cert(cert)  # type: ignore[attr-defined]
    except (AttributeError, OSError, ssl.SSLError):
        return []
    names = [str(value) for kind, value in decoded.get("subjectAltName", ()) if kind in ("DNS", "IP Address")]
    if names:
        return names
    return [str(value) for rdn in decoded.get("subject", ()) for key, value in rdn if key == "commonName"]


def _verify(server: ssl.SSLContext, client: ssl.SSLContext, host: str | None) -> ssl.SSLCertVerificationError | None:
    """Play a handshake between the two contexts in memory; the client's verification error, if any."""
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    near = client.wrap_bio(client_in, client_out, server_side=False, server_hostname=host)
    far = server.wrap_bio(server_in, server_out, server_side=True)
    for _ in range(_ROUNDS):
        finished = True
        try:
            near.do_handshake()
        except ssl.SSLWantReadError:
            finished = False
        except ssl.SSLCertVerificationError as exc:
            return exc
        server_in.write(client_out.read())
        try:
            far.do_handshake()
        except ssl.SSLWantReadError:
            finished = False
        except ssl.SSLError:  # the client gave up: its own error says why
            pass
        client_in.write(server_out.read())
        if finished:
            return None
    return None  # no verdict (not expected): say nothing rather than something wrong


def _covers(names: list[str], host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for name in names:
        if address is not None:
            try:
                if ipaddress.ip_address(name) == address:
                    return True
            except ValueError:
                continue
        elif name.lower() == host.lower() or (
            name.startswith("*.") and host.lower().partition(".")[2] == name[2:].lower()
        ):
            return True
    return False


def _shareable(cert: str, copy: Path | None) -> tuple[Path | None, str]:
    """The file to give clients as ``SSL_CERT_FILE`` for the self-signed certificate in ``cert``, and why that one.

    ``cert`` itself when it holds no private key; else ``copy``, written with the certificates of
    ``cert`` alone (readable by all: nothing secret in it); ``None`` when there is no copy to name.
    """
    try:
        text = Path(cert).read_text(encoding="ascii", errors="replace")
    except OSError:
        return None, ""
    if not _PRIVATE_KEY.search(text):
        return Path(cert).resolve(), ""
    certificates = _CERTIFICATE.findall(text)
    if copy is None or not certificates:
        return None, ""
    content = "\n".join(block.replace("\r\n", "\n") for block in certificates) + "\n"
    try:
        copy.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not copy.is_file() or copy.read_text(encoding="ascii", errors="replace") != content:
            temporary = copy.with_name(f".{copy.name}.tmp")
            temporary.write_text(content, encoding="ascii")
            temporary.chmod(0o644)
            temporary.replace(copy)
    except OSError:
        return None, ""
    return copy.resolve(), f" (the certificate alone: {cert} also holds its private key, which stays with the service)"


def check(
    server: ssl.SSLContext, cert: str, root: str, *, local: bool, certificate_copy: Path | None = None
) -> LocalCheck:
    """Whether a client on this machine accepts the service's certificate at ``root``, and what to do if not.

    Args:
        server: the service's TLS context, its certificate and key loaded.
        cert: the certificate's file, named in the advice.
        root: the root clients are to use.
        local: ``root`` is one the service chose for this machine (not ``--public-url``): it may be
            changed to ``https://localhost:PORT/`` when the certificate names only that.
        certificate_copy: where to write the certificate alone when it is self-signed and ``cert``
            also holds the private key: the file the advice names then (never ``cert``).

    """
    parts = urlsplit(root)
    host = parts.hostname or ""
    names = certificate_names(cert)
    if local and names and not _covers(names, host) and _covers(names, "localhost"):
        root = urlunsplit(parts._replace(netloc=f"localhost:{parts.port}" if parts.port else "localhost"))
        host = "localhost"
    client = ssl.create_default_context()
    failure = _verify(server, client, host)
    if failure is None:
        return LocalCheck(root, ())
    problems = []
    if names and not _covers(names, host):
        valid = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        other = urlunsplit(parts._replace(netloc=_netloc(names[0], parts.port)))
        # Not SCHEDY_ROOT alone: the environment replaces client.json as a whole (schedy._config).
        how = (
            f"their client configuration written by schedy gen-token --root {other}"
            if local
            # The service answers gen-token with --public-url as the root: that is what must change.
            else f"--public-url {other}, then schedy gen-token --root {other} on each client"
        )
        problems.append(
            f"The certificate is for {valid}, not {host}: clients reach the service by a name it was made for, "
            f"one that leads to this service (e.g. {how}), or serve a certificate that names {host}."
        )
    client.check_hostname = False
    trust = _verify(server, client, None)
    if trust is not None:
        if trust.verify_code == 18:  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
            shared, why = _shareable(cert, certificate_copy)
            if shared is not None:
                problems.append(
                    "This machine does not trust the certificate, which is self-signed: give the clients "
                    f"SSL_CERT_FILE={shared}{why}."
                )
            else:  # never the file with the key in it
                problems.append(
                    "This machine does not trust the certificate, which is self-signed: give the clients "
                    f"SSL_CERT_FILE naming a file of the certificate alone, without the private key of {cert} "
                    f"(openssl x509 -in {cert} -out CERT.pem)."
                )
        else:
            reason = trust.verify_message or trust.reason or str(trust)
            problems.append(
                f"This machine does not trust the certificate ({reason}): give the clients SSL_CERT_FILE "
                "naming the PEM file of the authority that signed it."
            )
    if not problems:  # neither the name nor the trust alone: say what the client said
        problems.append(f"A client would refuse the certificate: {failure.verify_message or failure}.")
    return LocalCheck(root, tuple(problems))


def _netloc(name: str, port: int | None) -> str:
    shown = f"[{name}]" if ":" in name else name
    return f"{shown}:{port}" if port else shown
