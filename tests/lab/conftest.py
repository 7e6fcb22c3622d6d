"""The lab as a pytest session resource: brought up and converged once, shared by every lab
scenario (building the data centre is the expensive part), removed at the end unless
SOVEREIGN_LAB_KEEP=1.

The lab is one per machine user (its containers and networks have fixed names), so the session
holds the lab lock (scripts/lab takes the same one) from `up` to `down`: a second test run or a
`scripts/lab up|down|converge` waits for it, or fails after SOVEREIGN_LAB_LOCK_WAIT seconds and
names the holder, instead of tearing down the lab under a running session."""
import fcntl
import functools
import json
import os
import re
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The collection as ansible_collections.sovereign.datacenter (scripts/bootstrap links it there).
if os.path.join(REPO, ".ansible", "collections") not in sys.path:
    sys.path.insert(0, os.path.join(REPO, ".ansible", "collections"))
# The helpers shared with the unit and Molecule tests, as `support.<module>` (tests/support).
if os.path.join(REPO, "tests") not in sys.path:
    sys.path.insert(0, os.path.join(REPO, "tests"))
RECAP = re.compile(r"^(?P<host>\S+)\s+: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                   r"\s+failed=(?P<failed>\d+)", re.M)


@functools.lru_cache(maxsize=None)
def inventory():
    """`ansible-inventory --list` of inventories/lab (hosts, groups, hostvars)."""
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(REPO, ".ansible", "collections"))
    out = subprocess.run(["ansible-inventory", "-i", os.path.join(REPO, "inventories", "lab"), "--list"],
                         capture_output=True, text=True, check=True, env=env, cwd=REPO).stdout
    return json.loads(out)


def lab_hosts():
    """Every host of the lab inventory."""
    return set(inventory()["_meta"]["hostvars"])


def lab(*args, timeout=1800):
    res = subprocess.run([os.path.join(REPO, "scripts", "lab")] + list(args), capture_output=True,
                         text=True, cwd=REPO, timeout=timeout, check=False)
    log = os.path.join(REPO, "tests", "output", "lab-%s-%d.log" % (args[0], int(time.time())))
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "w", encoding="utf-8") as handle:
        handle.write(res.stdout + "\n--- stderr ---\n" + res.stderr)
    return res


# The lab's PostgreSQL members and their addresses (inventories/lab/hosts.yml).
PG_MEMBERS = {"pg1": "10.210.20.11", "pg2": "10.210.20.12", "pg3": "10.220.20.11"}


def psql(host, sql, db="postgres"):
    """One SQL statement as postgres on a lab host; its unaligned, tuples-only output."""
    return Lab.exec(host, "runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-d", db, "-c", sql).stdout.strip()


def pg_primary():
    """The member that is not in recovery (an earlier lab test may have switched over)."""
    found = [m for m in sorted(PG_MEMBERS) if psql(m, "SELECT pg_is_in_recovery()") == "f"]
    assert len(found) == 1, found
    return found[0]


def secrets_dir():
    """The lab's secret store on the controller (platform_secrets_dir, as the inventory computes it)."""
    out = subprocess.run(["bash", "-c", "source scripts/env.sh >/dev/null && ansible -i inventories/lab localhost "
                          "-m ansible.builtin.debug -a var=platform_secrets_dir -o"], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout
    match = re.search(r'"platform_secrets_dir":\s*"([^"]+)"', out)
    assert match, out
    return match.group(1)


def recap(output):
    """PLAY RECAP per lab host. The controller (localhost: every operator playbook's input contract
    play, report writers) is not a lab host and is left out."""
    return {m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
            for m in RECAP.finditer(output) if m["host"] != "localhost"}


def changed_tasks(output):
    """``{host: [task, ...]}``: the tasks that reported ``changed`` in an ansible-playbook output (default
    callback), so that a run expected to change nothing names what it changed."""
    found, task = {}, None
    for line in output.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line[line.index("[") + 1:line.rindex("]")] if "]" in line else line
        elif line.startswith("changed: ["):
            host = line[len("changed: ["):].split("]", 1)[0].split(" -> ")[0]
            if task not in found.setdefault(host, []):
                found[host].append(task)
    return found


class Lab:
    def __init__(self):
        self.timings = {}

    def run(self, *args, timeout=1800):
        start = time.time()
        res = lab(*args, timeout=timeout)
        self.timings.setdefault(args[0], []).append(round(time.time() - start, 1))
        return res

    @staticmethod
    def exec(host, *command, check=True, timeout=120):
        res = subprocess.run(["podman", "exec", "sovlab-" + host] + list(command), capture_output=True,
                             text=True, timeout=timeout, check=False)
        if check and res.returncode != 0:
            raise AssertionError("%s: %s failed (%d): %s" % (host, command, res.returncode, res.stderr))
        return res


def lab_lock_path():
    """The lock file scripts/lab uses too (one lab per machine user)."""
    return os.path.join(os.environ.get("TMPDIR", "/tmp"), "sovereign-lab-%d.lock" % os.getuid())


def take_lab_lock():
    """Hold the lab lock for this process; wait up to SOVEREIGN_LAB_LOCK_WAIT seconds (default
    1800) for another holder, then fail naming it. Children (scripts/lab) see
    SOVEREIGN_LAB_LOCK_HELD=1 and do not take it again."""
    wait = int(os.environ.get("SOVEREIGN_LAB_LOCK_WAIT", "1800"))
    handle = open(lab_lock_path(), "a+", encoding="utf-8")  # pylint: disable=consider-using-with
    deadline, told = time.time() + wait, False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            if time.time() >= deadline:
                raise RuntimeError("the lab is in use by another session (%s; lock %s); not touching it"
                                   % (holder, lab_lock_path()))
            if not told:
                sys.stderr.write("waiting for the lab lock, held by %s\n" % holder)
                told = True
            time.sleep(5)
    handle.seek(0)
    handle.truncate()
    handle.write("pid %d: %s\n" % (os.getpid(), " ".join(sys.argv)))
    handle.flush()
    os.environ["SOVEREIGN_LAB_LOCK_HELD"] = "1"
    return handle


@pytest.fixture(scope="session")
def lab_up():
    env_keep = os.environ.get("SOVEREIGN_LAB_KEEP") == "1"
    with take_lab_lock():  # held from up to down (or for the whole reused-lab session)
        the_lab = Lab()
        if os.environ.get("SOVEREIGN_LAB_REUSE") == "1":
            # A lab that is already up and converged (scripts/lab site): no up, no converge, no down.
            yield the_lab
            return
        res = the_lab.run("up")
        assert res.returncode == 0, res.stdout + res.stderr
        res = the_lab.run("converge")
        the_lab.first_converge = res
        yield the_lab
        results = os.path.join(REPO, "tests", "output", "lab-timings.txt")
        with open(results, "w", encoding="utf-8") as handle:
            for step, values in the_lab.timings.items():
                handle.write("%s %s\n" % (step, values))
        if not env_keep:
            lab("down")
