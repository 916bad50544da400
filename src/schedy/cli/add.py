"""``schedy add``: create an experiment (manual, random, TPE or grid search, or PBT).

The arguments of the original CLI are kept: ``schedy add NAME [-s STATUS]
manual`` and ``schedy add NAME random HP DIST 'JSON' …``, where ``'JSON'``
is the distribution's parameters as the wire writes them (docs/protocol.md):
``uniform '{"low": 0, "high": 1}'``, ``normal '{"mean": 0, "std": 1}'``,
``loguniform '{"low": 1e-5, "high": 0.1}'``, ``choice '{"values": [1, 2]}'``,
``const 5``. ``tpe``, ``grid`` and ``pbt`` are new, and so are the short
forms ``uniform 0 1``, ``loguniform 1e-5 0.1``, ``integer 1 8``, ``normal
0 1`` and ``choice '[1, 2]'`` (see :func:`parse_distribution_args`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from schedy import (
    MAXIMIZE,
    MINIMIZE,
    Experiment,
    GridSearch,
    ManualSearch,
    PopulationBasedTraining,
    RandomSearch,
    TPESearch,
    pbt,
    stopping,
)
from schedy._search import MAX_GRID_CELLS, RANDOM_SAMPLERS, grid_too_large
from schedy.cli.common import (
    CommandError,
    UsageError,
    connect,
    int_between,
    max_jobs_arg,
    non_negative_int,
    parse_json_arg,
    positive_int,
    run_time,
    seed_arg,
)
from schedy.errors import DefinitionError, ResourceExistsError
from schedy.random import Distribution, flatten_space, parse_distribution
from schedy.stopping import StoppingPolicy

__all__ = [
    "add_parsers",
    "build_experiment",
    "check_experiment_name",
    "cmd_add",
    "parse_distribution_args",
    "parse_grid_args",
    "parse_policy_arg",
]

_DISTRIBUTION_NAMES = ("uniform", "normal", "loguniform", "integer", "choice", "const")
_DISTRIBUTIONS = ", ".join(_DISTRIBUTION_NAMES)
_DIST_HELP = (
    f"DIST is one of {_DISTRIBUTIONS}; PARAMETERS are its parameters, e.g. uniform 0 1, normal 0 1 "
    """(mean, std), loguniform 1e-5 0.1, integer 1 8, choice '[16, 32, 64]', const 0.5; or the wire JSON, """
    """e.g. integer '{"low": 1, "high": 64, "log": true}', choice '{"values": [16, 32], "weights": [3, 1]}'."""
)


#: The most startup jobs a TPE search takes (``schedy._search.TPEParams``' bound).
_MAX_STARTUP_JOBS = 10**6
#: The longest experiment name the service stores (its wire rule, ``schedy.server.wire.check_name``).
_MAX_NAME_LENGTH = 1000


def _proportion(text: str) -> float:
    """An argparse type: ``--truncate``, a proportion in (0, 0.5]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0 < value <= 0.5:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 0.5, got {text}")
    return value


