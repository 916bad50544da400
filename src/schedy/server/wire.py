"""The wire form (docs/protocol.md): parsing request bodies and rendering answers.

Kept apart from the table definitions so that a storage change never
changes the wire. Job answers splice the stored JSON texts of
hyperparameters and results in as they are, without parsing them again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from schedy._search import RANDOM_SAMPLERS, random_search_from_wire, random_search_to_wire
from schedy._validate import empty_name, shown
from schedy.errors import DefinitionError
from schedy.server.errors import BadRequest, Invalid, stored_search_unrunnable
from schedy.server.legacy import legacy_scheduler
from schedy.server.schedulers.base import Scheduler
from schedy.server.schedulers.registry import parse_scheduler
from schedy.server.stopping import parse_policy
from schedy.stopping import check_objective, policy_from_wire

JOB_STATUSES = ("QUEUED", "RUNNING", "CRASHED", "PRUNED", "DONE")
EXPERIMENT_STATUSES = ("RUNNING", "DONE")
MAX_NAME_LENGTH = 1000
MAX_JOB_ID_LENGTH = 64

# Keys the service manages: accepted in bodies (clients send back what they
# read) and ignored.
_JOB_READ_ONLY = {
    "id",
    "etag",
    "experiment",
    "createdAt",
    "updatedAt",
    "startedAt",
    "finishedAt",
    "worker",
    "member",
    "generation",
    "parent",
    "attempt",
    "leaseExpiresAt",
    "endReason",
    "stopReason",
    "error",
}
_EXPERIMENT_READ_ONLY = {"name", "createdAt", "updatedAt", "jobCounts", "jobsCreated"}
#: [ext] experiment options, top-level keys (never inside scheduler params).
#: The longest ``maxRunTime``, seconds: a lease deadline past it would not fit a timestamp.
MAX_RUN_TIME = 1e9
EXPERIMENT_OPTIONS = {"seed", "maxRetries", "maxRunTime", "earlyStopping", "maxJobs"}
#: [ext] a random search's sampler: a top-level key on the wire (the 2018 client reads every key inside
#: ``RandomSearch`` as a hyperparameter), stored with the scheduler's parameters.
SAMPLER = "sampler"


#: One encoder for every answer: ``json.dumps`` with options builds a new one at each call (1–2 µs).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=True)


def dumps(value: Any) -> str:
    """Compact JSON; NaN and ±Infinity as the bare tokens Python clients read."""
    return _ENCODER.encode(value)


def parse_json(body: bytes) -> Any:
    """Parse a request body.

    Raises:
        BadRequest: empty, not UTF-8, or not JSON.

    """
    if not body.strip():
        raise BadRequest("The request body is empty; send a JSON object.")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("The request body is not UTF-8 text; send a JSON object.") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"The request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
        ) from None
    except RecursionError:
        raise BadRequest(_TOO_DEEP) from None
    except ValueError:  # Python's cap on integer digits (4300): no float or database integer holds one
        raise BadRequest(
            "The request body holds an integer of thousands of digits, more than any number here can hold."
        ) from None
    # Both checks walk the value, so they run only when the text could fail them (a C-speed scan).
    if text.count("[") + text.count("{") > MAX_NESTING or _SURROGATE_ESCAPE.search(text):
        _check_text_and_depth(value)
    return value


#: How deeply a request body may nest arrays and objects: far beyond any real use, well within
#: what every later step (validation, storage, rendering) handles without recursing too deep.
MAX_NESTING = 100
_TOO_DEEP = f"The request body nests arrays and objects more than {MAX_NESTING} levels deep; flatten it."
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# 309 digits in a row: maybe an integer past a float's range (1.8e308), or a long string of digits.
_LONG_DIGITS = re.compile(rb"(?<![0-9])[0-9]{309}")  # tried at a run's start only: linear
_FLOAT_MAX = sys.float_info.max


def _check_text_and_depth(value: Any) -> None:
    """Refuse nesting past :data:`MAX_NESTING` and strings that are not Unicode text (lone surrogates).

    ``json.loads`` accepts an escaped lone UTF-16 surrogate (a backslash-u escape from D800 to
    DFFF without its pair), which no
    database or UTF-8 answer can hold.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, (list, dict)):
            if depth >= MAX_NESTING:
                raise BadRequest(_TOO_DEEP)
            if isinstance(item, dict):
                for key in item:
                    _check_text(key)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        raise BadRequest(
            f"The request body holds a lone UTF-16 surrogate (\\u{ord(bad):04x}), which is not text; "
            "send valid Unicode."
        ) from None


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(f"{what} must be a JSON object, got {type(value).__name__ if value is not None else 'null'}.")
    return value


