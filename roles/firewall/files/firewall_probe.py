# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run on one audit source host: probe every target/port of the plan given as JSON (standard input, or argv[1]).

TCP probes connect; each ends as
  open      - connected (a service listens and the firewall let it through)
  closed    - the target answered with a reset: the firewall let it through, nothing listens
  filtered  - no answer before the timeout: dropped (the policy's default drop)
  error     - anything else (unreachable, ...)
UDP probes send one datagram and wait for any answer:
  open      - a service answered
  closed    - ICMP port unreachable came back: the firewall let it through, nothing listens
  filtered  - no answer: dropped (or a silent service)
An allowed port that looks dropped is probed once more (UDP: the kernel rate-limits ICMP port-unreachable
answers; TCP: a SYN can be lost on a loaded host), so only a port dropped twice fails the audit.
A probe passes when expect=allow ends open/closed and expect=deny ends filtered/error.
Prints one JSON document. Probes run in parallel threads, so dropped ports cost one timeout per wave.
"""
import errno
import json
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def _tcp(item, timeout):
    sock = socket.socket(socket.AF_INET6 if ":" in item["address"] else socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        code = sock.connect_ex((item["address"], int(item["port"])))
    except socket.timeout:
        code = errno.ETIMEDOUT
    except OSError as exc:
        code = exc.errno or -1
    finally:
        sock.close()
    if code == 0:
        return "open"
    if code == errno.ECONNREFUSED:
        return "closed"
    if code in (errno.ETIMEDOUT, errno.EAGAIN, errno.EINPROGRESS):
        return "filtered"
    return "error"


def _udp(item, timeout):
    sock = socket.socket(socket.AF_INET6 if ":" in item["address"] else socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    try:
        sock.connect((item["address"], int(item["port"])))
        sock.send(b"sovereign-firewall-audit\n")
        sock.recv(2048)
        return "open"
    except socket.timeout:
        return "filtered"
    except ConnectionRefusedError:
        return "closed"
    except OSError:
        return "error"
    finally:
        sock.close()


def probe(item, timeout, source):
    start = time.monotonic()
    udp = item.get("proto", "tcp") == "udp"
    state = (_udp if udp else _tcp)(item, timeout)
    if state == "filtered" and item["expect"] == "allow":
        # once more before calling an allowed port dropped: the kernel rate-limits ICMP port-unreachable
        # answers (UDP), and a SYN can be lost on a loaded host (TCP)
        state = (_udp if udp else _tcp)(item, timeout)
    ok = state in ("open", "closed") if item["expect"] == "allow" else state in ("filtered", "error")
    result = dict(item)
    result.update(source=source, state=state, ok=ok, ms=int((time.monotonic() - start) * 1000))
    return result


def main():
    options = json.loads(sys.argv[1]) if len(sys.argv) > 1 else json.load(sys.stdin)
    probes = options.get("probes", [])
    timeout = float(options.get("timeout", 1.5))
    with ThreadPoolExecutor(max_workers=int(options.get("parallel", 64))) as pool:
        results = list(pool.map(lambda item: probe(item, timeout, options.get("source", "")), probes))
    json.dump({"results": results, "failed": sum(1 for r in results if not r["ok"])}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