def check_experiment_name(name: str) -> None:
    """Refuse, before anything is sent, a name the service would: the service's rule, said for the CLI.

    Raises:
        UsageError: an empty name, one longer than 1,000 characters, with a control character (a tab, a
            newline), or ``.`` or ``..``.

    """
    if not name:
        raise UsageError("Give the experiment a name: EXPERIMENT is empty.")
    if len(name) > _MAX_NAME_LENGTH:
        raise UsageError(f"An experiment name has at most {_MAX_NAME_LENGTH:,} characters; this one has {len(name):,}.")
    bad = next((ch for ch in name if ord(ch) < 32 or ord(ch) == 127), None)
    if bad is not None:
        raise UsageError(f"An experiment name must be printable characters; {name[:80]!r} holds {bad!r}.")
    if name in (".", ".."):
        raise UsageError(f"An experiment cannot be named {name!r}: HTTP clients read it as a path step.")


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``add`` and its schedulers ``manual``, ``random``, ``tpe``, ``grid`` and ``pbt``."""
    parser = subparsers.add_parser(
        "add",
        help="Add an experiment.",
        description="Add an experiment: a manual search (you push its jobs), a random, TPE or grid search,\n"
        "or Population Based Training. 'schedy add EXPERIMENT SCHEDULER --help' tells more.",
        epilog="Examples:\n"
        "  schedy add MNIST manual\n"
        """  schedy add MNIST random lr loguniform 1e-5 0.1 layers choice '[1, 2, 3]'\n"""
        """  schedy add MNIST random lr loguniform '{"low": 1e-5, "high": 0.1}'   # the original CLI's form\n"""
        """  schedy add MNIST-TPE tpe max accuracy lr loguniform 1e-5 0.1 batch integer 16 256\n"""
        """  schedy add Ablation grid lr '[0.1, 0.01]' layers integer 1 3\n"""
        """  schedy add MNIST-PBT pbt max accuracy --init lr loguniform 1e-4 0.1 \\\n"""
        "      --explore lr --population 8 --max-generations 10",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("experiment", metavar="EXPERIMENT", help="Name of the new experiment.")
    _add_common_options(parser)
    parser.set_defaults(func=cmd_add, parser=parser)
    schedulers = parser.add_subparsers(
        title="schedulers", dest="scheduler", required=True, metavar="SCHEDULER", help="How jobs are proposed."
    )
    manual = schedulers.add_parser(
        "manual", help="Manual search: workers get the jobs you push.", description="Manual search."
    )
    random = schedulers.add_parser(
        "random",
        help="Random search: each new job samples every distribution.",
        description="Random search: each new job samples every distribution. " + _DIST_HELP,
    )
    random.add_argument(
        "hyperparameters",
        nargs="+",
        metavar="HP DIST PARAMETERS",
        help="A hyperparameter: its name, distribution and parameters; repeat for each.",
    )
    random.add_argument(
        "--sampler",
        choices=RANDOM_SAMPLERS,
        default="iid",
        help="iid: independent draws (default); sobol or halton: the points of one scrambled "
        "low-discrepancy sequence in order, which cover the space more evenly for the same budget.",
    )
    tpe = schedulers.add_parser(
        "tpe",
        help="TPE: each new job where good results are likelier (docs/search.md).",
        description="Model-based search (TPE, docs/search.md): each new job is drawn where good results "
        "are likelier than bad ones, knowing every job still running. " + _DIST_HELP,
    )
    tpe.add_argument(
        "objective", choices=(MINIMIZE, MAXIMIZE), metavar="{min,max}", help="Whether RESULT is minimized or maximized."
    )
    tpe.add_argument("result", metavar="RESULT", help="The result that ranks jobs, e.g. accuracy.")
    tpe.add_argument("hyperparameters", nargs="+", metavar="HP DIST PARAMETERS", help="A hyperparameter; repeat.")
    tpe.add_argument(
        "--startup-jobs",
        type=int_between(0, _MAX_STARTUP_JOBS),
        metavar="N",
        help="Quasi-random jobs before the model is used (default 10).",
    )
    tpe.add_argument(
        "--startup",
        choices=("sobol", "halton", "random"),
        help="How the startup jobs are drawn (default sobol).",
    )
    grid = schedulers.add_parser(
        "grid",
        help="Grid search: every combination once.",
        description="Grid search: every combination of the values, each handed out exactly once, in a shuffled "
        "order. VALUES is a JSON list, or a distribution with finitely many values, as random takes it or "
        """as JSON, e.g. '[0.1, 0.01]', integer 1 4 (1, 2, 3 and 4), choice '["relu", "tanh"]' or """
        """'{"integer": {"low": 0, "high": 8, "step": 2}}'. Continuous distributions have no values to list.""",
    )
    grid.add_argument("cells", nargs="+", metavar="HP VALUES", help="A hyperparameter and its values; repeat.")
    pbt_parser = _add_pbt_parser(schedulers)
    for scheduler in (manual, random, tpe, grid, pbt_parser):
        _add_common_options(scheduler, after=True)


