"""A client program that a lab test runs on a lab host as a transient systemd unit (tests/support/pg_writer.py,
tests/support/redis_writer.py): its files in a private directory of the host, started with systemd-run, its
JSON-lines event log read back, stopped with its secret removed. Only lab containers (sovlab-<host>) are touched."""
import json
import subprocess


def container(host):
    return "sovlab-" + host


def put(work, host, name, content, mode="0600"):
    """Write ``content`` to <work>/<name> on ``host`` (directory and file private to root)."""
    path = "%s/%s" % (work, name)
    subprocess.run(["podman", "exec", "-i", container(host), "sh", "-c",
                    "umask 077; mkdir -p %s; cat > %s; chmod %s %s" % (work, path, mode, path)],
                   input=content, text=True, capture_output=True, check=True)


def start(work, unit, host, argv):
    """Start ``argv`` on ``host`` as the transient unit ``unit`` with a fresh <work>/events.jsonl."""
    subprocess.run(["podman", "exec", container(host), "rm", "-f", work + "/events.jsonl"], check=True)
    subprocess.run(["podman", "exec", container(host), "systemd-run", "--unit=" + unit, "--collect"] + list(argv),
                   capture_output=True, check=True)


def stop(work, unit, host):
    """Stop the unit and remove the password it read."""
    subprocess.run(["podman", "exec", container(host), "sh", "-c",
                    "systemctl stop %s; rm -f %s/password" % (unit, work)], capture_output=True, check=False)


def events(work, host):
    """The parsed lines of <work>/events.jsonl (empty when there is none yet)."""
    res = subprocess.run(["podman", "exec", container(host), "cat", work + "/events.jsonl"], capture_output=True,
                         text=True, check=False)
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
