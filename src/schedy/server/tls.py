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
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = ["LocalCheck", "certificate_names", "check"]

#: Rounds of the in-memory handshake before it is given up (TLS 1.3 needs two or three).
_ROUNDS = 8


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


def check(server: ssl.SSLContext, cert: str, root: str, *, local: bool) -> LocalCheck:
    """Whether a client on this machine accepts the service's certificate at ``root``, and what to do if not.

    Args:
        server: the service's TLS context, its certificate and key loaded.
        cert: the certificate's file, named in the advice.
        root: the root clients are to use.
        local: ``root`` is one the service chose for this machine (not ``--public-url``): it may be
            changed to ``https://localhost:PORT/`` when the certificate names only that.

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
        problems.append(
            f"The certificate is for {valid}, not {host}: clients reach the service by a name it was made for "
            f"(e.g. SCHEDY_ROOT={urlunsplit(parts._replace(netloc=_netloc(names[0], parts.port)))}, a name "
            "that must lead to this service), or serve a certificate that names "
            f"{host}."
        )
    client.check_hostname = False
    trust = _verify(server, client, None)
    if trust is not None:
        if trust.verify_code == 18:  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
            problems.append(
                "This machine does not trust the certificate, which is self-signed: give the clients "
                f"SSL_CERT_FILE={Path(cert).resolve()}."
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