def _add_common_options(parser: argparse.ArgumentParser, *, after: bool = False) -> None:
    """``--status`` and the experiment's options: before the scheduler, or (``after``) among its words.

    After the scheduler they default to nothing, so that a value given before it stands.
    """
    default: dict[str, Any] = {"default": argparse.SUPPRESS} if after else {}
    parser.add_argument(
        "-s",
        "--status",
        choices=(Experiment.RUNNING, Experiment.DONE),
        help="Status of the new experiment (DONE: hand out no job yet). Default RUNNING.",
        **(default or {"default": Experiment.RUNNING}),
    )
    parser.add_argument(
        "--early-stopping",
        metavar="POLICY",
        help="Stop hopeless jobs from their reports (job.report): NAME:RESULT:OBJECTIVE[:KEY=VALUE,...] with NAME "
        "median, asha or hyperband, e.g. asha:val_loss:min:min_step=1,reduction_factor=3,max_step=27 or "
        "median:acc:max:warmup_steps=2 (compare=value: the others' values at the step, as Optuna's "
        "MedianPruner, instead of their running averages); or the option's JSON. See docs/early-stopping.md.",
        **default,
    )
    parser.add_argument(
        "--max-jobs",
        type=max_jobs_arg,
        metavar="N",
        help="Budget: the search creates at most N jobs; then the experiment becomes DONE once nothing is "
        "queued or running, and the workers' loops end.",
        **default,
    )
    parser.add_argument(
        "--seed",
        type=seed_arg,
        metavar="N",
        help="Seed the search's random decisions: one worker then replays the same search.",
        **default,
    )
    parser.add_argument(
        "--max-retries",
        type=non_negative_int,
        metavar="N",
        help="Try a crashed job again up to N times: one whose worker vanished (its lease lapsed), and in a "
        "grid one that raised. Default 0.",
        **default,
    )
    parser.add_argument(
        "--max-run-time",
        type=run_time,
        metavar="SECONDS",
        help="End a job CRASHED after SECONDS RUNNING when its worker sends no heartbeats (the 2018 client).",
        **default,
    )
    parser.add_argument(
        "--exist-ok",
        action="store_true",
        help="If an experiment of that name exists defined the same (its status aside), succeed without "
        "changing it: what each node of a cluster may run before its workers. Defined otherwise: refused, "
        "saying where.",
        **(default or {"default": False}),
    )


