"""A writing Redis client for the lab's Sentinel failover test, and a one-shot RESP client for the checks.

The writer runs on an app-tier host as a transient systemd unit, with Python's standard library only (the lab
hosts have no Redis client library): TLS verified against the platform CA, the service user `app` (ACL), the
primary found through the Sentinels (SENTINEL get-master-addr-by-name), as a Sentinel-aware client does. Each
write is `SET key` then `WAIT 1 <ms>`: a key counts as acknowledged only when WAIT reports a replica has it. A JSON
line per acknowledged write, error and (re)connection goes to <WORK>/events.jsonl. Only lab addresses are reached.
"""
import json
import subprocess
import uuid

from support import lab_client

WORK = "/run/sovereign-redis-writer"
UNIT = "sovereign-redis-writer"
RESP = r'''
import socket, ssl
CA = "/etc/ssl/sovereign/ca.crt"
class Resp:
    def __init__(self, host, port, user=None, password=None, timeout=2.0, tls=True):
        raw = socket.create_connection((host, port), timeout=timeout)
        if tls:
            ctx = ssl.create_default_context(cafile=CA)
            ctx.check_hostname = False
            raw = ctx.wrap_socket(raw)
        self.sock, self.buf = raw, b""
        if user:
            self.call("AUTH", user, password)
    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line
    def _read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed")
                self.buf += chunk
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)
    def call(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            a = str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(parts))
        return self._read()
    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
'''
WRITER = RESP + r'''
import json, sys, time
sentinels, pwfile, log, run, name = sys.argv[1].split(","), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
out = open(log, "a", buffering=1)
def event(kind, **extra):
    out.write(json.dumps(dict(extra, t=time.time(), kind=kind)) + "\n")
def primary(password):
    for s in sentinels:
        try:
            c = Resp(s, 26379, "app", password, timeout=1.0)
            addr = c.call("SENTINEL", "get-master-addr-by-name", name)
            c.close()
            if addr:
                return addr[0], int(addr[1])
        except Exception:
            continue
    raise ConnectionError("no Sentinel answered")
conn, seq = None, 0
while True:
    try:
        if conn is None:
            password = open(pwfile).read().strip()
            host, port = primary(password)
            conn = Resp(host, port, "app", password, timeout=1.0)
            role = conn.call("ROLE")[0]
            if role != "master":
                conn.close()
                conn = None
                raise ConnectionError("%s is a %s" % (host, role))
            event("connected", server=host)
        seq += 1
        key = "app:%s:%d" % (run, seq)
        conn.call("SET", key, str(seq))
        acked = conn.call("WAIT", "1", "500")
        event("ack" if acked >= 1 else "unacked", seq=seq, replicas=acked)
    except Exception as exc:
        event("error", seq=seq, error=(str(exc) or type(exc).__name__)[:200])
        if conn is not None:
            conn.close()
        conn = None
        time.sleep(0.1)
    time.sleep(0.02)
'''
QUERY = RESP + r'''
import json, sys
host, port, user, pwfile, tls = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5] == "tls"
commands = json.loads(sys.stdin.read())
try:
    c = Resp(host, port, user or None, open(pwfile).read().strip() if pwfile != "-" else None, timeout=3.0, tls=tls)
    results = []
    for cmd in commands:
        try:
            results.append({"ok": c.call(*cmd)})
        except RuntimeError as exc:
            results.append({"error": str(exc)})
    print(json.dumps({"results": results}))
except Exception as exc:
    print(json.dumps({"connect_error": "%s: %s" % (type(exc).__name__, exc)}))
'''


def put(host, name, content, mode="0600"):
    lab_client.put(WORK, host, name, content, mode)


def query(host, address, port, commands, user="", password=None, tls=True):
    """Run RESP commands from lab host ``host`` against ``address``:``port``; the parsed JSON result
    ({"results": [{"ok": ...} | {"error": ...}]} or {"connect_error": ...})."""
    put(host, "query.py", QUERY, "0700")
    pwfile = "-"
    if password is not None:
        put(host, "query-password", password)
        pwfile = WORK + "/query-password"
    res = subprocess.run(["podman", "exec", "-i", lab_client.container(host), "/usr/bin/python3", WORK + "/query.py",
                          address, str(port), user, pwfile, "tls" if tls else "plain"],
                         input=json.dumps(commands), capture_output=True, text=True, check=True, timeout=60)
    subprocess.run(["podman", "exec", lab_client.container(host), "rm", "-f", WORK + "/query-password"], check=False)
    return json.loads(res.stdout)


def start(host, sentinels, password, name="main"):
    """Start the writer on ``host``; returns the run id its keys carry (app:<run>:<seq>)."""
    run = uuid.uuid4().hex[:12]
    put(host, "writer.py", WRITER, "0700")
    put(host, "password", password)
    lab_client.start(WORK, UNIT, host, ["/usr/bin/python3", WORK + "/writer.py", ",".join(sentinels),
                                        WORK + "/password", WORK + "/events.jsonl", run, name])
    return run


def stop(host):
    lab_client.stop(WORK, UNIT, host)


def events(host):
    return lab_client.events(WORK, host)
