"""Riding out an outage of the service: a worker loop and a job's last update wait for it to come back.

The transport retries a request for about a minute (:class:`schedy.RetryPolicy`).
A service restarted for an upgrade, or moved, may be away longer, and the
leases of running jobs may be made to outlast that (``schedy server
--lease-grace``). So the two places where giving up would cost a worker its
work wait longer: claiming the next job in :meth:`schedy.Experiment.jobs`,
and the update that ends a job (``with job:``), which carries its results.
They try again every :data:`OUTAGE_PAUSE` seconds for up to
:data:`OUTAGE_PATIENCE` seconds, saying so in the log once a minute.

Only an outage is waited for: no answer at all from a service that did
answer before, or a 502, 503 or 504. A service never reached (wrong URL, not
started) and every answer that says something about the request are raised
at once, as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from schedy.errors import HTTPError, ServiceUnreachableError

__all__ = ["OUTAGE_PATIENCE", "OUTAGE_PAUSE", "Outage", "is_outage", "patiently"]

logger = logging.getLogger("schedy")

#: Seconds a worker loop or a job's last update waits for a service that went away, beyond the transport's retries.
OUTAGE_PATIENCE = 15 * 60.0
#: Seconds between tries while the service is away.
OUTAGE_PAUSE = 15.0
#: Seconds between two log lines saying the service is still away.
_SAY_EVERY = 60.0

T = TypeVar("T")


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the service is away (no answer from a service that answered before, or 502/503/504)."""
    if not isinstance(exc, HTTPError) or isinstance(exc, ServiceUnreachableError):
        return False
    return exc.code is None or exc.code in (502, 503, 504)


class Outage:
    """The service being away, as one loop sees it: how long, whether to wait on, when to say so.

    Args:
        what: completes "… while the service is away" in the log, e.g. ``"job 3's results are kept"``.
        patience: seconds to wait for the service, from the first failure (default :data:`OUTAGE_PATIENCE`).
        pause: seconds between tries (default :data:`OUTAGE_PAUSE`).

    """

    def __init__(self, what: str, *, patience: float | None = None, pause: float | None = None) -> None:
        self.what = what
        self.patience = OUTAGE_PATIENCE if patience is None else patience
        self.pause = OUTAGE_PAUSE if pause is None else pause
        self._since: float | None = None
        self._said: float | None = None

    def over(self) -> None:
        """The service answered: a later failure starts a new outage."""
        self._since = None

    def tolerate(self, exc: HTTPError) -> float:
        """The seconds to wait before trying again after ``exc``.

        Raises:
            schedy.errors.HTTPError: ``exc`` itself, when it is not an outage or the patience ran out.

        """
        if not is_outage(exc):
            raise exc
        now = time.monotonic()
        if self._since is None:
            self._since, self._said = now, None
        away = now - self._since
        if away + self.pause > self.patience:
            raise exc
        if self._said is None or now - self._said >= _SAY_EVERY:
            self._said = now
            logger.warning(
                "The Schedy service is away (%s); %s, trying again every %g s for up to %.0f min more.",
                exc,
                self.what,
                self.pause,
                (self.patience - away) / 60,
            )
        return self.pause


def patiently(call: Callable[[], T], what: str, *, patience: float | None = None, pause: float | None = None) -> T:
    """``call()``, tried again while the service is away (see :class:`Outage`), for up to ``patience`` seconds.

    Raises:
        schedy.errors.HTTPError: what ``call`` raised, when it is not an outage or the patience ran out.

    """
    outage = Outage(what, patience=patience, pause=pause)
    while True:
        try:
            return call()
        except HTTPError as exc:
            time.sleep(outage.tolerate(exc))