def _each_leaf(value: Any, where: str) -> Iterator[tuple[Any, str]]:
    """Every value inside ``value`` that is not a list or an object, with its place (``results.a[2]``)."""
    stack = [(value, where)]
    while stack:
        item, place = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, f"{place}.{k}") for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{place}[{i}]") for i, v in enumerate(item))
        else:
            yield item, place


def _check_finite(value: Any, where: str) -> None:
    for item, place in _each_leaf(value, where):
        if isinstance(item, float) and not math.isfinite(item):
            raise Invalid(f"{place} is {item!r}; hyperparameters must be finite (NaN and Infinity are for results).")


@dataclass(frozen=True)
class JobInput:
    """A job as a client sends it (POST or PUT)."""

    status: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)


def parse_job(body: bytes, *, default_status: str | None) -> JobInput:
    """Parse and validate a job body; ``default_status`` applies when it has none.

    Raises:
        BadRequest: not JSON.  Invalid: wrong shape, unknown status, NaN hyperparameter.

    """
    obj = _object(parse_json(body), "A job")
    unknown = sorted(obj.keys() - {"status", "hyperparameters", "results"} - _JOB_READ_ONLY)
    if unknown:
        raise Invalid(
            f"Unknown job field(s) {', '.join(map(shown, unknown))}; a job has status, hyperparameters and results."
        )
    status = obj.get("status", default_status)
    if status is None:
        raise Invalid(f"The job needs a status, one of {', '.join(JOB_STATUSES)}.")
    if status not in JOB_STATUSES:
        raise Invalid(f"Unknown job status {shown(status)}; use one of {', '.join(JOB_STATUSES)}.")
    hps = obj.get("hyperparameters")
    hps = {} if hps is None else _object(hps, "hyperparameters")
    _check_finite(hps, "hyperparameters")
    results = obj.get("results")
    results = {} if results is None else _object(results, "results")
    for names, what in ((hps, "hyperparameter"), (results, "result")):
        if "" in names:  # stored, it would be listed and exported as an empty field no search can name
            raise Invalid(empty_name(what))
    if _LONG_DIGITS.search(body):  # rare: only then look for the integer (a C-speed scan)
        _check_float_range(hps, "hyperparameters")
        _check_float_range(results, "results")
    return JobInput(status=status, hyperparameters=hps, results=results)


def _check_float_range(value: Any, where: str) -> None:
    """Refuse an integer past a float's range: stored, no search, ranking or plot could use it."""
    for item, place in _each_leaf(value, where):
        if isinstance(item, int) and abs(item) > _FLOAT_MAX:
            raise Invalid(
                f"{place} is an integer of {len(str(abs(item)))} digits, past a float's range (1.8e308); "
                "send it as a float or a string."
            )


@dataclass(frozen=True)
class ExperimentInput:
    """An experiment definition as a client sends it (PUT).

    ``status`` and ``scheduler`` are ``None`` when the body has none: a
    replace then keeps the experiment's own (a creation needs a scheduler).
    """

    status: str | None
    scheduler: Scheduler | None
    options: dict[str, Any]
    #: A random search's sampler, if the body names one (``null`` reads as ``"iid"``); ``None``: it does not.
    sampler: str | None = None


def _check_sampler(value: Any) -> str:
    if value is None:
        return "iid"
    if value not in RANDOM_SAMPLERS:
        raise Invalid(f"Option 'sampler' must be one of {', '.join(RANDOM_SAMPLERS)} or null, got {shown(value)}.")
    return str(value)


def _wrapped(scheduler: str, params: Any) -> bool:
    """Whether stored parameters are a random search's ``{"distributions": …, "sampler": "sobol"}``.

    Told apart by shape only, as :func:`schedy._search.random_search_from_wire` does, without parsing the
    space: a stored definition this version cannot parse is still shown.
    """
    return (
        scheduler == "RandomSearch"
        and isinstance(params, dict)
        and set(params) == {"distributions", "sampler"}
        and isinstance(params["sampler"], str)
    )


def stored_sampler(scheduler: str, params: Any) -> str:
    """The sampler of a stored random search (``"iid"`` for any other scheduler)."""
    return str(params["sampler"]) if _wrapped(scheduler, params) else "iid"


