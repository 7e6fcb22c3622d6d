"""A writing application client for the lab's PostgreSQL tests (secret rotation, rolling upgrade).

It runs on an app-tier host as a transient systemd unit: one session, a row every 0.2 s, and a JSON line per
write, error and (re)connection in <WORK>/events.jsonl. It reads its password from <WORK>/password at each
connection (as an application reads its secret at connect time) and connects to the first read-write member
of a host list (libpq's target_session_attrs), so it follows a switchover the way a multi-host DSN does.
Its rows carry the run id start() returns, so a test counts only its own.
Only lab containers are reached: the host list is the lab's PostgreSQL addresses.
"""
import hashlib
import uuid

from support import lab_client

WORK = "/run/sovereign-pg-writer"
UNIT = "sovereign-pg-writer"
SOURCE = r'''
import hashlib, json, sys, time
import psycopg
hosts, pwfile, log, run = sys.argv[1:5]
out = open(log, "a", buffering=1)
def event(kind, **extra):
    out.write(json.dumps(dict(extra, t=time.time(), kind=kind)) + "\n")
conn, seq = None, 0
while True:
    try:
        if conn is None:
            password = open(pwfile).read().strip()
            conn = psycopg.connect(host=hosts, dbname="app", user="app", password=password, sslmode="require",
                                   connect_timeout=3, autocommit=True, application_name="pg-writer",
                                   target_session_attrs="read-write")
            conn.execute("CREATE TABLE IF NOT EXISTS pg_writer_rows (run text, seq bigint, at timestamptz DEFAULT now())")
            event("connected", pw=hashlib.sha256(password.encode()).hexdigest()[:12], pid=conn.info.backend_pid,
                  server=conn.info.host)
        seq += 1
        conn.execute("INSERT INTO pg_writer_rows (run, seq) VALUES (%s, %s)", (run, seq))
        event("write", seq=seq)
    except Exception as exc:  # every failure is logged; the client reconnects
        text = str(exc).strip()
        event("error", error=text.splitlines()[0][:200] if text else type(exc).__name__)
        conn = None
        time.sleep(0.2)
    time.sleep(0.2)
'''


def fingerprint(value):
    return hashlib.sha256(value.encode()).hexdigest()[:12]


def put(host, name, content, mode="0600"):
    lab_client.put(WORK, host, name, content, mode)


def start(host, addresses, password):
    """Start the writer on lab host ``host`` against ``addresses`` (a list) with ``password``.

    Returns the run id its rows carry (column ``run`` of ``pg_writer_rows``)."""
    run = uuid.uuid4().hex[:12]
    put(host, "writer.py", SOURCE, "0700")
    put(host, "password", password)
    lab_client.start(WORK, UNIT, host, ["/usr/bin/python3", WORK + "/writer.py", ",".join(addresses),
                                        WORK + "/password", WORK + "/events.jsonl", run])
    return run


def stop(host):
    lab_client.stop(WORK, UNIT, host)


def events(host):
    return lab_client.events(WORK, host)


def longest_write_gap(evts):
    """(seconds, start, end) of the longest interval between two successful writes."""
    writes = [e["t"] for e in evts if e["kind"] == "write"]
    gaps = [(b - a, a, b) for a, b in zip(writes, writes[1:])]
    return max(gaps) if gaps else (0.0, None, None)
