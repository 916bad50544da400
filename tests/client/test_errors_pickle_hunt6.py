"""Schedy's errors survive pickling, so one raised in a multiprocessing worker reaches the parent (hunt6).

An HTTPError's ``__init__`` takes ``(body, code)`` and callers replace its message (``error.args``); pickle's
default rebuilt it as ``cls(*args)``, which failed: a pool's result thread died and ``pool.apply`` hung for ever.
"""

from __future__ import annotations

import inspect
import multiprocessing
import pickle
from typing import Any

import pytest

import schedy
import schedy.errors

ERROR_CLASSES = sorted(
    (
        cls
        for cls in vars(schedy.errors).values()
        if inspect.isclass(cls) and issubclass(cls, BaseException) and cls.__module__ == "schedy.errors"
    ),
    key=lambda cls: cls.__name__,
)


def _built(cls: type[BaseException]) -> BaseException:
    if issubclass(cls, schedy.errors.ServiceUnreachableError):
        return cls("Nothing answers at http://127.0.0.1:1/.")
    if issubclass(cls, schedy.errors.HTTPError):
        return cls('{"detail": "Experiment \'x\' does not exist."}', 404)
    return cls("The search is wrong: change it.")


def _same(error: BaseException, back: BaseException) -> None:
    assert type(back) is type(error)
    assert back.args == error.args
    assert str(back) == str(error)
    assert vars(back) == vars(error)


def test_every_error_class_is_found() -> None:
    names = {cls.__name__ for cls in ERROR_CLASSES}
    assert {"HTTPError", "NoJobError", "ResourceNotFoundError", "ServiceUnreachableError", "JobPruned"} <= names
    assert names == {name for name in schedy.errors.__all__ if name != "error_for_status"}


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_each_error_survives_a_pickle_round_trip(cls: type[BaseException]) -> None:
    error = _built(cls)
    back = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    _same(error, back)
    if isinstance(error, schedy.errors.HTTPError):
        assert isinstance(back, schedy.errors.HTTPError)
        assert (back.code, back.body) == (error.code, error.body)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_a_replaced_message_and_added_attributes_survive_too(cls: type[BaseException]) -> None:
    error = _built(cls)
    error.args = ("Experiment 'x' was already deleted.",)  # as the client's call sites do
    error.add_note("while claiming")
    if isinstance(error, schedy.errors.ResourceExistsError):
        error.difference = "its search differs"
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(error, protocol))  # noqa: S301 - our own bytes
        _same(error, back)
        assert str(back) == "Experiment 'x' was already deleted."
        assert back.__notes__ == ["while claiming"]
    if isinstance(error, schedy.errors.ResourceExistsError):
        assert back.difference == "its search differs"


def _fails(db: schedy.SchedyDB, call: str, name: str) -> Any:
    """In a spawned worker: a call of the real client that the real service refuses."""
    if call == "get":
        return db.get_experiment(name)
    return db.add_experiment(schedy.ManualSearch(name))


def test_an_error_raised_in_a_spawned_pool_worker_is_raised_again_in_the_parent(db: schedy.SchedyDB) -> None:
    db.add_experiment(schedy.ManualSearch("taken"))
    expected: dict[str, schedy.errors.HTTPError] = {}
    for call, name in (("get", "missing"), ("add", "taken")):
        with pytest.raises(schedy.errors.HTTPError) as raised:
            _fails(db, call, name)
        expected[call] = raised.value
    assert type(expected["get"]) is schedy.errors.ResourceNotFoundError
    assert type(expected["add"]) is schedy.errors.ResourceExistsError
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        for call, name in (("get", "missing"), ("add", "taken")):
            result = pool.apply_async(_fails, (db, call, name))
            with pytest.raises(schedy.errors.HTTPError) as raised:
                result.get(timeout=60)  # it hung for ever: the pool's result thread had died unpickling
            error, want = raised.value, expected[call]
            assert type(error) is type(want)
            assert str(error) == str(want)
            assert (error.code, error.body) == (want.code, want.body)
