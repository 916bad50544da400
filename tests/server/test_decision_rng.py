"""Each decision's random stream: reproducible from the seed, small to store, carried on from an old state."""

from __future__ import annotations

import json
import random

from schedy.server.service.claims import _decision_rng


def _draws(rng: random.Random) -> list[float]:
    return [rng.random() for _ in range(5)]


def test_a_seeded_experiment_draws_the_same_numbers_at_the_same_decision():
    options = json.dumps({"seed": 42})
    first, key, stored = _decision_rng(None, options, 0)
    again, _, _ = _decision_rng(None, options, 0)
    assert _draws(first) == _draws(again)
    # Later decisions read the stored state: the same streams, decision by decision, and the same key.
    later, key_later, stored_later = _decision_rng(stored, options, 7)
    assert stored_later == stored
    assert key_later == key
    assert _draws(later) == _draws(_decision_rng(stored, options, 7)[0])
    assert _draws(later) != _draws(_decision_rng(stored, options, 8)[0])
    assert _draws(_decision_rng(None, json.dumps({"seed": 43}), 0)[0]) != _draws(_decision_rng(None, options, 0)[0])


def test_what_is_stored_is_a_few_bytes_not_a_whole_generator_state():
    _, _, stored = _decision_rng(None, "{}", 0)
    assert len(stored) < 64
    assert len(json.dumps(random.Random(1).getstate())) > 5000  # what was stored at every decision before


def test_unseeded_experiments_draw_differently_and_keep_their_key():
    assert _draws(_decision_rng(None, "{}", 0)[0]) != _draws(_decision_rng(None, "{}", 0)[0])
    _, key, stored = _decision_rng(None, "{}", 0)
    assert _decision_rng(None, "{}", 0)[1] != key
    # The key drawn at the first decision is what later decisions (which read the stored state) see.
    assert all(_decision_rng(stored, "{}", seq)[1] == key for seq in (1, 2, 50))


def test_a_state_stored_by_an_earlier_version_is_carried_on_deterministically():
    old = json.dumps(random.Random(5).getstate())
    rng, _, stored = _decision_rng(old, "{}", 3)
    again, _, stored_again = _decision_rng(old, "{}", 3)
    assert stored == stored_again
    assert _draws(rng) == _draws(again)
    assert len(stored) < 64
