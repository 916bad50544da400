"""The per-process early-stopping state fed by reports read at different moments (no database)."""

from __future__ import annotations

from schedy.server.service.reports import OVERLAP, PolicyStates, _Entry
from schedy.server.stopping import ASHA
from schedy.server.store.reports import PolicyRow


def _entry(policy: ASHA) -> _Entry:
    entry = _Entry()
    entry.state, entry.stored, entry.epoch = policy.new_state(), "asha", 0
    return entry


def _rows(first_pk: int, count: int, at: float) -> list[PolicyRow]:
    return [PolicyRow(pk, pk, 1, 1, f'{{"loss": {pk / 100}}}', at) for pk in range(first_pk, first_pk + count)]


def test_rows_read_before_the_state_was_fed_further_are_not_fed_again():
    """A request reads rows, another feeds them first and a sweep forgets them: they count once."""
    policy = ASHA("loss", "min", min_step=1, reduction_factor=3, max_step=9)
    entry = _entry(policy)
    read_early = _rows(1, 6, at=100.0)
    assert len(PolicyStates.apply(entry, policy, read_early, None, 100.0, sweep=True)) == 6
    later = 100.0 + 2 * OVERLAP
    PolicyStates.apply(entry, policy, [], [], later, sweep=True)  # a sweep: rows older than the overlap forgotten
    rungs = policy.rungs(entry.state)
    # The slow request now feeds what it read back then: nothing is counted twice.
    assert PolicyStates.apply(entry, policy, read_early, None, later, sweep=True) == []
    assert policy.rungs(entry.state) == rungs


def test_a_row_committed_late_below_the_last_pk_is_still_fed():
    policy = ASHA("loss", "min", min_step=1, reduction_factor=3, max_step=9)
    entry = _entry(policy)
    PolicyStates.apply(entry, policy, _rows(1, 3, at=100.0) + _rows(5, 1, at=100.0), None, 100.0, sweep=True)
    late = _rows(4, 1, at=100.5)  # pk 4 committed after pk 5 (PostgreSQL sequences)
    fed = PolicyStates.apply(entry, policy, late, None, 101.0, sweep=True)
    assert [row.pk for row, _ in fed] == [4]
