"""Where the client finds the service and its credentials.

A configuration has four keys, the ones ``schedy gen-token`` writes (and
the service's ``resettoken/`` answers)::

    {"root": "http://127.0.0.1:8700/", "email": "me@example.com",
     "token": "…", "token_type": "api_token"}

``token_type`` is ``"api_token"`` (the default: logs in with ``POST token/``)
or ``"password"`` (``POST passauth/``).

:func:`load_config` looks for it in this order, and takes the first source
found as a whole (keys are never mixed between a file and the environment,
so a stale file cannot leak an old token into a new setup):

1. ``config_override`` alone, when it has ``root``, ``email`` and ``token``;
2. the file at ``config_path`` (a path or an open file), when given;
3. the environment: ``SCHEDY_ROOT``, ``SCHEDY_EMAIL``, ``SCHEDY_TOKEN`` and
   optionally ``SCHEDY_TOKEN_TYPE``, when any of the first three is set;
4. the file named by ``SCHEDY_CONFIG``;
5. ``client.json`` in Schedy's data directory: ``$SCHEDY_HOME``, by default
   ``~/.schedy`` (where ``schedy server`` writes one on its first start).

A leading ``~`` in a path (``config_path``, ``SCHEDY_CONFIG``, ``SCHEDY_HOME``) is
the home directory, as for ``schedy gen-token`` and ``schedy server``.

The keys of ``config_override`` then replace those of the source found, so
``config_override={"root": "http://other:8700/"}`` points the usual
credentials at another service.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import SplitResult, urlsplit

from schedy.errors import ConfigurationError

__all__ = ["DEFAULT_CONFIG_PATH", "TOKEN_TYPES", "ClientConfig", "load_config"]

#: Relative to the user's home directory.
DEFAULT_CONFIG_PATH = Path(".schedy") / "client.json"

#: token_type → the path that exchanges it for a session token (JWT).
TOKEN_TYPES = {"api_token": "token/", "password": "passauth/"}

_ENV_KEYS = {"root": "SCHEDY_ROOT", "email": "SCHEDY_EMAIL", "token": "SCHEDY_TOKEN", "token_type": "SCHEDY_TOKEN_TYPE"}
_REQUIRED = ("root", "email", "token")


@dataclass(frozen=True)
class ClientConfig:
    """A complete, validated client configuration.

    Attributes:
        root: the service root, always ending with ``/``.
        email: the user's email.
        token: the API token or password (hidden from ``repr``).
        token_type: ``"api_token"`` or ``"password"``.
        source: where it was read from, for error messages.
        root_name: how the user gave the root, when not as a configuration's ``root`` key (``schedy
            gen-token``'s ``--root``), for the messages that say where to change it; empty otherwise.

    """

    root: str
    email: str
    token: str = field(repr=False)
    token_type: str = "api_token"  # noqa: S105 (a kind of token, not a secret)
    source: str = "config_override"
    root_name: str = field(default="", repr=False, compare=False)

    @property
    def auth_path(self) -> str:
        """The path that exchanges the token for a JWT (``token/`` or ``passauth/``)."""
        return TOKEN_TYPES[self.token_type]

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any], source: str, *, names: Mapping[str, str] | None = None
    ) -> ClientConfig:
        """Validate ``values`` (keys ``root``, ``email``, ``token``, ``token_type``).

        Unknown keys are ignored, so a configuration written by a newer
        version still loads.

        Args:
            values: the configuration's keys.
            source: where they come from, as messages name it (``file /home/me/.schedy/client.json``).
            names: how the user gave some of the keys, when not as a configuration's keys, for the
                messages about them: ``{"root": "--root", "token": "the password"}`` makes a bad root
                "--root must be an http(s) URL…" and an empty token "The password is empty.".

        Raises:
            schedy.errors.ConfigurationError: naming ``source`` (or the key's name) and the problem.

        """
        named = dict(names or {})

        def subject(key: str) -> str:
            return named.get(key, f"Schedy configuration from {source}: {key}")

        empty = [named[key] for key in _REQUIRED if key in named and values.get(key) in (None, "")]
        if empty:
            text = " and ".join(empty)
            raise ConfigurationError(f"{text[:1].upper()}{text[1:]} {'is' if len(empty) == 1 else 'are'} empty.")
        missing = [key for key in _REQUIRED if values.get(key) in (None, "")]
        if missing:
            raise ConfigurationError(f"Schedy configuration from {source} is missing {', '.join(missing)}.")
        for key in (*_REQUIRED, "token_type"):
            value = values.get(key)
            if value is not None and not isinstance(value, str):
                raise ConfigurationError(f"{subject(key)} must be a string, got {type(value).__name__}.")
        token_type = values.get("token_type") or "api_token"
        if token_type not in TOKEN_TYPES:
            raise ConfigurationError(
                f"{subject('token_type')} must be one of {', '.join(sorted(TOKEN_TYPES))}, got {token_type!r}."
            )
        return cls(
            root=_normalize_root(values["root"], subject("root")),
            email=values["email"],
            token=values["token"],
            token_type=token_type,
            source=source,
            root_name=named.get("root", ""),
        )


def _normalize_root(root: str, subject: str) -> str:
    """``root`` ending with ``/``; ``subject`` names it in the message when it is not an http(s) URL.

    A port that is not a number from 0 to 65535 (``:87000``, ``:87OO``) or a broken IPv6 address
    (``http://[::1/``) is not one either: said here, in the same sentence, not as ``urlsplit``'s
    ``ValueError`` where the root is first used.
    """
    why = ""
    parts: SplitResult | None
    try:
        parts = urlsplit(root)
    except ValueError:  # a broken IPv6 address: "Invalid IPv6 URL"
        parts = None
    try:
        if parts is not None:
            parts.port  # noqa: B018 - raises on a port that is not a number from 0 to 65535
    except ValueError:
        parts, why = None, " (its port must be a number up to 65535)"
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{subject} must be an http(s) URL like 'http://127.0.0.1:8700/', got {root!r}{why}.")
    if parts.query or parts.fragment:
        raise ConfigurationError(f"{subject} must not have a query or fragment.")
    return root if root.endswith("/") else root + "/"


def _expand(path: str | os.PathLike[str], home: str | os.PathLike[str] | None) -> Path:
    """``path`` with a leading ``~`` made the home directory (``home`` when given), as the shell would have.

    A ``~`` reaches the client unexpanded when quoted (``SCHEDY_HOME='~/lab'``) or set by a program (a
    systemd unit, a job scheduler's environment); ``schedy gen-token`` and ``schedy server`` read the
    same variables the same way.
    """
    text = os.fspath(path)
    if home is not None and (text == "~" or text.startswith(("~/", "~" + os.sep))):
        return Path(home) / text[2:]
    return Path(text).expanduser()


def _read_file(
    path: str | os.PathLike[str] | IO[str], home: str | os.PathLike[str] | None = None
) -> tuple[dict[str, Any], str]:
    if hasattr(path, "read"):
        source = f"file {getattr(path, 'name', '<stream>')}"
        text = path.read()
    else:
        name = os.fspath(path)
        if name.startswith("~"):
            name = os.fspath(_expand(name, home))
        source = f"file {name}"
        try:
            # utf-8-sig: an editor (Windows' Notepad) may start the file with a byte-order mark.
            with open(name, encoding="utf-8-sig") as stream:
                text = stream.read()
        except OSError as exc:
            raise ConfigurationError(f"Cannot read the Schedy configuration {source}: {exc.strerror or exc}.") from exc
        except UnicodeDecodeError:
            raise ConfigurationError(f"Schedy configuration {source} is not UTF-8 text: save it as UTF-8.") from None
    if not text.strip():
        raise ConfigurationError(f"Schedy configuration {source} is empty: write it with `schedy gen-token`.")
    try:
        values = json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"Schedy configuration {source} is not valid JSON: {exc}.") from exc
    if not isinstance(values, dict):
        raise ConfigurationError(f"Schedy configuration {source} must hold a JSON object.")
    return values, source


def load_config(
    config_path: str | os.PathLike[str] | IO[str] | None = None,
    config_override: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    home: str | os.PathLike[str] | None = None,
    other_way: str = "pass config_path or config_override to SchedyDB",
) -> ClientConfig:
    """Find and validate the client configuration (see the module docstring for the order).

    Args:
        config_path: a configuration file (path or open text file).
        config_override: keys that replace those of the source found; alone
            when it is complete.
        environ: the environment to read (default: ``os.environ``).
        home: the home directory (default: the user's): where ``.schedy/client.json`` is
            looked for when ``SCHEDY_HOME`` is not set, and what a leading ``~`` of a path stands for.
        other_way: the last way to give a configuration that the "no configuration" message suggests
            (``schedy`` says "name a file with --config FILE").

    Raises:
        schedy.errors.ConfigurationError: no configuration found, or an invalid one.

    Example:
        >>> load_config(config_override={"root": "http://localhost:8700", "email": "a@b.c", "token": "t"}).root
        'http://localhost:8700/'

    """
    env = os.environ if environ is None else environ
    override = dict(config_override or {})
    if all(override.get(key) not in (None, "") for key in _REQUIRED):
        return ClientConfig.from_mapping(override, "config_override")

    base: dict[str, Any]
    if config_path is not None:
        base, source = _read_file(config_path, home)
    elif any(env.get(_ENV_KEYS[key]) for key in _REQUIRED):
        base = {key: env[var] for key, var in _ENV_KEYS.items() if env.get(var)}
        source = "the environment (" + ", ".join(_ENV_KEYS[key] for key in _REQUIRED) + ")"
        missing = [_ENV_KEYS[key] for key in _REQUIRED if not env.get(_ENV_KEYS[key])]
        if missing and not all(override.get(key) not in (None, "") for key in _REQUIRED if not base.get(key)):
            given = [_ENV_KEYS[key] for key in _REQUIRED if env.get(_ENV_KEYS[key])]
            raise ConfigurationError(
                f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} set but not {', '.join(missing)}: the "
                "environment replaces client.json as a whole, so set all three, or unset "
                f"{'it' if len(given) == 1 else 'them'} to use client.json."
            )
    elif env.get("SCHEDY_CONFIG"):
        base, source = _read_file(env["SCHEDY_CONFIG"], home)
    else:
        if env.get("SCHEDY_HOME"):
            path = _expand(env["SCHEDY_HOME"], home) / DEFAULT_CONFIG_PATH.name
        else:
            path = Path(home if home is not None else Path.home()) / DEFAULT_CONFIG_PATH
        if not path.exists():
            raise ConfigurationError(
                f"No Schedy client configuration: {path} does not exist. Write it with `schedy gen-token`, "
                f"set SCHEDY_ROOT, SCHEDY_EMAIL and SCHEDY_TOKEN, or {other_way}."
            )
        base, source = _read_file(path)
    if override:
        source += " with config_override"
    return ClientConfig.from_mapping({**base, **override}, source)
