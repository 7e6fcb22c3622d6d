"""Measured times go to a text file under tests/output, one timestamped line each, so a reader finds them."""
import os
import time


def append_measurement(path, text):
    """Append `<UTC time> <text>` as one line to path (its directory is created when missing)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("%s %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), text))
