r"""The contract between ``schedy run`` and the command it runs.

In: placeholders in the command's arguments are replaced for each job:

* ``%e`` → the experiment's name;
* ``%j`` → the job's id;
* ``%h`` → ``--NAME VALUE`` for each hyperparameter (underscores in NAME
  become hyphens; strings as they are, other values as JSON; a ``null``
  hyperparameter is left out). As a whole argument, ``%h`` becomes that
  many arguments; inside a longer one (``sh -c "train %h"``) it becomes
  their shell-quoted text;
* ``%{NAME}`` → the value of the hyperparameter NAME (a string as it is,
  other values as JSON), an empty string when the job has none (a
  conditional hyperparameter of another branch: use ``%h`` there);
* ``%%`` → ``%``. Any other ``%`` is left as it is (``schedy run`` warns
  about a ``%`` followed by a letter: :func:`unknown_placeholders`).

Out: the command prints its results as a JSON object after a line
``--- RESULTS ---``, up to a line ``--- END RESULTS ---`` or the end of its
output; the last such block counts. While it trains, it may print
intermediate values for early stopping, one line each:
``--- REPORT --- {"step": 3, "loss": 0.25}`` (``step`` a non-negative
integer, every other key a metric: a number, NaN or null). Everything else
it prints is just shown. Only the standard output is read (the standard
error's lines would interleave with it).

A carriage return starts a line over, as on a terminal: of a line
``epoch 3 [=====]\r--- REPORT --- {...}`` (a progress bar, e.g. tqdm's,
then a report or a marker) what counts is the text after the last carriage
return that is followed by any (a ``\r\n`` line end is one).

Example:
    >>> expand(["train.py", "%h", "--out=/runs/%e/%j"], "mnist", "K3x", {"learning_rate": 0.01, "act": "relu"})
    ['train.py', '--learning-rate', '0.01', '--act', 'relu', '--out=/runs/mnist/K3x']
    >>> expand(["train.py", "--lr=%{learning_rate}", "%{act}"], "mnist", "K3x", {"learning_rate": 0.01, "act": "relu"})
    ['train.py', '--lr=0.01', 'relu']
    >>> parser = ResultsParser()
    >>> parser.feed(b'epoch 1\n--- RESULTS ---\n{"loss": 0.5}\n')
    >>> parser.results()
    {'loss': 0.5}

"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from schedy._validate import MAX_STEP
from schedy.cli.common import read_json, unsendable

__all__ = [
    "END_MARKER",
    "MARKER",
    "REPORT_MARKER",
    "BadResults",
    "Report",
    "ResultsParser",
    "expand",
    "hyperparameter_args",
    "named_placeholders",
    "unknown_placeholders",
]

MARKER = "--- RESULTS ---"
END_MARKER = "--- END RESULTS ---"
REPORT_MARKER = "--- REPORT ---"

#: An intermediate report read from the output: ``(step, metrics)``, or a sentence saying what is wrong.
Report = tuple[int, dict[str, float | None]] | str

_PLACEHOLDER = re.compile(r"%[ejh%]|%\{([^{}]*)\}")
_ANY_PLACEHOLDER = re.compile(r"%%|%\{[^{}]*\}|%[A-Za-z{]")


class BadResults(ValueError):
    """The results block is not a JSON object."""


def hyperparameter_args(hyperparameters: Mapping[str, Any]) -> list[str]:
    """``--NAME VALUE`` for each hyperparameter that is not ``null``.

    Example:
        >>> hyperparameter_args({"num_layers": 3, "dropout": None, "sizes": [64, 32], "bn": True})
        ['--num-layers', '3', '--sizes', '[64, 32]', '--bn', 'true']

    """
    out: list[str] = []
    for name, value in hyperparameters.items():
        if value is None:
            continue
        out += ["--" + name.replace("_", "-"), _value_text(value)]
    return out


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, allow_nan=True)


def expand(template: Sequence[str], experiment: str, job_id: str, hyperparameters: Mapping[str, Any]) -> list[str]:
    """The command's arguments for one job (see the module docstring)."""
    hps = hyperparameter_args(hyperparameters)
    values = {"%e": experiment, "%j": job_id, "%h": shlex.join(hps), "%%": "%"}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return values[match.group()]
        value = hyperparameters.get(name)
        return "" if value is None else _value_text(value)

    argv: list[str] = []
    for arg in template:
        if arg == "%h":
            argv += hps
        else:
            argv.append(_PLACEHOLDER.sub(replace, arg))
    return argv


def named_placeholders(template: Sequence[str]) -> list[str]:
    """The hyperparameters the command names with ``%{NAME}``, in order.

    Example:
        >>> named_placeholders(["train.py", "--lr=%{lr}", "%{layers}", "%h"])
        ['lr', 'layers']

    """
    return [match.group(1) for arg in template for match in _PLACEHOLDER.finditer(arg) if match.group(1) is not None]


