"""Entry point of the ``schedy`` console script.

Commands, each in its own module:

* experiments and jobs: ``add`` (:mod:`~schedy.cli.add`), ``rm``, ``show``,
  ``list``, ``push`` (:mod:`~schedy.cli.experiments`), ``export``
  (:mod:`~schedy.cli.export`), ``import`` (:mod:`~schedy.cli.import_`),
  ``watch`` (:mod:`~schedy.cli.watch`), ``artifact list|get|put|rm``
  (:mod:`~schedy.cli.artifacts`);
* workers: ``run`` (:mod:`~schedy.cli.run`);
* credentials: ``gen-token``, ``token list|revoke`` (:mod:`~schedy.cli.auth`);
* the service: ``server``, ``user add|list|passwd`` (:mod:`~schedy.cli.admin`), ``database copy``
  (:mod:`~schedy.cli.database`).

Every command but ``server``, ``user`` and ``database`` talks to the service named by the
client configuration (``--config FILE``, else the
``SCHEDY_ROOT``/``SCHEDY_EMAIL``/``SCHEDY_TOKEN`` variables, else
``$SCHEDY_CONFIG``, else ``$SCHEDY_HOME/client.json``, else
``~/.schedy/client.json``). A failure prints one line, ``schedy: …``, and
exits 1 (2 for wrong arguments, 130 after Ctrl-C).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Sequence
from typing import Any, ClassVar, NoReturn

from schedy import __version__
from schedy.cli import (
    add,
    admin,
    artifacts,
    auth,
    database,
    experiments,
    export,
    import_,
    options,
    run,
    status,
    watch,
)
from schedy.errors import HTTPError, SchedyError


def version_line() -> str:
    """Which Schedy this is: the version, that it is the self-hosted one, and where it is installed.

    The package index's ``schedy`` 0.1.0b6 is the 2018 client of a hosted service; this line tells them apart.
    """
    import schedy

    where = os.path.dirname(schedy.__file__)
    return f"schedy {__version__} (self-hosted service and client, {where})"


class _VersionAction(argparse.Action):
    """``--version``: the version line whole, on any terminal width.

    argparse's own version action wraps its text to the terminal, which breaks
    the installed path of :func:`version_line` across lines.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        print(version_line())
        parser.exit()


class _Parser(argparse.ArgumentParser):
    """An argument parser that reads every negative JSON number, and ``-Infinity``, as a value, not an option.

    argparse takes an argument for a value only if it looks like ``-1`` or ``-1.5``: ``-1e-3`` or ``-Infinity``
    as a hyperparameter, a result or a distribution's parameter was an "unrecognized argument". No command has
    an option that looks like a number, so the wider pattern takes none away. The subcommands' parsers are of
    this class too (argparse makes them of their parent's).
    """

    #: The words being parsed (set by :func:`main`), for the hints of :meth:`error`.
    words: ClassVar[Sequence[str]] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|Infinity)$")

    def error(self, message: str) -> NoReturn:
        """A refused argument: one line, ``schedy: …``, exit status 2, without the usage text (docs/cli.md).

        A missing or unknown argument also says where to read more ('schedy add --help'), or the likely
        fix: ``--config`` goes before the command, and a name that starts with ``-`` after ``--``.
        """
        text = message if message.endswith((".", ")")) else message + "."
        self.exit(2, f"schedy: {text}{self._hint(message)}\n")

    def _hint(self, message: str) -> str:
        missing = message.startswith("the following arguments are required")
        unknown = message.startswith("unrecognized arguments")
        if unknown and "--config" in message.split(": ", 1)[-1].split():
            return " --config goes before the command: schedy --config FILE COMMAND …"
        command = self._command_words()
        if missing and command:
            # The words of this command (after its name): one that looks like an option and is none of its own.
            after = self.words[self.words.index(command[-1]) + 1 :] if command[-1] in self.words else []
            taken = [w for w in after if w.startswith("-") and w != "--" and not self._is_known(w)]
            if taken:
                return (
                    f" {taken[0]!r} was read as an option; if it is a name, put -- before it: "
                    f"schedy {' '.join(command)} -- {taken[0]} …"
                )
        if missing or unknown:
            return f" ('{self._help_command()} --help' tells more.)"
        return ""

    def _help_command(self) -> str:
        """Whose ``--help`` to read: this parser's, or for the top one (unknown arguments) the command's."""
        if self.prog.split() != ["schedy"]:
            return self.prog
        commands = next((a.choices for a in self._actions if isinstance(a, argparse._SubParsersAction)), None) or {}
        return next((f"schedy {w}" for w in self.words if w in commands), self.prog)

    def _is_known(self, word: str) -> bool:
        name = word.split("=", 1)[0]
        return (
            self._negative_number_matcher.match(word) is not None
            or name in self._option_string_actions
            or (name.startswith("--") and any(o.startswith(name) for o in self._option_string_actions))
        )

    def _command_words(self) -> list[str]:
        """The command's words as this parser's name says them: ``["add"]`` for ``schedy add EXPERIMENT tpe``."""
        words = self.prog.split()[1:]
        return words[: next((i for i, w in enumerate(words) if not w.islower()), len(words))]


