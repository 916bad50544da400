"""The pieces of the CLI that need no service: placeholders, results blocks, tables."""

from __future__ import annotations

import pytest

from schedy.cli.command import BadResults, ResultsParser, expand, hyperparameter_args
from schedy.cli.common import UsageError
from schedy.cli.table import Table, display_width, fit_width, format_value


def test_hyperparameters_become_options_with_hyphens_and_json_values():
    args = hyperparameter_args(
        {"num_layers": 3, "drop": None, "act": "relu", "sizes": [1, 2], "on": False, "lr": 1e-05}
    )
    assert args == ["--num-layers", "3", "--act", "relu", "--sizes", "[1, 2]", "--on", "false", "--lr", "1e-05"]


def test_h_inside_an_argument_is_shell_quoted():
    argv = expand(["sh", "-c", "train %h"], "e", "j", {"name": "a b", "x": 1})
    assert argv == ["sh", "-c", "train --name 'a b' --x 1"]


def test_percent_escapes():
    assert expand(["%%e", "%%%e", "50%", "%q"], "exp", "job", {}) == ["%e", "%exp", "50%", "%q"]


def _parse(*chunks: bytes) -> ResultsParser:
    parser = ResultsParser()
    for chunk in chunks:
        parser.feed(chunk)
    return parser


def test_results_block_split_across_chunks():
    parser = _parse(b"noise\n--- RES", b'ULTS ---\r\n{"a":', b" 1}\n--- END RESULTS ---\ntrailing\n")
    assert parser.results() == {"a": 1}


def test_no_block_is_none_and_the_last_block_wins():
    assert _parse(b"nothing to report\n").results() is None
    parser = _parse(b'--- RESULTS ---\n{"a": 1}\n--- END RESULTS ---\n--- RESULTS ---\n{"a": 2}')
    assert parser.results() == {"a": 2}


@pytest.mark.parametrize(
    ("output", "unmarked"),
    [
        (b'epoch 3\n{"loss": 0.25}\n', True),
        (b'{"loss": 0.25}', True),  # no end of line
        (b'{"loss": 0.25}\n\n  \n', True),  # blank lines after it
        (b'{"loss": 0.25}\ndone\n', False),  # not the last line
        (b"{not json}\n", False),
        (b"[1, 2]\n", False),
        (b'--- REPORT --- {"step": 1, "loss": 0.3}\n', False),
        (b"", False),
    ],
)
def test_a_last_line_that_is_a_json_object_is_seen_as_results_without_their_marker(output, unmarked):
    parser = _parse(output)
    assert parser.results() is None
    assert parser.unmarked_results() is unmarked


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (b"--- RESULTS ---\n", "block is empty"),
        (b"--- RESULTS ---\n{oops}\n", "block is not valid JSON"),
        (b"--- RESULTS ---\n3\n", "must be a JSON object, got int"),
    ],
)
def test_bad_blocks_are_reported(output, message):
    with pytest.raises(BadResults, match=message):
        _parse(output).results()


def _table(*losses):
    table = Table([("schedy", "id")])
    for i, loss in enumerate(losses):
        row = {("schedy", "id"): str(i)}
        if loss != "missing":
            row[("result", "loss")] = loss
        table.add_row(row)
    return table


def _order(table):
    return [row[("schedy", "id")] for row in table.rows]


def test_sort_numbers_then_strings_then_other_json_then_missing():
    table = _table(10, "b", None, 9.5, "missing", float("nan"), [1], "a", -1)
    table.sort(["loss"])
    assert _order(table) == ["8", "3", "0", "7", "1", "6", "2", "4", "5"]
    table.sort(["loss"], descending=True)
    assert _order(table)[:6] == ["0", "3", "8", "1", "7", "6"]
    assert set(_order(table)[6:]) == {"2", "4", "5"}  # null, missing and NaN stay last


def test_sort_is_stable_for_equal_values():
    table = _table(1, 1, 0, 1)
    table.sort(["loss"], descending=True)
    assert _order(table) == ["0", "1", "3", "2"]


def test_unknown_field_lists_the_known_ones():
    with pytest.raises(UsageError, match=r"There is no field 'acc'; the fields are: id, loss\."):
        _table(1).select(["acc"])


def test_values_shown_short_in_tables_and_exactly_in_paragraphs():
    assert format_value(0.1234567891, precise=False) == "0.123457"
    assert format_value(0.1234567891) == "0.1234567891"
    assert [format_value(v) for v in (float("inf"), float("-inf"), float("nan"), True, None, {"a": 1})] == [
        "Infinity", "-Infinity", "NaN", "true", "null", '{"a": 1}',
    ]  # fmt: skip


def test_layouts():
    table = _table(0.5, "missing")
    assert table.plain().splitlines() == ["0  0.5", "1"]
    assert table.grid().splitlines() == [
        "+----+------+",
        "| id | loss |",
        "|----+------|",
        "| 0  |  0.5 |",
        "| 1  |      |",
        "+----+------+",
    ]
    assert table.paragraphs() == "id: 0\nloss: 0.5\n\nid: 1"


def test_columns_line_up_on_a_terminal_with_wide_and_combining_characters():
    """A CJK name takes two columns per character, an accent none: the next column still lines up."""
    table = Table()
    for name in ("mnist", "実験", "cafe\u0301", "ünïcode 実験"):
        table.add_row({("schedy", "name"): name, ("schedy", "status"): "RUNNING"})
    lines = table.plain().splitlines()
    assert {display_width(line[: line.index("RUNNING")]) for line in lines} == {14}
    assert [display_width(line) for line in lines] == [21] * 4
    grid = table.grid().splitlines()
    assert len({display_width(line) for line in grid}) == 1
    assert display_width("実験") == 4
    assert display_width("cafe\u0301") == 4


def test_a_status_line_is_cut_to_the_terminal_by_columns_not_characters():
    assert fit_width("mnist 1 done", 40) == "mnist 1 done"
    cut = fit_width("実験 " * 10, 11)  # 3 columns each
    assert cut == "実験 実験 …"
    assert display_width(cut) <= 11
    assert fit_width("abcdef", 4) == "abc…"
