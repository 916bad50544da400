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


# What the original client writes back of each distribution it read: the arguments its objects keep.
_KEPT_ARGS = {"uniform": ("low", "high"), "loguniform": ("low", "high"), "normal": ("mean", "std")}


def _echo_distribution(wire: Mapping[str, Any]) -> dict[str, Any]:
    ((name, args),) = wire.items()
    if name == "const":
        return {name: args}
    if name == "choice":
        kept = {"values": args.get("values")}
        if args.get("weights") is not None:
            kept["weights"] = args["weights"]
        return {name: kept}
    return {name: {key: args.get(key) for key in _KEPT_ARGS[name]}}


def _echo_space(space: Mapping[str, Any]) -> dict[str, Any]:
    return {hp: _echo_distribution(wire) for hp, wire in space.items()}


def _echo(shown: Mapping[str, Any]) -> dict[str, Any]:
    """What the original client sends back of a scheduler it was shown and parsed, changing nothing.

    Its objects keep only what they read: a distribution's known arguments (no ``step``, no
    ``branches``), PBT's known keys (it reads ``maxGenerations`` under another name, so never sends it
    back), and the optional ones only when set.
    """
    ((name, params),) = shown.items()
    if name == "RandomSearch":
        return {name: _echo_space(params)}
    if name == "PBT":
        out: dict[str, Any] = {
            "objective": params.get("objective"),
            "qualityResultName": params.get("qualityResultName"),
        }
        if params.get("numParallel"):
            out["numParallel"] = params["numParallel"]
        if params.get("init"):
            out["init"] = _echo_space(params["init"])
        out["exploit"] = params.get("exploit")
        if params.get("explore"):
            out["explore"] = {
                hp: {"perturb": {key: (wire.get("perturb") or {}).get(key) for key in ("minFactor", "maxFactor")}}
                for hp, wire in params["explore"].items()
            }
        return {name: out}
    return {name: params}


def _same(sent: Any, echoed: Any) -> bool:
    """JSON equality where numbers compare by value (the client sends ``0.0`` for ``0``) and booleans stay apart."""
    if isinstance(sent, Mapping):
        return (
            isinstance(echoed, Mapping)
            and sent.keys() == echoed.keys()
            and all(_same(sent[k], echoed[k]) for k in sent)
        )
    if isinstance(sent, list):
        return isinstance(echoed, list) and len(sent) == len(echoed) and all(map(_same, sent, echoed))
    if isinstance(sent, bool) or isinstance(echoed, bool):
        return type(sent) is type(echoed) and sent == echoed
    return bool(sent == echoed)


def keeps_stored(sent: Mapping[str, Any], stored_name: str, stored_params: Any) -> bool:
    """Whether a scheduler the original client sent only echoes what it was shown of the stored one.

    True when ``sent`` is exactly what that client writes back of what
    :func:`legacy_scheduler` showed it, having changed nothing (its objects
    keep only the keys they read: no ``step``, no ``branches``, no
    ``maxGenerations``): the service then keeps the stored scheduler, so
    pausing and resuming with that client changes nothing of the search.
    Any other change (a distribution's bounds, a hyperparameter removed or
    added, another scheduler) is a real one, except ``{"Manual": null}``
    over another search: what it was shown of a search it cannot read,
    echoed after a newer client changed that search into one it can.

    >>> stored = {"x": {"uniform": {"low": 0, "high": 1, "step": 0.5}}}
    >>> keeps_stored({"RandomSearch": {"x": {"uniform": {"low": 0.0, "high": 1.0}}}}, "RandomSearch", stored)
    True
    >>> keeps_stored({"RandomSearch": {"x": {"uniform": {"low": 0.0, "high": 2.0}}}}, "RandomSearch", stored)
    False
    >>> keeps_stored({"RandomSearch": {}}, "RandomSearch", stored)
    False
    >>> keeps_stored({"Manual": None}, "TPE", {"objective": "min"})
    True
    """
    if _same(dict(sent), _MANUAL) and stored_name != "Manual":
        # Shown as Manual when it read the experiment, the search may have become one it can read since (a
        # newer client changed it): its echo of that Manual still changes nothing. (It cannot make a search
        # Manual: a new client can.)
        return True
    return _same(dict(sent), _echo(legacy_scheduler(stored_name, stored_params)))