def with_sampler(scheduler: str, params: Any, sampler: str) -> Any:
    """A scheduler's stored parameters with ``sampler`` (a random search's only; ``"iid"`` fits every search).

    Raises:
        Invalid: a quasi-random sampler for a search that is not a random search.

    """
    if scheduler != "RandomSearch":
        if sampler != "iid":
            raise Invalid(
                f"Option 'sampler' is a RandomSearch's, not a {scheduler}'s: leave it out "
                "(TPESearch's quasi-random start is its own 'startup' parameter)."
            )
        return params
    try:
        distributions, _ = random_search_from_wire(params)
    except DefinitionError as exc:  # stored by another version, under rules this one does not share
        raise stored_search_unrunnable("RandomSearch", str(exc)) from None
    return random_search_to_wire(distributions, sampler)


def wire_scheduler(scheduler: str, params: Any) -> tuple[dict[str, Any], str]:
    """A stored scheduler as the wire shows it, and its sampler: a random search's is a top-level key there."""
    if _wrapped(scheduler, params) and params["sampler"] != "iid":
        return {scheduler: params["distributions"]}, str(params["sampler"])
    return {scheduler: params}, "iid"


def _check_option(key: str, value: Any) -> Any:
    if value is None:
        return None  # null unsets an option (the service then keeps none)
    if key == "seed":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
            raise Invalid(f"Option 'seed' must be a non-negative integer or null, got {shown(value)}.")
    elif key == "maxJobs":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
            raise Invalid(
                "Option 'maxJobs' must be a positive integer (the jobs the search may create) or null, "
                f"got {shown(value)}."
            )
    elif key == "maxRetries":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise Invalid(f"Option 'maxRetries' must be a non-negative integer or null, got {shown(value)}.")
    elif key == "maxRunTime" and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_RUN_TIME
    ):
        raise Invalid(
            f"Option 'maxRunTime' must be a positive number of seconds up to {MAX_RUN_TIME:.0f} (31 years) or null, "
            f"got {shown(value)}."
        )
    elif key == "earlyStopping":
        try:
            policy = parse_policy(value)
        except DefinitionError as exc:
            raise Invalid(str(exc)) from None
        return {policy.name: policy.to_params()}
    return value


def _refuse_sampler_inside(scheduler: Any) -> None:
    """A text ``sampler`` among a random search's hyperparameters is the top-level option, misplaced: say so."""
    params = scheduler.get("RandomSearch") if isinstance(scheduler, dict) else None
    if (
        not isinstance(params, dict)
        or not isinstance(params.get(SAMPLER), str)
        or set(params) == {"distributions", SAMPLER}
    ):
        return
    option = f'"sampler": {json.dumps(params[SAMPLER])}'
    raise Invalid(
        f"'sampler' is an option of the experiment, not a hyperparameter: put {option} "
        'at the top level, beside "scheduler".'
    )


def parse_experiment(body: bytes) -> ExperimentInput:
    """Parse and validate an experiment body (status, scheduler, [ext] options).

    Raises:
        BadRequest: not JSON.  Invalid: wrong shape, unknown scheduler, bad distribution…

    """
    obj = _object(parse_json(body), "An experiment")
    unknown = sorted(obj.keys() - {"status", "scheduler", SAMPLER} - EXPERIMENT_OPTIONS - _EXPERIMENT_READ_ONLY)
    if unknown:
        allowed = ", ".join(["status", "scheduler", *sorted({*EXPERIMENT_OPTIONS, SAMPLER})])
        raise Invalid(f"Unknown experiment field(s) {', '.join(map(shown, unknown))}; allowed: {allowed}.")
    # No status: RUNNING for a new experiment, the current one on a replace (a paused search stays paused).
    status = obj.get("status")
    if status is not None and status not in EXPERIMENT_STATUSES:
        raise Invalid(f"Unknown experiment status {shown(status)}; use RUNNING or DONE.")
    # No scheduler: the experiment's own, on a replace (a client changing one option sends only that).
    scheduler = None
    if "scheduler" in obj:
        _refuse_sampler_inside(obj["scheduler"])
        try:
            scheduler = parse_scheduler(obj["scheduler"])
        except DefinitionError as exc:
            raise Invalid(str(exc)) from None
    options = {key: _check_option(key, obj[key]) for key in EXPERIMENT_OPTIONS if key in obj}
    sampler = _check_sampler(obj[SAMPLER]) if SAMPLER in obj else None
    if scheduler is not None:
        if sampler is not None:
            try:
                params = with_sampler(scheduler.name, scheduler.to_params(), sampler)
                scheduler = parse_scheduler({scheduler.name: params})
            except DefinitionError as exc:  # not expected: the parameters were just parsed
                raise Invalid(str(exc)) from None
        check_policy_fits(options.get("earlyStopping"), scheduler)
    return ExperimentInput(status=status, scheduler=scheduler, options=options, sampler=sampler)


