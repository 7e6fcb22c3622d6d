"""tests/support/waiting.py: the polling helpers the Molecule verifiers and the lab tests share."""
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from support.measurements import append_measurement  # noqa: E402  pylint: disable=wrong-import-position
from support.waiting import wait_for, wait_until  # noqa: E402  pylint: disable=wrong-import-position


def _countdown(results):
    """A predicate returning the given results one call after the other."""
    calls = iter(results)

    def predicate():
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value
    return predicate


def test_wait_until_returns_the_first_truthy_result():
    assert wait_until(_countdown([None, [], {"up": 1}]), 5, step=0.01) == {"up": 1}


def test_wait_until_returns_the_last_falsy_result_after_the_timeout():
    start = time.monotonic()
    assert wait_until(lambda: [], 0.2, step=0.05) == []
    assert 0.2 <= time.monotonic() - start < 2


def test_wait_for_retries_the_tolerated_exception_until_the_predicate_holds():
    predicate = _countdown([AssertionError("not yet"), False, AssertionError("not yet"), "ok"])
    assert wait_for(predicate, timeout=5, step=0.01, tolerate=AssertionError) is True


def test_wait_for_tolerates_any_exception_by_default():
    assert wait_for(_countdown([OSError("refused"), KeyError("x"), 1]), timeout=5, step=0.01) is True


def test_wait_for_lets_other_exceptions_through():
    with pytest.raises(KeyError):
        wait_for(_countdown([AssertionError("not yet"), KeyError("x"), True]), timeout=5, step=0.01,
                 tolerate=AssertionError)


def test_wait_for_is_false_when_the_predicate_never_holds():
    def failing():
        raise AssertionError("never")
    start = time.monotonic()
    assert wait_for(failing, timeout=0.2, step=0.05, tolerate=AssertionError) is False
    assert 0.2 <= time.monotonic() - start < 2


def test_append_measurement_writes_one_timestamped_line_per_call(tmp_path):
    path = tmp_path / "output" / "timings.txt"
    append_measurement(str(path), "first: 1.00 s")
    append_measurement(str(path), "second: 2.50 s")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["first: 1.00 s", "second: 2.50 s"]
    assert all(len(line.split(" ", 1)[0]) == len("2026-01-01T00:00:00Z") for line in lines)
