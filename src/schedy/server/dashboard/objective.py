"""Which result the dashboard ranks jobs by, and the best job by it.

The default objective is the one the experiment declares, by the rule of
:meth:`schedy.Experiment.declared_objective` (so the dashboard ranks as
``best_job()``, ``schedy show``, ``watch`` and ``run`` do): the search's
own (PBT's ``qualityResultName`` and ``objective``; a model-based search's
``resultName`` and ``objective``; any scheduler whose parameters carry
those keys), else its early-stopping policy's (the ``earlyStopping``
option's ``resultName`` and ``objective``) unless the finished jobs lack
that result (a policy judges reports, which the final results may name
otherwise). Otherwise it is the first numeric result of the experiment's
first finished job, minimised if its name reads like a cost (``loss``,
``error``, ``mse``, ``regret``, ``time``…) and maximised otherwise
(:func:`guessed_direction`, the rule the page applies to any result). People
pick another result and direction in the page. NaN, ±Infinity, a missing
or a non-numeric value ranks worst.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from schedy.errors import DefinitionError
from schedy.server.schedulers.base import as_number
from schedy.server.stopping import load_policy
from schedy.server.wire import dumps

MIN, MAX = "min", "max"
#: Words of a result name that read as a cost (minimised) or as a gain (maximised). static/page_experiment.js
#: holds the same lists and rule (``guessedDirection``); tests/dashboard/test_analysis_fixes.py checks both agree.
COST_WORDS = "loss|err|error|mse|mae|rmse|regret|cost|time|latency|perplexity|nll|distance|penalty"
GAIN_WORDS = "acc|accuracy|auc|auroc|f1|precision|recall|score|reward|return|map|iou|bleu|rouge|r2|ndcg|psnr|ssim|dice"
_WORD = re.compile(rf"(?:({COST_WORDS})|({GAIN_WORDS}))s?[0-9]*")  # a whole word (fullmatch): "loss", "errors", "f1"
_ENDING = re.compile(rf"(?:({COST_WORDS})|({GAIN_WORDS}))s?[0-9]*$")  # a word ending in one: "valloss", "runtime"


def _words(name: str) -> list[str]:
    """A result name's words: split at anything but ASCII letters and digits, at camelCase and after digits."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).lower()
    spaced = re.sub(r"([0-9])([a-z])", r"\1 \2", spaced)
    return [word for word in re.split(r"[^a-z0-9]+", spaced) if word]


def guessed_direction(name: str) -> str:
    """``"min"`` if a result's name reads like a cost, else ``"max"``.

    The name is split into words (:func:`_words`: ``val_loss``, ``valLoss``, ``top1err``). The last word
    that is a cost word or a gain word (:data:`COST_WORDS`, :data:`GAIN_WORDS`, maybe with a plural ``s``
    or digits: ``errors``, ``loss2``) decides: ``score_time`` is minimised, ``sentiment_acc`` maximised. A
    cost word inside another word does not count (``sentiment``, ``terrain``, ``maestro``); without a whole
    one, a word that ends in one counts (``valloss``, ``runtime``), a gain (``valacc``) before a cost.

    Example:
        >>> [guessed_direction(n) for n in ("val_loss", "sentiment_acc", "terrain_iou", "maestro", "runtime")]
        ['min', 'max', 'max', 'max', 'min']

    """
    words = _words(name)
    whole = [match for word in words if (match := _WORD.fullmatch(word))]
    if whole:
        return MIN if whole[-1].group(1) else MAX
    endings = [match for word in words if (match := _ENDING.search(word))]
    if any(match.group(2) for match in endings):
        return MAX
    return MIN if endings else MAX


@dataclass(frozen=True)
class Objective:
    """A result to rank by.

    Attributes:
        name: the result's key.
        direction: ``"min"`` or ``"max"``.
        declared: whether the search declared it (else it is a guess).

    """

    name: str
    direction: str
    declared: bool

    def as_json(self) -> dict[str, Any]:
        """The wire form: ``{"name", "direction", "declared"}``."""
        return {"name": self.name, "direction": self.direction, "declared": self.declared}