def unknown_placeholders(template: Sequence[str]) -> list[str]:
    """What looks like a placeholder in the command but is none (``%x``, ``%{``), left as it is.

    Example:
        >>> unknown_placeholders(["train.py", "--lr", "%lr", "%h", "100%%", "%{x}"])
        ['%l']

    """
    found = (match.group() for arg in template for match in _ANY_PLACEHOLDER.finditer(arg))
    return [text for text in found if not (text in ("%%", "%e", "%j", "%h") or text.endswith("}"))]


#: The longest last line kept to say "this looks like results without their marker".
_TAIL_KEPT = 64 * 1024
#: The longest line outside a results block kept whole (1 MiB). A longer one is passed through but not
#: kept: it is no marker line, and too long for a report the service takes (a request holds at most
#: 1 MiB by default) or for results without their marker (:data:`_TAIL_KEPT`). Lines inside a block are
#: kept whatever their length: they are the results.
_LINE_KEPT = 1 << 20
_REPORT_PREFIX = REPORT_MARKER.encode()


class ResultsParser:
    """Finds the last results block in a command's output, fed as it comes.

    Keeps only the block being read, not the whole output, and of a line outside a block no more than
    :data:`_LINE_KEPT` bytes after its last carriage return (what a terminal shows of it, see the module
    docstring); reads each byte once, however long its line (a progress bar redrawn after a carriage return
    for hours is one line).
    """

    def __init__(self) -> None:
        # Outside a block, the piece of the line being read after its last carriage return; inside, the line.
        self._partial = bytearray()
        self._long: bool | None = None  # that piece is too long to keep: whether it is a report line
        self._long_blank = True  # that piece, not kept, is whitespace so far
        # The line's last piece before a carriage return that is not blank (a report flag for a long one).
        self._shown: bytes | bool | None = None
        self._block: list[bytes] | None = None  # lines of the open block
        self._last: list[bytes] | None = None  # lines of the last closed block
        self._reports: list[Report] = []
        self._tail: bytes | None = None  # the last line outside blocks, if it may be a JSON object

    def take_reports(self) -> list[Report]:
        """The report lines read since the last call, in order (a string for each malformed one)."""
        reports, self._reports = self._reports, []
        return reports

    def feed(self, data: bytes) -> None:
        """Read more output (any chunk: lines may be split across chunks)."""
        *lines, rest = data.split(b"\n")
        for line in lines:
            self._add(line)
            self._end_line()
        self._add(rest)

    def saw_block(self) -> bool:
        """Whether a ``--- RESULTS ---`` line was read (whatever follows it)."""
        self._flush()
        return self._block is not None or self._last is not None

    def _add(self, piece: bytes) -> None:
        """Add a piece of the line being read."""
        if not piece:
            return
        if self._block is not None:  # a block's lines are kept whole, whatever their length: they are the results
            self._partial += piece
            return
        head, *pieces = piece.split(b"\r")
        self._grow(head)
        if not pieces:
            return
        self._end_piece()
        *middle, last = pieces
        for text in reversed(middle):  # whole pieces between two carriage returns: only the last shown counts
            if text and not text.isspace():
                self._shown = text if len(text) <= _LINE_KEPT else text.lstrip().startswith(_REPORT_PREFIX)
                break
        self._grow(last)

    def _grow(self, piece: bytes) -> None:
        """Add to the piece after the line's last carriage return: kept, or (past :data:`_LINE_KEPT`) only looked at."""
        if not piece:
            return
        if self._long is not None:
            self._long_blank = self._long_blank and piece.isspace()
            return
        self._partial += piece
        if len(self._partial) > _LINE_KEPT:
            self._long = self._partial.lstrip().startswith(_REPORT_PREFIX)
            self._long_blank = self._partial.isspace()
            self._partial = bytearray()

    def _end_piece(self) -> None:
        """A carriage return (or the line's end) ends the piece being read: it is what is shown, unless blank."""
        if self._long is not None:
            if not self._long_blank:
                self._shown = self._long
            self._long, self._long_blank = None, True
        elif self._partial and not self._partial.isspace():
            self._shown = bytes(self._partial)
        self._partial = bytearray()

    def _flush(self) -> None:
        """The output is over: parse its last line, if it has no newline."""
        if self._partial or self._long is not None or self._shown is not None:
            self._end_line()

    def _end_line(self) -> None:
        """The line being read is over: parse it."""
        if self._block is not None:
            line, self._partial = bytes(self._partial), bytearray()
            text = _last_text(line)
            if text == MARKER.encode():
                self._block = []
            elif text == END_MARKER.encode():
                self._last, self._block = self._block, None
            else:
                self._block.append(line)
            return
        self._end_piece()
        shown, self._shown = self._shown, None
        if isinstance(shown, bool):  # too long to keep: neither a marker, results nor a usable report
            self._tail = None
            if shown:
                self._reports.append(f"a {REPORT_MARKER} line must be shorter than {_LINE_KEPT >> 20} MiB")
        elif shown is not None:
            self._line(shown.strip())

    def _line(self, text: bytes) -> None:
        """A line outside a block, as shown (stripped, not blank, at most :data:`_LINE_KEPT` bytes)."""
        self._tail = text if text.startswith(b"{") and len(text) <= _TAIL_KEPT else None
        if text.startswith(_REPORT_PREFIX):
            self._reports.append(_report(text[len(REPORT_MARKER) :]))
        elif text == MARKER.encode():
            self._block = []

    def unmarked_results(self) -> bool:
        """Whether the output's last line (outside a block) is a JSON object: results without their marker line."""
        self._flush()
        if self._tail is None:
            return False
        try:
            return isinstance(read_json(self._tail), dict)
        except ValueError:
            return False

    def results(self) -> dict[str, Any] | None:
        """The results object, or ``None`` when no block was printed.

        Raises:
            BadResults: the block is empty, not JSON, not an object, or holds what the service refuses
                (an integer past a float's range, lists nested more than 100 levels deep).

        """
        self._flush()
        block = self._block if self._block is not None else self._last
        if block is None:
            return None
        text = b"\n".join(block).decode("utf-8", errors="replace").strip()
        if not text:
            raise BadResults(f"the {MARKER} block is empty")
        try:
            value = read_json(text)
        except json.JSONDecodeError as exc:
            raise BadResults(f"the {MARKER} block is not valid JSON ({exc})") from None
        except ValueError as exc:  # nested too deeply to read
            raise BadResults(f"the {MARKER} block cannot be the job's results: {exc}") from None
        if not isinstance(value, dict):
            raise BadResults(f"the {MARKER} block must be a JSON object, got {type(value).__name__}")
        refusal = unsendable({"results": value})  # nested as it is sent
        if refusal is not None:
            raise BadResults(f"the {MARKER} block cannot be the job's results: {refusal}")
        return value