def _add_pbt_parser(schedulers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = schedulers.add_parser(
        "pbt",
        help="Population Based Training: weak members copy and perturb strong ones.",
        description="Population Based Training (docs/pbt.md). Each job is one training interval of one "
        "member; its results must include RESULT. " + _DIST_HELP,
    )
    parser.add_argument(
        "objective",
        choices=(pbt.MINIMIZE, pbt.MAXIMIZE),
        metavar="{min,max}",
        help="Whether RESULT is minimized or maximized.",
    )
    parser.add_argument("result", metavar="RESULT", help="The result that ranks members, e.g. accuracy.")
    parser.add_argument(
        "--truncate",
        type=_proportion,
        default=0.2,
        metavar="P",
        help="Exploit: members in the bottom P of the population copy one of the top P (0 < P <= 0.5; default 0.2).",
    )
    parser.add_argument(
        "--init",
        nargs="+",
        action="append",
        default=[],
        metavar="HP DIST PARAMETERS",
        help="Sample HP from this distribution for the initial population, e.g. --init lr loguniform 1e-4 0.1 "
        "(repeat per hyperparameter; needs --population).",
    )
    parser.add_argument(
        "--explore",
        action="append",
        default=[],
        metavar="HP",
        help="Explore: perturb HP by a random factor in [0.8, 1.2) after copying (repeat per hyperparameter).",
    )
    parser.add_argument(
        "--perturb",
        nargs=3,
        action="append",
        default=[],
        metavar=("HP", "MIN", "MAX"),
        help="Explore: perturb HP by a random factor in [MIN, MAX) instead (implies --explore HP).",
    )
    parser.add_argument(
        "--population", type=positive_int, metavar="N", help="Population size (members trained in parallel)."
    )
    parser.add_argument(
        "--max-generations",
        type=positive_int,
        metavar="N",
        help="A member stops after N generations; when all have, the experiment becomes DONE.",
    )
    return parser


#: The distributions with a short form and their parameters in order: ``uniform 0 1`` or
#: ``uniform '[0, 1]'`` for ``uniform '{"low": 0, "high": 1}'``.
_SHORT_FORMS = {
    "uniform": ("low", "high"),
    "loguniform": ("low", "high"),
    "integer": ("low", "high"),
    "normal": ("mean", "std"),
}


def _number(word: str, what: str) -> float | int:
    try:
        return int(word)
    except ValueError:
        pass
    try:
        return float(word)
    except ValueError:
        raise UsageError(f"{what} must be a number, got {word!r}.") from None


def _distribution(name: str, dist: str, args: Any) -> Distribution:
    try:
        return parse_distribution({dist: args}, name)
    except DefinitionError as exc:
        raise UsageError(str(exc)) from None


def _short_args(name: str, dist: str, values: list[Any]) -> dict[str, Any]:
    keys = _SHORT_FORMS[dist]
    if len(values) != len(keys):
        raise UsageError(
            f"Hyperparameter {name!r}: {dist} takes {len(keys)} numbers ({', '.join(keys)}), got {len(values)}: "
            f"e.g. {name} {dist} 0 1."
        )
    return dict(zip(keys, values, strict=True))


def _one_distribution(words: Sequence[str], i: int) -> tuple[str, Distribution, int]:
    """The hyperparameter that starts at ``words[i]``: its name, distribution, and where the next one starts."""
    name = words[i]
    if i + 2 >= len(words):
        given = " ".join(words[i:])
        raise UsageError(
            f"Give each hyperparameter as HP DIST PARAMETERS, e.g. lr loguniform 1e-5 0.1; {given!r} is not. "
            f"DIST is one of {_DISTRIBUTIONS}."
        )
    dist, first = words[i + 1], words[i + 2]
    what = f"the {dist} distribution of {name!r}"
    if dist in _SHORT_FORMS and not first.lstrip().startswith(("{", "[")):
        keys = _SHORT_FORMS[dist]
        numbers = words[i + 2 : i + 2 + len(keys)]
        if len(numbers) < len(keys):
            raise UsageError(f"Hyperparameter {name!r}: {dist} takes {len(keys)} numbers ({', '.join(keys)}).")
        values = [_number(word, f"Hyperparameter {name!r}: {key}") for key, word in zip(keys, numbers, strict=True)]
        return name, _distribution(name, dist, dict(zip(keys, values, strict=True))), i + 2 + len(keys)
    if dist == "choice" and not first.lstrip().startswith(("{", "[")):
        raise UsageError(
            f"Hyperparameter {name!r}: give the values of a choice as one JSON list, e.g. {name} choice "
            """'[16, 32, 64]' or '["relu", "tanh"]'."""
        )
    args = parse_json_arg(first, what)
    if isinstance(args, list) and dist in _SHORT_FORMS:
        args = _short_args(name, dist, args)
    elif isinstance(args, list) and dist == "choice":
        args = {"values": args}
    return name, _distribution(name, dist, args), i + 3


def parse_distribution_args(words: Sequence[str]) -> dict[str, Distribution]:
    """``HP DIST PARAMETERS HP DIST PARAMETERS …`` → hyperparameter name → distribution.

    PARAMETERS is the distribution's wire JSON (``uniform '{"low": 0,
    "high": 1}'``, the original CLI's form), or a short form: a JSON list
    (``uniform '[0, 1]'``, ``choice '[16, 32]'``) or, for ``uniform``,
    ``loguniform``, ``integer`` and ``normal``, two numbers (``uniform 0 1``).

    Raises:
        UsageError: a hyperparameter without its parameters, a name given
            twice, bad JSON, or a distribution the service would refuse.

    Example:
        >>> parse_distribution_args(["x", "uniform", '{"low": 0, "high": 1}', "n", "integer", "1", "8"])
        {'x': Uniform(low=0.0, high=1.0), 'n': Integer(low=1, high=8, step=1, log=False)}

    """
    out: dict[str, Distribution] = {}
    i = 0
    while i < len(words):
        name, distribution, i = _one_distribution(words, i)
        if name in out:
            raise UsageError(f"The hyperparameter {name!r} is given twice.")
        out[name] = distribution
    return out


def parse_grid_args(words: Sequence[str]) -> dict[str, Any]:
    """``HP VALUES HP VALUES …`` → hyperparameter name → its values (a JSON list, or a distribution).

    VALUES is a JSON list, a distribution's JSON, or a distribution with
    finitely many values as ``random`` takes it: ``integer 1 4`` (1, 2, 3,
    4), ``choice '[16, 32]'``, ``const 5``, or a wire form such as
    ``integer '{"low": 0, "high": 8, "step": 2}'``.

    Raises:
        UsageError: a name without values, a name given twice, bad JSON, a
            continuous distribution (no list of values to enumerate), or more
            values than a grid may have (``schedy._search.MAX_GRID_CELLS``).

    Example:
        >>> parse_grid_args(["lr", "[0.1, 0.01]", "layers", "integer", "1", "3"])
        {'lr': [0.1, 0.01], 'layers': Integer(low=1, high=3, step=1, log=False)}

    """
    out: dict[str, Any] = {}
    i = 0
    while i < len(words):
        name = words[i]
        if i + 1 >= len(words):
            raise UsageError(f"Give the grid as HP VALUES pairs, e.g. lr '[0.1, 0.01]'; {name!r} has no values.")
        values: Any
        if words[i + 1] in _DISTRIBUTION_NAMES:
            name, values, i = _one_distribution(words, i)
            size = values.grid_size()  # counted, not listed: integer 1 1000000000 is refused at once
            if size is not None and size > MAX_GRID_CELLS:
                raise UsageError(grid_too_large(name, size))
            if size is None:
                raise UsageError(
                    f"Hyperparameter {name!r}: a grid cannot enumerate the continuous {values.wire_name} "
                    f"distribution; list its values instead, e.g. {name} '[0.1, 0.01]', or give an integer "
                    f"""range ({name} integer 1 4) or a uniform with a step ({name} uniform """
                    """'{"low": 0, "high": 1, "step": 0.25}')."""
                )
        else:
            values, i = parse_json_arg(words[i + 1], f"the values of {name!r}"), i + 2
        if name in out:
            raise UsageError(f"The hyperparameter {name!r} is given twice.")
        out[name] = values
    return out


def _tpe(args: argparse.Namespace) -> TPESearch:
    options: dict[str, Any] = {}
    if args.startup_jobs is not None:
        options["n_startup_jobs"] = args.startup_jobs
    if args.startup is not None:
        options["startup"] = args.startup
    space = parse_distribution_args(args.hyperparameters)
    return TPESearch(args.experiment, space, args.objective, args.result, status=args.status, **options)


def _pbt(args: argparse.Namespace) -> PopulationBasedTraining:
    init = parse_distribution_args([word for group in args.init for word in group])
    if init and args.population is None:
        raise UsageError("--init distributions need --population N: how many members to sample from them.")
    explore: dict[str, pbt.Perturb] = {name: pbt.Perturb() for name in args.explore}
    for name, low, high in args.perturb:
        factors = [parse_json_arg(low, f"--perturb {name} MIN"), parse_json_arg(high, f"--perturb {name} MAX")]
        explore[name] = pbt.Perturb(min_factor=factors[0], max_factor=factors[1])
    sampled = {param.name for param in flatten_space(init)}
    missing = [name for name in explore if init and name not in sampled]
    if missing:  # the service's rule: a member sampled from init would not carry it, so it could never move
        raise UsageError(
            f"--explore {missing[0]!r} names a hyperparameter no --init samples: add --init {missing[0]} DIST "
            f"PARAMETERS, or drop --explore {missing[0]}."
        )
    return PopulationBasedTraining(
        args.experiment,
        args.objective,
        args.result,
        pbt.Truncate(args.truncate),
        explore=explore,
        initial_distributions=init,
        population_size=args.population,
        status=args.status,
        max_generations=args.max_generations,
    )


_POLICY_KEYS = {"min_step", "max_step", "reduction_factor", "warmup_steps", "min_jobs"}


def parse_policy_arg(text: str) -> StoppingPolicy:
    """``--early-stopping``: ``NAME:RESULT:OBJECTIVE[:KEY=VALUE,...]`` or the option's JSON.

    The JSON may leave out what has a default, as the service's does
    (``{"asha": {"resultName": "loss", "objective": "min"}}``).

    Raises:
        UsageError: the text describes no policy (with the reason: for JSON, the missing or unknown key).
        schedy.errors.DefinitionError: a parameter of the short form is out of range.

    """
    if text.lstrip().startswith("{"):
        try:
            return stopping.policy_from_wire(parse_json_arg(text, "--early-stopping"))
        except DefinitionError as exc:
            raise UsageError(f"--early-stopping JSON (the earlyStopping option): {exc}") from None
    parts = text.split(":")
    if len(parts) not in (3, 4) or parts[0] not in ("median", "asha", "hyperband"):
        raise UsageError(
            f"--early-stopping {text!r}: use NAME:RESULT:OBJECTIVE[:KEY=VALUE,...] with NAME median, asha or "
            "hyperband, e.g. asha:loss:min:max_step=27."
        )
    options: dict[str, int | str] = {}
    for pair in parts[3].split(",") if len(parts) == 4 and parts[3] else []:
        key, _, value = pair.partition("=")
        if key == "compare" and parts[0] == "median":
            options[key] = value.strip()  # checked by Median, with the two words it takes
            continue
        if key not in _POLICY_KEYS or not value.strip().lstrip("-").isdigit():
            raise UsageError(
                f"--early-stopping: {pair!r} is not KEY=INTEGER with KEY one of {', '.join(sorted(_POLICY_KEYS))}"
                " (and the median rule's compare=average or compare=value)."
            )
        options[key] = int(value)
    name, result, objective = parts[:3]
    cls: Any = {"median": stopping.Median, "asha": stopping.ASHA, "hyperband": stopping.Hyperband}[name]
    if cls is stopping.Hyperband and "max_step" not in options:
        raise UsageError("--early-stopping hyperband needs max_step=N, the step of a job's full budget.")
    if cls is stopping.Hyperband and "min_step" not in options:
        options["min_step"] = 1
    try:
        built: StoppingPolicy = cls(result, objective, **options)
        return built
    except TypeError:
        allowed = "warmup_steps, min_jobs, compare" if name == "median" else "min_step, reduction_factor, max_step"
        raise UsageError(f"--early-stopping {name} takes {allowed}.") from None


def build_experiment(args: argparse.Namespace) -> Experiment:
    """The experiment the arguments describe.

    Raises:
        UsageError: the definition is invalid (with the reason).

    """
    check_experiment_name(args.experiment)
    try:
        exp: Experiment
        if args.scheduler == "manual":
            exp = ManualSearch(args.experiment, status=args.status)
        elif args.scheduler == "random":
            space = parse_distribution_args(args.hyperparameters)
            exp = RandomSearch(args.experiment, space, status=args.status, sampler=args.sampler)
        elif args.scheduler == "tpe":
            exp = _tpe(args)
        elif args.scheduler == "grid":
            exp = GridSearch(args.experiment, parse_grid_args(args.cells), status=args.status)
        else:
            exp = _pbt(args)
        if getattr(args, "early_stopping", None):
            exp.early_stopping = parse_policy_arg(args.early_stopping)
            # The service's rule, checked here so that it is refused before anything is sent.
            stopping.check_objective(exp.early_stopping, exp._search_objective(), type(exp).__name__)
        if getattr(args, "max_jobs", None) is not None:
            exp.max_jobs = args.max_jobs
        if getattr(args, "seed", None) is not None:
            exp.seed = args.seed
        if getattr(args, "max_retries", None) is not None:
            exp.max_retries = args.max_retries
        if getattr(args, "max_run_time", None) is not None:
            exp.max_run_time = args.max_run_time
        return exp
    except DefinitionError as exc:
        raise UsageError(str(exc)) from None


def cmd_add(args: argparse.Namespace) -> None:
    """Create the experiment; print nothing on success (as the original did)."""
    exp = build_experiment(args)
    with connect(args) as db:
        try:
            db.add_experiment(exp, exist_ok=getattr(args, "exist_ok", False))
        except ResourceExistsError as exc:
            if exc.difference is None:  # the client's sentence names Python's exist_ok=True: say the option
                raise CommandError(
                    f"An experiment named {exp.name!r} already exists: add --exist-ok to use it if it is "
                    "defined the same, or choose another name."
                ) from None
            raise CommandError(
                f"An experiment named {exp.name!r} already exists, defined otherwise: {exc.difference}. "
                "Keep it as it is, change its options with 'schedy set', remove it first ('schedy rm'), "
                "or choose another name."
            ) from None
