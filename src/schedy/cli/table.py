r"""Tables of experiments and jobs: fields, sorting, and three layouts.

A :class:`Table` holds rows whose cells are keyed by ``(category, name)``:
``("schedy", "status")``, ``("hyperparameter", "lr")``, ``("result",
"loss")``. A field is named by its bare name (``lr``) unless two categories
share it, then by ``category.name`` (``hyperparameter.x``, ``result.x``);
the long form always works. A missing cell is not the same as a JSON
``null``: it is left blank, while ``null`` is shown.

Hidden columns (a job's times, worker…) are found by :meth:`Table.sort`
and :meth:`Table.select` but left out of the layouts until selected. In
the categories a table holds JSON values in (a job's hyperparameters and
results), a string that would read as another value (``"3"``, ``"true"``,
``""``) is shown as JSON, quotes included; in the one-line layouts, any
string holding a line break or another control character is too
(``"a\nb"``), so that a row stays one line.

Layouts, as the original ``schedy list`` printed them:

* :meth:`Table.plain`: aligned columns, no header (for ``cut`` and ``awk``);
* :meth:`Table.grid`: a boxed table with a header (``-t``);
* :meth:`Table.paragraphs`: one ``field: value`` line per cell (``-p``, ``show``).

Example:
    >>> t = Table()
    >>> t.add_row({("schedy", "id"): "a", ("result", "loss"): 0.5})
    >>> t.add_row({("schedy", "id"): "b"})
    >>> print(t.grid())
    +----+------+
    | id | loss |
    |----+------|
    | a  |  0.5 |
    | b  |      |
    +----+------+

"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from schedy.cli.common import UsageError, is_nan, is_number, to_json

__all__ = ["DEFAULT_CATEGORY", "Column", "Table", "display_width", "fit_width", "format_value", "human_size"]

#: The category of the fields the plain layout shows (id/name, status…).
DEFAULT_CATEGORY = "schedy"

Column = tuple[str, str]


def format_value(value: Any, *, precise: bool = True) -> str:
    """One cell as text: strings as they are, numbers short, anything else as JSON.

    ``precise=False`` (tables) shows floats with 6 significant digits, as
    ``tabulate`` did for the original CLI; paragraphs show every digit.

    Example:
        >>> format_value(0.123456789, precise=False), format_value(0.123456789), format_value([1, "a"])
        ('0.123457', '0.123456789', '[1, "a"]')

    """
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value) if precise else f"{value:.6g}"
    return to_json(value)


class Table:
    """Rows of cells keyed by ``(category, name)``; columns in order of first appearance.

    Args:
        columns: columns to have even without rows (e.g. ``id`` and ``status``).
        hidden: columns the layouts leave out until :meth:`select` names them; :meth:`sort`
            finds them too. A bare name means a column that is not hidden first.
        values: categories whose cells are JSON values (``hyperparameter``, ``result``):
            a string among them that would read as another value is shown as JSON.

    """

    def __init__(
        self, columns: Iterable[Column] = (), *, hidden: Iterable[Column] = (), values: Iterable[str] = ()
    ) -> None:
        self.columns: list[Column] = list(dict.fromkeys(columns))
        self.rows: list[dict[Column, Any]] = []
        self._hidden: list[Column] = [column for column in dict.fromkeys(hidden) if column not in self.columns]
        self._values = frozenset(values)
        self._known: set[Column] = {*self.columns, *self._hidden}

    def add_row(self, cells: Mapping[Column, Any]) -> None:
        """Append a row; new columns are added at the right (a hidden one only when selected)."""
        for column in cells:
            if column not in self._known:
                self._known.add(column)
                self.columns.append(column)
        self.rows.append(dict(cells))

    # -- fields -------------------------------------------------------------

    def names(self, columns: Sequence[Column] | None = None) -> list[str]:
        """The field names of ``columns`` (default: all): bare unless ambiguous."""
        columns = self.columns if columns is None else columns
        counts: dict[str, int] = {}
        for _, name in self.columns:
            counts[name] = counts.get(name, 0) + 1
        return [name if counts[name] == 1 else f"{category}.{name}" for category, name in columns]

    def resolve(self, field: str) -> Column:
        """The column a field name means (``lr`` or ``hyperparameter.lr``).

        Raises:
            UsageError: no such field, or a bare name two categories share.

        """
        hidden = [column for column in self._hidden if column not in self.columns]
        for column in (*self.columns, *hidden):
            if f"{column[0]}.{column[1]}" == field:
                return column
        for columns in (self.columns, hidden):  # a hyperparameter or result named "worker" before the service's
            matches = [column for column in columns if column[1] == field]
            if len(matches) == 1:
                return matches[0]
            if matches:
                options = " or ".join(f"{c}.{n}" for c, n in matches)
                raise UsageError(f"Field {field!r} is ambiguous: use {options}.")
        known = ", ".join(self.names()) or "none"
        raise UsageError(f"There is no field {field!r}; the fields are: {known}.")

    def select(self, fields: Iterable[str]) -> None:
        """Keep only these fields, in this order."""
        self.columns = [self.resolve(field) for field in fields]

    def only(self, category: str) -> None:
        """Keep only the columns of one category."""
        self.columns = [column for column in self.columns if column[0] == category]

    # -- sorting ------------------------------------------------------------

    def sort(self, fields: Sequence[str], *, descending: bool = False) -> None:
        """Sort rows by these fields, the first one first; stable.

        Numbers sort by value, then strings, then other JSON values (by their
        text); NaN, ``null`` and missing cells come last in either direction.
        """
        if not self.rows:
            return  # an empty experiment has no results yet: nothing to check or sort
        for column in reversed([self.resolve(field) for field in fields]):
            keys = {id(row): _sort_key(row.get(column)) for row in self.rows}
            # Two stable passes: by value (maybe reversed), then by group
            # (never reversed), so missing values stay last with -d too.
            self.rows.sort(key=lambda row: keys[id(row)], reverse=descending)
            self.rows.sort(key=lambda row: keys[id(row)][0])

    # -- layouts ------------------------------------------------------------

    def _text(self, column: Column, value: Any, *, precise: bool, one_line: bool) -> str:
        """A cell as text: a string that would read as another value, or break its line, as JSON."""
        if isinstance(value, str) and (
            (column[0] in self._values and _reads_as_other(value)) or (one_line and _has_control(value))
        ):
            return to_json(value)
        return format_value(value, precise=precise)

    def _cells(self, precise: bool) -> list[list[str]]:
        return [
            [
                "" if column not in row else self._text(column, row[column], precise=precise, one_line=True)
                for column in self.columns
            ]
            for row in self.rows
        ]

    def _numeric(self) -> list[bool]:
        """Per column: right-align it (every value present is a number)."""
        out = []
        for column in self.columns:
            values = [row[column] for row in self.rows if column in row and row[column] is not None]
            out.append(bool(values) and all(is_number(v) for v in values))
        return out

    def plain(self) -> str:
        """Aligned columns separated by two spaces, no header; empty for no rows."""
        cells = self._cells(precise=False)
        if not cells or not self.columns:
            return ""
        widths = [max(display_width(row[i]) for row in cells) for i in range(len(self.columns))]
        numeric = self._numeric()
        lines = ["  ".join(_pad(text, w, n) for text, w, n in zip(row, widths, numeric, strict=True)) for row in cells]
        return "\n".join(line.rstrip() for line in lines)

    def grid(self) -> str:
        """A boxed table with a header row (the header alone when there are no rows)."""
        headers = self.names()
        cells = self._cells(precise=False)
        widths = [max([display_width(h), *(display_width(row[i]) for row in cells)]) for i, h in enumerate(headers)]
        numeric = self._numeric()
        rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
        middle = "|" + "+".join("-" * (w + 2) for w in widths) + "|"

        def line(texts: Sequence[str]) -> str:
            padded = (_pad(t, w, n) for t, w, n in zip(texts, widths, numeric, strict=True))
            return "| " + " | ".join(padded) + " |"

        return "\n".join([rule, line(headers), middle, *(line(row) for row in cells), rule])

    def paragraphs(self) -> str:
        """``field: value`` lines per row (missing cells skipped), rows separated by a blank line."""
        names = self.names()
        blocks = []
        for row in self.rows:
            lines = [
                f"{name}: {self._text(column, row[column], precise=True, one_line=column[0] in self._values)}"
                for column, name in zip(self.columns, names, strict=True)
                if column in row
            ]
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)


def human_size(size: int) -> str:
    """``size`` bytes for a person: ``512 B``, ``1.5 KiB``, ``12.0 MiB``, ``1.0 GiB``."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


