"""Errors raised by Schedy.

The whole tree, one class per situation a caller may want to handle::

    SchedyError                      anything Schedy raises on purpose
    ├── DefinitionError (ValueError) an experiment definition is invalid
    │                                (bad distribution, strategy, scheduler)
    ├── ConfigurationError (ValueError)  the client configuration is missing
    │                                or invalid (file, environment, override)
    ├── JobPruned                    raised by you in ``with job:`` to end the
    │                                job PRUNED (early stopping)
    └── HTTPError                    a transaction with the service failed
        ├── ClientError              the request or its answer is at fault
        │   ├── ClientRequestError   the service refused the request (4xx)
        │   │   ├── AuthenticationError   403: wrong credentials, not allowed
        │   │   ├── ReauthenticateError   401: authenticate again
        │   │   ├── ResourceExistsError   412 on create: name already taken
        │   │   ├── ResourceNotFoundError 404: no such experiment, job, artifact
        │   │   ├── UnsafeUpdateError     412 on update: changed concurrently
        │   │   └── NoJobError            no job to hand out right now
        │   └── UnhandledResponseError    an answer the client cannot parse
        └── ServerError              the service failed (5xx)

The service maps its own failures to HTTP statuses in one table
(``schedy.server.api.problems``); the client maps statuses back to these
classes in one table (:func:`error_for_status`).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ServiceUnreachableError",
    "UntrustedCertificateError",
    "AuthenticationError",
    "ClientError",
    "ClientRequestError",
    "ConfigurationError",
    "DefinitionError",
    "HTTPError",
    "JobPruned",
    "NoJobError",
    "ReauthenticateError",
    "ResourceExistsError",
    "ResourceNotFoundError",
    "SchedyError",
    "ServerError",
    "UnhandledResponseError",
    "UnsafeUpdateError",
    "error_for_status",
]

_MAX_SHOWN_BODY = 300


class SchedyError(Exception):
    """Base class of every error Schedy raises on purpose.

    Every one survives pickling with its message and attributes (``code``,
    ``body``…), so an error raised in a :mod:`multiprocessing` or
    :mod:`concurrent.futures` worker is raised again, the same, in the parent.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt without calling __init__: an HTTPError's takes (body, code), not the message its args hold
        # (which callers often replace), and pickle's default, cls(*args), failed; a pool's result thread
        # then died and the pool hung for ever.
        return (_rebuilt, (type(self), self.args), self.__dict__ or None)


def _rebuilt(cls: type[SchedyError], args: tuple[object, ...]) -> SchedyError:
    """An error of class ``cls`` with ``args``, without calling its ``__init__`` (unpickling)."""
    error = cls.__new__(cls)
    error.args = args
    return error


class DefinitionError(SchedyError, ValueError):
    """An experiment definition is invalid.

    Raised when a distribution, an exploit/explore strategy or a scheduler's
    parameters cannot describe a search (``Uniform(1, 0)``, an empty
    ``Choice``, ``Truncate(0.9)``…). The message says what to change. The
    service answers ``422`` with the same message.
    """


class ConfigurationError(SchedyError, ValueError):
    """The client configuration is missing or invalid.

    Raised by :class:`schedy.SchedyDB` when no configuration is found
    (``~/.schedy/client.json``, ``SCHEDY_CONFIG``, the ``SCHEDY_ROOT`` /
    ``SCHEDY_EMAIL`` / ``SCHEDY_TOKEN`` variables or ``config_override``) or
    when one is unreadable or incomplete. The message names the source and
    what to change.
    """


class JobPruned(SchedyError):
    """Raise it inside ``with job:`` to end the job PRUNED: stopped early, not failed.

    The ``with`` block swallows it after pushing the job (status PRUNED, its
    results and reports kept), so a worker loop goes on with the next job::

        for job in exp.jobs():
            with job:
                for epoch in range(100):
                    loss = train_one_epoch(job.hyperparameters)
                    job.results["loss"] = loss
                    if job.report(epoch, loss=loss):
                        raise schedy.errors.JobPruned()
    """


class HTTPError(SchedyError):
    """A transaction with the Schedy service failed.

    Attributes:
        body: the service's answer, as text (empty when there was none).
        code: the HTTP status, or ``None`` when no answer arrived.

    """

    def __init__(self, body: str, code: int | None, *args: object) -> None:
        self.body = body
        self.code = code
        shown = body.replace("\r", "").strip()
        if not shown:
            shown = "<no message from the service>"
        elif len(shown) > _MAX_SHOWN_BODY:
            shown = shown[: _MAX_SHOWN_BODY - 3] + "..."
        prefix = f"HTTP error {code}" if code is not None else "HTTP error"
        super().__init__(f"{prefix}: {shown}", *args)


class ServiceUnreachableError(HTTPError):
    """Nothing answers at the configured URL, and nothing ever did for this client: no retry minute.

    A service that answered once and then went away is retried (an outage);
    one that refuses the very first connection is most likely not started,
    or the URL is wrong, so the client says so at once.
    """

    def __init__(self, message: str) -> None:
        self.body = ""
        self.code = None
        SchedyError.__init__(self, message)


class UntrustedCertificateError(ServiceUnreachableError):
    """The service's TLS certificate is not one this machine trusts (or not for this host name); never retried.

    A service with its own certificate authority or a self-signed certificate
    is trusted by pointing ``SSL_CERT_FILE`` at that authority's PEM file.
    """


class ClientError(HTTPError):
    """The request, or the handling of its answer, is at fault."""


class ClientRequestError(ClientError):
    """The service refused the request (a 4xx status)."""


class AuthenticationError(ClientRequestError):
    """403: the credentials are wrong, or the action is not allowed."""


class ReauthenticateError(ClientRequestError):
    """401: the session token is missing, expired or invalid; log in again."""


class ResourceExistsError(ClientRequestError):
    """412 on creation: an experiment or job of that name already exists.

    Attributes:
        difference: with ``add_experiment(..., exist_ok=True)``, how the
            existing experiment is defined otherwise, in words; else ``None``.

    """

    difference: str | None = None


class ResourceNotFoundError(ClientRequestError):
    """404: no such experiment, job or artifact (another user's are not shown either).

    A subclass of :class:`ClientRequestError`, which the 2018 client raised
    for a 404, so code written for it keeps working; new code can write::

        try:
            exp = db.get_experiment("mnist")
        except schedy.errors.ResourceNotFoundError:
            ...
    """


class UnsafeUpdateError(ClientRequestError):
    """412 on update: someone changed the resource since it was read.

    A safe ``put`` never overwrites a concurrent change; read the resource
    again and decide.
    """


class NoJobError(ClientRequestError):
    """The experiment has no job to hand out (queue empty, or it is DONE)."""


class UnhandledResponseError(ClientError):
    """The service answered something the client cannot understand."""


class ServerError(HTTPError):
    """The service failed to handle a valid request (a 5xx status)."""


def error_for_status(code: int, body: str) -> HTTPError:
    """Return the error that an unexpected HTTP ``code`` stands for.

    Example:
        >>> type(error_for_status(412, "changed")).__name__
        'UnsafeUpdateError'

    """
    if code == 401:
        return ReauthenticateError(body, code)
    if code == 403:
        return AuthenticationError(body, code)
    if code == 404:
        return ResourceNotFoundError(body, code)
    if code == 412:
        return UnsafeUpdateError(body, code)
    if 400 <= code < 500:
        return ClientRequestError(body, code)
    if 500 <= code < 600:
        return ServerError(body, code)
    return UnhandledResponseError(body, code)
