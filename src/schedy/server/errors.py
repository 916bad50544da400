"""Failures of the service's use cases, independent of HTTP.

The API layer maps each class to one HTTP status in one table
(:mod:`schedy.server.api.problems`); the client maps statuses back to
:mod:`schedy.errors`. Every message is one sentence a person can act on.

::

    ServiceError
    ├── BadRequest          400  the body is not JSON, or the request is malformed
    ├── Unauthenticated     401  no, expired or invalid session token: log in again
    ├── Forbidden           403  wrong credentials, or not allowed
    ├── NotFound            404  no such experiment or job (for this user)
    ├── Conflict            409  the action contradicts the resource's state
    ├── PreconditionFailed  412  If-Match / If-None-Match did not hold
    ├── PayloadTooLarge     413  the body is over the service's limit
    ├── Invalid             422  well-formed but impossible (bad distribution…)
    ├── TooManyRequests     429  too many failed logins: wait (Retry-After)
    ├── StorageUnavailable  503  the artifact store failed (full, unreachable, refused): try again (Retry-After)
    └── ShuttingDown        503  this service process is stopping (a restart): try again (Retry-After)
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every failure a use case reports on purpose."""

    title = "Error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(ServiceError):
    """The request is malformed (e.g. its body is not JSON)."""

    title = "Bad request"


class Unauthenticated(ServiceError):
    """No valid session token: the client should authenticate again."""

    title = "Authentication required"


class Forbidden(ServiceError):
    """The credentials are wrong, or the action is not allowed."""

    title = "Forbidden"


class NotFound(ServiceError):
    """No such experiment or job in the caller's namespace."""

    title = "Not found"


class Conflict(ServiceError):
    """The action contradicts the resource's current state."""

    title = "Conflict"


class PreconditionFailed(ServiceError):
    """A conditional request's precondition did not hold."""

    title = "Precondition failed"


class PayloadTooLarge(ServiceError):
    """The request body is larger than the service accepts."""

    title = "Payload too large"


class Invalid(ServiceError):
    """The request is well-formed but describes something impossible."""

    title = "Invalid request"


class TooManyRequests(ServiceError):
    """Too many failed attempts; the client should wait ``retry_after`` seconds."""

    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class StorageUnavailable(ServiceError):
    """The artifact store failed (a full disk, refused credentials, a network cut); nothing was changed."""

    title = "Artifact storage unavailable"
    #: Seconds the client is asked to wait before it sends the request again (as for a full database disk).
    retry_after = 30


class ShuttingDown(ServiceError):
    """The service process is stopping (a restart, an upgrade): the client should try again shortly."""

    title = "Service unavailable"
    #: Seconds the client is asked to wait before it sends the request again.
    retry_after = 1


def session_ended() -> Unauthenticated:
    """A session whose user was removed or changed password, found so in the database (one wording)."""
    return Unauthenticated("This session has ended (its user was removed or changed password); authenticate again.")


def stored_search_unrunnable(scheduler: str, reason: str) -> Conflict:
    """A search stored by another version of Schedy, under rules this one does not share (one wording)."""
    from schedy._version import __version__

    return Conflict(
        f"This experiment's {scheduler} search, as stored, cannot be run by Schedy {__version__} "
        f"({reason.rstrip('.')}): give it a scheduler again (PUT the experiment with one); its jobs are kept."
    )
