"""Polling with a deadline: the one way tests wait for something that happens asynchronously."""
import time


def wait_until(predicate, timeout, step=0.5):
    """Call predicate until it returns something truthy or timeout seconds have passed.

    Returns the last result (truthy on success, the falsy value otherwise), so callers can both
    assert on it and show it in the failure message."""
    end = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > end:
            return result
        time.sleep(step)


def wait_for(predicate, timeout=60, step=0.5, tolerate=Exception):
    """wait_until for predicates that may raise while the awaited state is not there yet.

    An exception of a type in tolerate (a class or a tuple of classes) counts as "not yet";
    returns True once predicate() is truthy, False when timeout seconds passed without that."""
    def attempt():
        try:
            return bool(predicate())
        except tolerate:
            return False
    return wait_until(attempt, timeout, step)