#: How the client words a refusal: ``HTTP error 404 on GET experiments/x/: Experiment 'x' does not exist.``
_REFUSAL = re.compile(r"HTTP error 4\d\d on [A-Z]+ \S+: (?P<sentence>[A-Z].*[.?!)])", re.DOTALL)


def error_line(exc: SchedyError) -> str:
    """What ``schedy: …`` says for an error: a refusal's sentence without the request it answers.

    The service's sentence says what is wrong in the user's terms ("Experiment 'x' does not exist."); the
    status and the route before it (``HTTP error 404 on GET experiments/x/:``) are the library's, and stay
    where the answer has no such sentence (an empty answer, a proxy's page, an error of the service).

    Example:
        >>> from schedy.errors import ResourceNotFoundError
        >>> refused = ResourceNotFoundError("", 404)
        >>> refused.args = ("HTTP error 404 on GET experiments/x/: Experiment 'x' does not exist.",)
        >>> error_line(refused)
        "Experiment 'x' does not exist."

    """
    text = str(exc)
    refusal = _REFUSAL.fullmatch(text) if isinstance(exc, HTTPError) else None
    return refusal.group("sentence") if refusal else text


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser: argparse.ArgumentParser = _Parser(  # its subcommands get the class too (typed as argparse's)
        prog="schedy",
        description="Schedy: experiments and hyperparameter search. 'schedy COMMAND --help' explains each command.",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="Client configuration file. Without it, the first of: the SCHEDY_ROOT/SCHEDY_EMAIL/SCHEDY_TOKEN "
        "variables, the file $SCHEDY_CONFIG, $SCHEDY_HOME/client.json, ~/.schedy/client.json.",
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="Print which Schedy this is and exit.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add.add_parsers(subparsers)
    experiments.add_parsers(subparsers)
    export.add_parsers(subparsers)
    import_.add_parsers(subparsers)
    status.add_parsers(subparsers)
    options.add_parsers(subparsers)
    artifacts.add_parsers(subparsers)
    watch.add_parsers(subparsers)
    run.add_parsers(subparsers)
    auth.add_parsers(subparsers)
    admin.add_parsers(subparsers)
    database.add_parsers(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors print one line and exit non-zero."""
    _Parser.words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.command not in ("server", "user"):  # those configure logging their own way
        # The client logs retries and lost heartbeats as warnings: worth a line
        # each from a long-running worker, noise before a command's one-line error.
        level = logging.WARNING if args.command == "run" else logging.ERROR
        logging.basicConfig(format="schedy: %(message)s", level=level)
    try:
        status = args.func(args)
    except KeyboardInterrupt:
        print("\nschedy: interrupted.", file=sys.stderr)
        return 130
    except SchedyError as exc:
        print(f"schedy: {error_line(exc)}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 1))
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if args.command not in ("server", "user") or not missing or missing == "schedy":
            raise
        # The client installs with no dependencies; the service's own come with the 'server' extra.
        print(
            f"schedy: 'schedy {args.command}' needs the service's packages ({missing} is not installed): "
            "pip install './[server]' from a checkout of Schedy.",
            file=sys.stderr,
        )
        return 1
    except BrokenPipeError:
        # `schedy list | head`: the reader is gone, which is no error of ours.
        # Point stdout at /dev/null so that the interpreter's final flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(main())