def display_width(text: str) -> int:
    """How many terminal columns ``text`` takes: 2 per wide (East Asian) character, 0 per combining mark."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def fit_width(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` terminal columns, ending with ``…`` when it was cut."""
    if display_width(text) <= width:
        return text
    kept, used = [], 0
    for ch in text:
        w = display_width(ch)
        if used + w > width - 1:
            break
        kept.append(ch)
        used += w
    return "".join(kept) + "…"


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * (width - display_width(text))
    return fill + text if right else text + fill


def _has_control(text: str) -> bool:
    """Whether ``text`` holds a line break, a tab or another control character (those JSON escapes)."""
    return not text.isprintable() and any(ch < " " for ch in text)


def _reads_as_other(text: str) -> bool:
    """Whether a cell showing ``text`` bare would read as another value than that string.

    Blank as a missing value; a number (``3``, ``1e-05``, ``NaN``, ``Infinity``); JSON (``true``,
    ``null``, ``[1]``, or a string already in quotes, ``"x"``).
    """
    if text == "":
        return True
    try:
        float(text)
    except ValueError:
        pass
    else:
        return True
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _sort_key(value: Any) -> tuple[int, Any]:
    """``(group, value)``: numbers, strings, other JSON, then NaN/null/missing."""
    if value is None or is_nan(value):
        return (3, 0)
    if is_number(value):
        return (0, float(value))
    if isinstance(value, str):
        return (1, value)
    return (2, to_json(value))
