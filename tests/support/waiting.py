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