def declared(params_text: str, options_text: str = "{}") -> Objective | None:
    """The objective the experiment declares, if any: its scheduler's, else its early-stopping policy's.

    ``params_text`` and ``options_text`` are the experiment's stored scheduler parameters and options
    (JSON texts).

    Example:
        >>> declared('{"x": {"uniform": {"low": 0, "high": 1}}}', '{"earlyStopping": {"asha": '
        ...          '{"resultName": "val_loss", "objective": "min"}}}')
        Objective(name='val_loss', direction='min', declared=True)

    """
    return _search_declared(params_text) or _policy_declared(options_text)


def _search_declared(params_text: str) -> Objective | None:
    try:
        params = json.loads(params_text)
    except ValueError:
        return None
    if not isinstance(params, dict):
        return None
    name = params.get("qualityResultName", params.get("resultName"))  # PBT; a model-based search
    if not isinstance(name, str):
        return None
    direction = params.get("objective")
    return Objective(name, direction if direction in (MIN, MAX) else MAX, True)


def _policy_declared(options_text: str) -> Objective | None:
    if "earlyStopping" not in options_text:  # most experiments: no parse
        return None
    try:
        options = json.loads(options_text)
        stored = options.get("earlyStopping") if isinstance(options, dict) else None
        if stored is None:
            return None
        policy = load_policy(dumps(stored))
    except (ValueError, DefinitionError):  # not a policy this service reads: nothing declared
        return None
    return Objective(policy.result_name, policy.objective, True)


def is_number(value: Any) -> bool:
    """Whether ``value`` is a JSON number (NaN and ±Infinity included, booleans not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def guess(results: Mapping[str, Any]) -> Objective | None:
    """The first numeric result, with a direction read from its name."""
    for key, value in results.items():
        if is_number(value):
            return Objective(key, guessed_direction(key), False)
    return None


def default(params_text: str, first_done_results: Iterable[str], options_text: str = "{}") -> Objective | None:
    """The declared objective (:func:`declared`), else a guess from the first numeric result of the first results.

    ``first_done_results``: the first DONE jobs' results (JSON texts). An early-stopping policy judges
    reports, whose result the final results may name otherwise: its objective is the default unless
    finished jobs have results and none of them has a number under its result (then the guess is).
    """
    found = _search_declared(params_text)
    if found is not None:
        return found
    policy = _policy_declared(options_text)
    guessed = None
    for text in first_done_results:
        results = json.loads(text)
        if not isinstance(results, dict):
            continue
        if policy is not None and is_number(results.get(policy.name)):
            return policy
        guessed = guessed or guess(results)
        if guessed is not None and policy is None:
            return guessed
    return guessed or policy


def _rank_key(value: Any, direction: str) -> float:
    number = as_number(value)
    if number is None or not math.isfinite(number):
        return math.inf
    return number if direction == MIN else -number


def best(objective: Objective, results: Iterable[tuple[str, str]]) -> tuple[str, float] | None:
    """The best ``(job id, value)`` among ``(job id, results JSON text)``; ``None`` if no value is a finite number.

    NaN and ±Infinity rank worst in both directions: a non-finite value is never the best.
    """
    best_id, best_value, best_key = None, math.nan, math.inf
    needle = json.dumps(objective.name, ensure_ascii=False)
    for job_id, text in results:
        if needle not in text:  # most texts without the key are skipped unparsed
            continue
        value = json.loads(text).get(objective.name)
        key = _rank_key(value, objective.direction)
        if best_id is None or key < best_key:
            best_id, best_value, best_key = job_id, value, key
    best_number = as_number(best_value)
    if best_id is None or best_number is None or not math.isfinite(best_number):
        return None
    return best_id, best_number