def check_policy_fits(stopping: dict[str, Any] | None, scheduler: Scheduler) -> None:
    """Refuse a policy (an ``earlyStopping`` option's value) that ranks the search's own objective the other way.

    The client's rule (:func:`schedy.stopping.check_objective`, which ``schedy add`` and ``set`` apply
    before sending), applied to the parsed option.

    Raises:
        Invalid: the policy would minimise what the search maximises, or the opposite.

    """
    if stopping is None:
        return
    try:
        check_objective(policy_from_wire(stopping), scheduler.target(), scheduler.name)
    except DefinitionError as exc:
        raise Invalid(str(exc)) from None


def check_name(name: str, what: str) -> str:
    """Refuse names that cannot be stored (empty, too long, control characters)."""
    limit = MAX_NAME_LENGTH if what == "experiment" else MAX_JOB_ID_LENGTH
    if not name or len(name) > limit or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise Invalid(f"{_a(what)} name must be 1 to {limit} printable characters, got {name[:80]!r}.")
    if name in (".", ".."):
        # HTTP clients resolve these as path steps: such a name could never be reached.
        raise Invalid(f"{_a(what)} cannot be named {name!r}; HTTP clients read it as a path step.")
    return name


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso(seconds: float | None) -> str | None:
    """Seconds since the epoch as an ISO 8601 UTC time, rounded to the nearest millisecond.

    Rounded as the database rounds the milliseconds it computes for the dashboard
    (:mod:`schedy.server.store.stats`), in integers from there on: truncated (as
    ``isoformat(timespec="milliseconds")`` does), about half the times would be a
    millisecond earlier than the dashboard's, and a join on them would miss.
    """
    if seconds is None:
        return None
    at = _EPOCH + timedelta(milliseconds=round(seconds * 1000.0))
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _a(noun: str) -> str:
    """``noun`` with its indefinite article, capitalised: "An experiment", "A job"."""
    return ("An " if noun[:1].lower() in "aeiou" else "A ") + noun


def etag(pk: int, version: int) -> str:
    """The strong ETag of one version of one job."""
    return f'"{pk:x}-{version}"'


def parse_etags(header: str) -> list[tuple[int, int]]:
    """The ``(pk, version)`` pairs an If-Match header names (unknown ones are dropped)."""
    found = []
    for part in header.split(","):
        tag = part.strip()
        if tag.startswith('"') and tag.endswith('"') and len(tag) > 2:
            pk_hex, _, version = tag[1:-1].partition("-")
            try:
                pair = (int(pk_hex, 16), int(version))
            except ValueError:
                continue
            # A number no row can hold names no job (and would overflow the database's integers).
            if 0 <= pair[0] < 2**63 and 0 <= pair[1] < 2**31:
                found.append(pair)
    return found


def brief_error(text: str | None) -> dict[str, str] | None:
    """What a crashed job raised, as a job's ``error`` key shows it, from the JSON text the store read.

    Its ``type`` and ``message`` only: the traceback (up to 50,000 characters) would make every list
    of crashed jobs heavy; the dashboard's job page shows it. The store's job rows carry those two
    fields only (``jobs.error_brief``, written with the error); a whole stored error gives the same
    answer. ``None`` when the job has none.
    """
    if text is None:
        return None
    try:
        error = json.loads(text)
    except ValueError:  # not expected: the service writes it
        return None
    if not isinstance(error, dict):
        return None
    return {"type": str(error.get("type", "")), "message": str(error.get("message", ""))}


