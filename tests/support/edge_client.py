"""An HTTPS client for the edge tests, run by the controller's Python inside a lab container's network
namespace (nsenter -n: the container's addresses and routes, the controller's files and interpreter), so
the load balancers see the source a CDN edge or an internet client would have.

    python edge_client.py requests --url URL [--count N] [--header NAME:VALUE] [--source ADDR] [--cafile F]
    python edge_client.py loop --url URL --seconds S [--interval I] [--source ADDR] [--cafile F] [--rotate-clients]
    python edge_client.py connect --host H --port P [--source ADDR] [--timeout T]
    python edge_client.py bench --url URL --seconds S --concurrency C [--source ADDR] [--cafile F] [--rotate-clients]

`requests` sends N GETs on ONE keep-alive connection (reconnecting only when the server closes it), the way
a CDN edge carries many clients on one connection, and prints one JSON line per response: status, the
response headers (lower-cased names) and the body's first bytes. `loop` sends one request per new
connection until S seconds have passed (or it is terminated) and prints one JSON line per attempt:
start time, status or error, latency; with --rotate-clients each request carries another CF-Connecting-IP
(198.19.0.0/16), so a long loop from the CDN's address is never over a per-client rate limit.
`connect` prints whether a TCP connection opened within the timeout.
Only addresses the caller gives are contacted; every loop is bounded by count or time."""
import argparse
import http.client
import json
import socket
import ssl
import sys
import time
import urllib.parse


def _context(cafile):
    if not cafile:
        return None
    context = ssl.create_default_context(cafile=cafile)
    return context


def _connection(url, source, cafile, timeout):
    parts = urllib.parse.urlsplit(url)
    source_address = (source, 0) if source else None
    if parts.scheme == "https":
        return http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=timeout,
                                           source_address=source_address, context=_context(cafile))
    return http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout, source_address=source_address)


def _target(url):
    parts = urllib.parse.urlsplit(url)
    return (parts.path or "/") + ("?" + parts.query if parts.query else "")


def cmd_requests(args):
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    conn = None
    for unused_attempt in range(args.count):
        if conn is None:
            conn = _connection(args.url, args.source, args.cafile, args.timeout)
        try:
            conn.request("GET", _target(args.url), headers=headers)
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            print(json.dumps({"error": "%s: %s" % (type(exc).__name__, exc)}), flush=True)
            conn.close()
            conn = None
            continue
        print(json.dumps({"status": resp.status, "headers": {k.lower(): v for k, v in resp.getheaders()},
                          "body": body[:300].decode("utf-8", "replace")}), flush=True)
        if resp.will_close:
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


def cmd_loop(args):
    end = time.monotonic() + args.seconds
    number = 0
    while time.monotonic() < end:
        start = time.time()
        record = {"t": round(start, 3)}
        headers = {"Connection": "close"}
        if args.rotate_clients:
            headers["CF-Connecting-IP"] = "198.19.%d.%d" % ((number // 250) % 256, number % 250 + 1)
        number += 1
        conn = _connection(args.url, args.source, args.cafile, args.timeout)
        try:
            conn.request("GET", _target(args.url), headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            record["status"] = resp.status
            try:  # the sample app's JSON names its release
                record["version"] = json.loads(body).get("version")
            except (ValueError, AttributeError):
                pass
        except (OSError, http.client.HTTPException) as exc:
            record["error"] = "%s: %s" % (type(exc).__name__, exc)
        finally:
            conn.close()
        record["ms"] = round((time.time() - start) * 1000, 1)
        print(json.dumps(record), flush=True)
        time.sleep(max(0.0, args.interval - (time.time() - start)))


def cmd_bench(args):
    import threading  # pylint: disable=import-outside-toplevel
    latencies, errors, lock = [], [0], threading.Lock()
    end = time.monotonic() + args.seconds

    def worker(index):
        conn, number, mine, failed = None, 0, [], 0
        while time.monotonic() < end:
            headers = {}
            if args.rotate_clients:
                headers["CF-Connecting-IP"] = "198.20.%d.%d" % (index % 256, number % 250 + 1)
            number += 1
            if conn is None:
                conn = _connection(args.url, args.source, args.cafile, args.timeout)
            start = time.perf_counter()
            try:
                conn.request("GET", _target(args.url), headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    failed += 1
                else:
                    mine.append((time.perf_counter() - start) * 1000)
                if resp.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                failed += 1
                conn.close()
                conn = None
        if conn is not None:
            conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()

    def pct(p):
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p))], 2) if latencies else None
    print(json.dumps({"url": args.url, "concurrency": args.concurrency, "seconds": round(elapsed, 2),
                      "requests": len(latencies), "errors": errors[0],
                      "rps": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
                      "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99)}))


def cmd_connect(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(args.timeout)
    if args.source:
        sock.bind((args.source, 0))
    try:
        sock.connect((args.host, args.port))
        print(json.dumps({"open": True}))
    except OSError as exc:
        print(json.dumps({"open": False, "error": "%s: %s" % (type(exc).__name__, exc)}))
    finally:
        sock.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("requests", "loop"):
        one = sub.add_parser(name)
        one.add_argument("--url", required=True)
        one.add_argument("--source")
        one.add_argument("--cafile")
        one.add_argument("--timeout", type=float, default=5.0)
    req = sub.choices["requests"]
    req.add_argument("--count", type=int, default=1)
    req.add_argument("--header", action="append", default=[])
    loop = sub.choices["loop"]
    loop.add_argument("--seconds", type=float, required=True)
    loop.add_argument("--interval", type=float, default=0.1)
    loop.add_argument("--rotate-clients", action="store_true")
    bench = sub.add_parser("bench")
    bench.add_argument("--url", required=True)
    bench.add_argument("--source")
    bench.add_argument("--cafile")
    bench.add_argument("--timeout", type=float, default=5.0)
    bench.add_argument("--seconds", type=float, required=True)
    bench.add_argument("--concurrency", type=int, default=4)
    bench.add_argument("--rotate-clients", action="store_true")
    conn = sub.add_parser("connect")
    conn.add_argument("--host", required=True)
    conn.add_argument("--port", type=int, required=True)
    conn.add_argument("--source")
    conn.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    {"requests": cmd_requests, "loop": cmd_loop, "bench": cmd_bench, "connect": cmd_connect}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