def _last_text(line: bytes) -> bytes:
    """What a terminal shows of a line: its last piece after a carriage return that is not blank, stripped."""
    end = len(line)
    while end > 0:
        start = line.rfind(b"\r", 0, end) + 1
        text = line[start:end].strip()
        if text:
            return text
        end = start - 1
    return b""


def _report(raw: bytes) -> Report:
    """Parse the JSON after a report marker: ``{"step": 3, "loss": 0.25}``."""
    try:
        value = read_json(raw.decode("utf-8", errors="replace"))
    except json.JSONDecodeError:
        return f"a {REPORT_MARKER} line must carry a JSON object, got {raw[:80].decode(errors='replace')!r}"
    except ValueError as exc:  # nested too deeply to read
        return f"a {REPORT_MARKER} line cannot be sent: {exc}"
    if not isinstance(value, dict):
        return f'a {REPORT_MARKER} line must carry a JSON object, e.g. {{"step": 3, "loss": 0.25}}'
    if "step" not in value:
        return f'a {REPORT_MARKER} line has no "step" (a non-negative integer, e.g. the epoch)'
    step = value.pop("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        return _bad_step(step)
    for name, metric in value.items():
        if metric is not None and (isinstance(metric, bool) or not isinstance(metric, (int, float))):
            return f"metric {_json(name)} of a {REPORT_MARKER} line must be a number or null, got {_json(metric)}"
    refusal = unsendable(value) or unsendable(step)
    if refusal is not None:
        return f"a {REPORT_MARKER} line cannot be sent: {refusal}"
    if step > MAX_STEP:
        return _bad_step(step)
    return step, value


def _bad_step(step: Any) -> str:
    """What is wrong with the "step" of a report line (a number written as JSON, as the command printed it)."""
    if isinstance(step, int) and not isinstance(step, bool) and step > MAX_STEP:
        return f'the "step" of a {REPORT_MARKER} line must be at most {MAX_STEP}, got {_json(step)}'
    return f'a {REPORT_MARKER} line needs "step", a non-negative integer (e.g. the epoch), got {_json(step)}'


def _json(value: Any) -> str:
    """A value read from a report line, written as JSON (as the command printed it) and cut to 80 characters."""
    text = json.dumps(value, allow_nan=True, ensure_ascii=False)
    return text if len(text) <= 80 else text[:79] + "…"