def render_job(row: Any, experiment: str, *, error: bool = True) -> str:
    """A job's JSON, with the [ext] keys the service manages.

    ``error``: what the job's current attempt raised, if its worker sent it (:func:`brief_error`);
    left out with ``error=False`` (the dashboard's job page adds the whole error, traceback included).
    """
    ext = {
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
        "startedAt": iso(row.started_at),
        "finishedAt": iso(row.finished_at),
        "worker": row.worker,
        "member": row.member,
        "generation": row.generation,
        "parent": row.parent,
        "attempt": row.attempt,
        "leaseExpiresAt": iso(row.lease_expires_at),
        "endReason": row.end_reason,
        "stopReason": row.stop_reason,
        "error": brief_error(row.error),
    }
    if not error:
        del ext["error"]
    # The ETag rides along as [ext] "etag" so that jobs read from a list can be updated safely too.
    return (
        f'{{"id":{dumps(row.job_id)},"experiment":{dumps(experiment)},"status":"{row.status}",'
        f'"hyperparameters":{row.hyperparameters},"results":{row.results},'
        f'"etag":{dumps(etag(row.pk, row.version))},{dumps(ext)[1:]}'
    )


def render_experiment(
    row: Any, extra: dict[str, Any] | None = None, *, legacy: bool = False, sampler_inside: bool = False
) -> dict[str, Any]:
    """An experiment's JSON object: name, status, scheduler, then [ext] keys.

    ``legacy``: for the 2018 client, which is shown a search it cannot read as ``{"Manual": null}``;
    ``sampler_inside``: for Schedy's client of 0.2.0.dev0, which reads a random search's sampler inside
    its parameters (:mod:`schedy.server.legacy`).
    """
    params = json.loads(row.params)
    scheduler, sampler = ({row.scheduler: params}, "iid") if sampler_inside else wire_scheduler(row.scheduler, params)
    if legacy:
        ((name, params),) = scheduler.items()
        scheduler = legacy_scheduler(name, params)
    out: dict[str, Any] = {"name": row.name, "status": row.status, "scheduler": scheduler}
    if sampler != "iid":
        out[SAMPLER] = sampler
    out.update(json.loads(row.options))
    out["createdAt"] = iso(row.created_at)
    out["updatedAt"] = iso(row.updated_at)
    if extra:
        out.update(extra)
    return out


#: The lists a page token can continue, by the letter that starts it: a token made for one is
#: refused by every other. ``k`` marks a token bound to no list: what lists that do not say theirs
#: give, and what every list gave before tokens were bound (taken by every list, so that a client
#: paging through an upgrade of the service goes on).
PAGE_KINDS = {
    "k": "any list",
    "e": "experiments",
    "j": "jobs",
    "v": "events",
    "a": "artifacts",
    "r": "a job's reports",
    "R": "an experiment's reports",
}
_TOKEN = re.compile(r"([A-Za-z])([0-9]{1,20})(?:\.([0-9a-f]{6}))?")


def _scope_tag(kind: str, scope: str) -> str:
    """Six hexadecimal digits binding a token to one list of its kind (its user, its experiment)."""
    return hashlib.blake2b(f"{kind}/{scope}".encode(), digest_size=3).hexdigest()


def page_token(key: int, *, kind: str = "k", scope: str = "") -> str:
    """An opaque keyset token for the item after ``key`` in a list of ``kind`` (:data:`PAGE_KINDS`).

    ``scope`` says which list of that kind (e.g. ``"USER/EXPERIMENT"``):
    :func:`read_page_token` refuses the token on any other list.
    """
    text = f"k{key}" if kind == "k" else f"{kind}{key}.{_scope_tag(kind, scope)}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def read_page_token(token: str | None, *, below: int = 2**63, kind: str = "k", scope: str = "") -> int | None:
    """The key a page token of ``kind`` and ``scope`` stands for; ``below`` bounds the list's keys.

    Raises:
        BadRequest: the token was not made by this service, or was made for another list.

    """
    if token is None or token == "":
        return None
    try:
        match = _TOKEN.fullmatch(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        match = None
    if match is not None and match[1] in PAGE_KINDS and (match[1] == "k") == (match[3] is None):
        made, key, tag = match[1], int(match[2]), match[3]
        if made == "k" or (made == kind and tag == _scope_tag(kind, scope)):
            if key < below:
                return key
        else:
            origin = f"a list of {PAGE_KINDS[made]}" if made != kind else f"another list of {PAGE_KINDS[made]}"
            raise BadRequest(
                f"The page token {token[:40]!r} was given for {origin}, not this one; "
                "send each list's 'next' back to that same list."
            )
    raise BadRequest(f"The page token {token[:40]!r} is not valid; use the 'next' value of the previous page.")
