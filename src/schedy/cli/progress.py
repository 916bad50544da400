"""What ``schedy run`` writes: the command's output, its own messages, a progress line.

The command's standard output and error are passed through as they come,
byte for byte. The runner's messages (a job started, a job ended) go to
standard error, prefixed ``schedy run:``. When standard output is a
terminal, a progress line is kept below everything else: it is erased
before anything is written and drawn again once the output is back at the
start of a line (never in the middle of a line the command is still
writing, e.g. a download bar). Elsewhere (a pipe, a file) nothing but the
command's output reaches standard output.
"""

from __future__ import annotations

import shutil
from typing import BinaryIO

from schedy.cli.table import fit_width

__all__ = ["Console"]

_ERASE_LINE = b"\r\x1b[K"


class Console:
    """The runner's output streams, with an optional progress line on ``out``.

    Args:
        out: where the command's standard output goes (and the progress line).
        err: where its standard error and the runner's messages go.
        progress: draw the progress line (``out`` is a terminal).

    """

    def __init__(self, out: BinaryIO, err: BinaryIO, *, progress: bool) -> None:
        self.out = out
        self.err = err
        self.progress = progress
        self._status = ""
        self._shown = False
        self._mid_line = False

    def output(self, stream: BinaryIO, data: bytes) -> None:
        """Pass a chunk of the command's output through to ``stream``."""
        if not data:
            return
        self._hide()
        stream.write(data)
        stream.flush()
        self._mid_line = not data.endswith(b"\n")
        self._show()

    def message(self, text: str, *, slot: int | None = None) -> None:
        """One line of the runner's own, on ``err`` (``schedy run [SLOT]:`` for a worker of ``-j N``)."""
        self._hide()
        prefix = b"\n" if self._mid_line else b""
        self._mid_line = False
        who = "schedy run" if slot is None else f"schedy run [{slot}]"
        self.err.write(prefix + f"{who}: {text}\n".encode(errors="replace"))
        self.err.flush()
        self._show()

    def status(self, text: str) -> None:
        """Replace the progress line's text (drawn only on a terminal)."""
        if text == self._status and self._shown:
            return
        self._status = text
        self._hide()
        self._show()

    def close(self) -> None:
        """Erase the progress line for good."""
        self._hide()
        self._status = ""

    def _hide(self) -> None:
        if self._shown:
            self.out.write(_ERASE_LINE)
            self.out.flush()
            self._shown = False

    def _show(self) -> None:
        if not self.progress or not self._status or self._mid_line:
            return
        # One character short of the width, so that the line never wraps
        # (a wrapped line cannot be erased with a carriage return).
        width = max(10, shutil.get_terminal_size().columns - 1)
        text = fit_width(self._status, width)
        self.out.write(text.encode(errors="replace"))
        self.out.flush()
        self._shown = True
