"""SchedyDB: the connection to a Schedy service."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import IO, Any, TypeVar

from schedy import _routes
from schedy._config import load_config
from schedy._experiments import Experiment, experiment_from_wire
from schedy._heartbeat import Heartbeats
from schedy._pagination import iter_items
from schedy._transport import RetryPolicy, Transport
from schedy.errors import ResourceExistsError, ResourceNotFoundError

_E = TypeVar("_E", bound=Experiment)

__all__ = ["SchedyDB"]

#: How many times ``add_experiment(..., exist_ok=True)`` creates an experiment deleted while it read it.
_CREATE_ATTEMPTS = 5


class SchedyDB:
    """The connection to a Schedy service: where it is, and who you are.

    Args:
        config_path: a client configuration file (path or open text file).
            By default the configuration comes from ``~/.schedy/client.json``,
            the file named by ``SCHEDY_CONFIG``, or the variables
            ``SCHEDY_ROOT``, ``SCHEDY_EMAIL``, ``SCHEDY_TOKEN`` (and
            ``SCHEDY_TOKEN_TYPE``).
        config_override: configuration keys (``root``, ``email``, ``token``,
            ``token_type``) that replace those found; with the first three it
            is the whole configuration and nothing is read.
        heartbeat: default seconds between the heartbeats of a claimed job,
            from its claim to the end of ``with job:``; 0 turns heartbeats
            (and leases) off.
        worker: the name this worker gives the service when claiming jobs
            (default: ``host:pid``).
        timeout: seconds to wait for an answer of the service.
        max_attempts: how many times a request that failed in transit
            (no connection, 502, 503, 504) is sent at least; the retries back
            off exponentially (or as the service's ``Retry-After`` asks) and
            go on for as long as those attempts' backoffs add up to: about a
            minute with the default.
        transport: send requests through this transport instead of building
            one from the configuration (for tests).

    A SchedyDB may be shared by threads. Close it with :meth:`close`, or use
    it as a context manager, to close its connections right away.

    Raises:
        schedy.errors.ConfigurationError: no configuration, or an invalid one.

    Example::

        db = schedy.SchedyDB()
        db.add_experiment(schedy.RandomSearch("MNIST", {"lr": LogUniform(1e-5, 1e-1)}))
        exp = db.get_experiment("MNIST")

    """

    def __init__(
        self,
        config_path: str | os.PathLike[str] | IO[str] | None = None,
        config_override: Mapping[str, Any] | None = None,
        *,
        heartbeat: float = 30.0,
        worker: str | None = None,
        timeout: float = 60.0,
        max_attempts: int = 10,
        transport: Transport | None = None,
    ) -> None:
        if transport is None:
            config = load_config(config_path, config_override)
            transport = Transport(config, timeout=timeout, retry=RetryPolicy(attempts=max(1, max_attempts)))
        self._transport = transport
        self._heartbeats = Heartbeats(on_thread_exit=transport.close_thread_connection)
        self.heartbeat = heartbeat
        self._worker = worker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled as its configuration and settings: unpickled, a new connection to the same service.

        So an experiment (bound to its SchedyDB) can be passed to a process
        started with ``spawn`` (CUDA's multiprocessing, macOS, Windows),
        which then works on it as its own worker. The token travels in the
        pickle, as it does in the parent's memory.
        """
        transport = self._transport
        config = transport.config
        values = {"root": config.root, "email": config.email, "token": config.token, "token_type": config.token_type}
        settings = (self.heartbeat, self._worker, transport.timeout, transport.retry.attempts)
        return (_unpickle_db, (values, *settings))

    @property
    def root(self) -> str:
        """The service root URL (ends with ``/``)."""
        return self._transport.config.root

    @property
    def worker(self) -> str:
        """The worker name sent when claiming jobs (default ``host:pid``)."""
        return self._worker or f"{socket.gethostname()}:{os.getpid()}"

    @worker.setter
    def worker(self, value: str | None) -> None:
        self._worker = value

    def add_experiment(self, exp: _E, *, exist_ok: bool = False) -> _E:
        """Create ``exp`` in the service, bind it to this database and return it.

        Args:
            exp: the experiment to create.
            exist_ok: if an experiment of that name exists with the same
                definition (search, its parameters and options; its status
                aside), use it: ``exp`` is bound to it and takes its status.
                What every worker of a pool can call first, whichever
                starts first creating it.

        Raises:
            schedy.errors.ResourceExistsError: an experiment of that name
                exists (with ``exist_ok``: defined otherwise; the message
                says where).
            schedy.errors.ClientRequestError: the service refused the
                definition (422, with the reason).

        Example::

            exp = db.add_experiment(schedy.ManualSearch("MinimizeSimple"))
            exp = db.add_experiment(schedy.TPESearch("mnist", space, "min", "loss"), exist_ok=True)

        """
        for attempt in range(_CREATE_ATTEMPTS):
            response = self._transport.request(
                "PUT",
                _routes.experiment(exp.name),
                exp._to_wire(),
                headers={"If-None-Match": "*"},
                expect=(200, 201, 412),
            )
            if response.status != 412:
                break
            try:
                existing = self.get_experiment(exp.name) if response.replayed or exist_ok else None
            except ResourceNotFoundError:
                if not exist_ok or attempt + 1 == _CREATE_ATTEMPTS:
                    raise
                continue  # deleted between the refusal and this read: the name is free, create it again
            # "": refused as it stands; None: defined the same; else where the definitions differ.
            difference = exp._definition_difference(existing) if exist_ok and existing is not None else ""
            if response.replayed and existing == exp:
                pass  # our own create, done before its answer was lost
            elif existing is not None and difference is None:
                exp.status, exp.extra = existing.status, {**exp.extra, **existing.extra}
            else:
                error = ResourceExistsError(response.data.decode(errors="replace"), 412)
                error.args = (_exists_message(exp, existing, difference or ""),)
                error.difference = difference or None
                raise error
            break
        exp._bind(self)
        return exp

    def get_experiment(self, name: str) -> Experiment:
        """Read an experiment, as the subclass matching its scheduler.

        Raises:
            schedy.errors.ClientRequestError: no such experiment (404).

        """
        exp = experiment_from_wire(self._transport.request("GET", _routes.experiment(name)).json())
        exp._bind(self)
        return exp

    def get_experiments(self) -> Iterator[Experiment]:
        """Iterate over all your experiments, oldest first (fetched page by page)."""
        for item in iter_items(self._transport, _routes.EXPERIMENTS):
            exp = experiment_from_wire(item)
            exp._bind(self)
            yield exp

    def close(self) -> None:
        """Stop the heartbeats and close the connections (reopened if used again)."""
        self._heartbeats.close()
        self._transport.close()

    def __enter__(self) -> SchedyDB:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        config = self._transport.config
        return f"SchedyDB(root={config.root!r}, email={config.email!r})"


def _exists_message(exp: Experiment, existing: Experiment | None, difference: str) -> str:
    """The refusal of ``add_experiment`` when the name is taken: what the user can do instead."""
    name = exp.name
    if not difference:
        return (
            f"An experiment named {name!r} already exists: pass exist_ok=True to use it if it is defined the same, "
            f"or read it with db.get_experiment({name!r})."
        )
    return (
        f"An experiment named {name!r} already exists, defined otherwise: {difference}. Run it as it is "
        f"(db.get_experiment({name!r})), {_replace_advice(exp, existing)}, or choose another name."
    )


def _replace_advice(exp: Experiment, existing: Experiment | None) -> str:
    """How to give the stored experiment ``exp``'s definition, keeping its jobs, as code the user can run."""
    name = exp.name
    assignments = None if existing is None else exp._replacing_assignments(existing, "stored", "exp")
    if assignments is None:  # another kind of search: a read-back experiment cannot change its class
        return (
            f"delete it with its jobs and add this one (db.get_experiment({name!r}).delete(); db.add_experiment(exp))"
        )
    return (
        f"replace its definition, keeping its jobs (stored = db.get_experiment({name!r}); "
        f"{'; '.join(assignments)}; stored.push_updates())"
    )


def _unpickle_db(
    config: dict[str, str], heartbeat: float, worker: str | None, timeout: float, attempts: int
) -> SchedyDB:
    return SchedyDB(config_override=config, heartbeat=heartbeat, worker=worker, timeout=timeout, max_attempts=attempts)
