"""What the original client (0.1.0b6, 2018) is shown of a search it cannot read, and kept from its writes.

That client knows three schedulers (``Manual``, ``RandomSearch``, ``PBT``)
and five distributions (``uniform``, ``loguniform``, ``normal``,
``choice``, ``const``); it raises on anything else, and on one such
experiment its listing of all of them fails. So a request from it
(recognised by its User-Agent, that of ``requests``: :func:`is_legacy`)
is shown every search it cannot read as ``{"Manual": null}``: its workers
still claim the jobs the service picks (the search is the service's), its
``schedy list`` lists everything.

It reads what it can and writes back what it read: pausing an experiment
(``push_updates``) sends the whole scheduler again, without the keys it
ignored (a distribution's ``step`` or ``branches``, PBT's
``maxGenerations``) or as ``Manual``. :func:`keeps_stored` says when such a
write is only that echo, so the service keeps the search as it is.

Pure functions of the wire forms: no database, no request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "LEGACY_USER_AGENT",
    "UNVERSIONED_USER_AGENT",
    "is_legacy",
    "keeps_stored",
    "legacy_scheduler",
    "samples_inside",
]

#: How the original client's requests start their User-Agent (it never sets its own).
LEGACY_USER_AGENT = "python-requests/"
#: The User-Agent of Schedy's own client up to 0.2.0.dev0, which reads and writes a random search's
#: sampler inside its parameters (``{"distributions": …, "sampler": …}``); later ones send their version.
UNVERSIONED_USER_AGENT = "schedy-python"

# What the original client parses: each scheduler's known distributions and strategies.
_DISTRIBUTIONS = {"uniform", "loguniform", "normal", "choice", "const"}
_EXPLOITS = {"truncate"}
_EXPLORES = {"perturb"}
_MANUAL: dict[str, Any] = {"Manual": None}


def is_legacy(user_agent: str | None) -> bool:
    """Whether a request with this User-Agent comes from the original client (or another script on ``requests``)."""
    return user_agent is not None and user_agent.startswith(LEGACY_USER_AGENT)


def samples_inside(user_agent: str | None) -> bool:
    """Whether a request comes from Schedy's client of 0.2.0.dev0 or before: shown a sampler where it reads one."""
    return user_agent == UNVERSIONED_USER_AGENT


def _readable_distribution(wire: Any) -> bool:
    if not isinstance(wire, Mapping) or len(wire) != 1:
        return False
    ((name, args),) = wire.items()
    if name not in _DISTRIBUTIONS:
        return False
    if name == "const":
        return True
    return isinstance(args, Mapping)


def _readable_space(space: Any) -> bool:
    return isinstance(space, Mapping) and all(_readable_distribution(wire) for wire in space.values())


def _readable_strategies(strategies: Any, known: set[str]) -> bool:
    return isinstance(strategies, Mapping) and all(
        isinstance(wire, Mapping) and len(wire) == 1 and next(iter(wire)) in known for wire in strategies.values()
    )


def _readable(name: str, params: Any) -> bool:
    """Whether the original client parses ``{name: params}`` without an error."""
    if name == "Manual":
        return params is None
    if name == "RandomSearch":
        return _readable_space(params)
    if name == "PBT":
        if not isinstance(params, Mapping):
            return False
        exploit = params.get("exploit")
        return (
            isinstance(exploit, Mapping)
            and len(exploit) == 1
            and next(iter(exploit)) in _EXPLOITS
            and _readable_space(params.get("init", {}))
            and _readable_strategies(params.get("explore", {}), _EXPLORES)
        )
    return False


def legacy_scheduler(name: str, params: Any) -> dict[str, Any]:
    """The scheduler as the original client is shown it: as stored if it can read it, else ``{"Manual": null}``.

    >>> legacy_scheduler("RandomSearch", {"x": {"uniform": {"low": 0, "high": 1, "step": 0.5}}})
    {'RandomSearch': {'x': {'uniform': {'low': 0, 'high': 1, 'step': 0.5}}}}
    >>> legacy_scheduler("TPE", {"objective": "min", "resultName": "loss", "distributions": {}})
    {'Manual': None}
    """
    return {name: params} if _readable(name, params) else dict(_MANUAL)


def _within(sent: Any, shown: Any) -> bool:
    """Whether ``sent`` is ``shown`` with keys left out (at any depth) and nothing else changed."""
    if isinstance(sent, Mapping):
        return isinstance(shown, Mapping) and all(key in shown and _within(sent[key], shown[key]) for key in sent)
    if isinstance(sent, list):
        return isinstance(shown, list) and len(sent) == len(shown) and all(map(_within, sent, shown))
    if isinstance(sent, bool) or isinstance(shown, bool):
        return type(sent) is type(shown) and sent == shown
    return bool(sent == shown)


def keeps_stored(sent: Mapping[str, Any], stored_name: str, stored_params: Any) -> bool:
    """Whether a scheduler the original client sent only echoes what it was shown of the stored one.

    True when ``sent`` is what :func:`legacy_scheduler` showed, or that with
    keys the client does not know left out (its objects keep only the keys
    they read): the service then keeps the stored scheduler, so pausing
    and resuming with that client changes nothing of the search. Any other
    change (a distribution's bounds, another scheduler) is a real one.

    >>> stored = {"x": {"uniform": {"low": 0, "high": 1, "step": 0.5}}}
    >>> keeps_stored({"RandomSearch": {"x": {"uniform": {"low": 0.0, "high": 1.0}}}}, "RandomSearch", stored)
    True
    >>> keeps_stored({"RandomSearch": {"x": {"uniform": {"low": 0.0, "high": 2.0}}}}, "RandomSearch", stored)
    False
    >>> keeps_stored({"Manual": None}, "TPE", {"objective": "min"})
    True
    """
    return _within(dict(sent), legacy_scheduler(stored_name, stored_params))
