#!/usr/bin/env python3
"""Edge benchmark: requests/s and p50/p99 latency through the site's virtual address (HTTPS through HAProxy:
TLS, headers, rate-limit tables, the backend's TLS) against requests/s direct to one backend (HTTPS to the
app service), at the same concurrency, side by side in the same run, on a lab that is up and converged.

    benchmarks/edge/run.py [--seconds 20] [--concurrency 8]

The VIP is loaded from cdn1 (the CDN's address, a new CF-Connecting-IP per request so no per-client limit
applies), the backend from the load balancer that holds the address (the DMZ is the only tier the app
servers admit on their port). Each side runs twice, interleaved (vip, direct, vip, direct), and the better
run of each counts. Same client program (tests/support/edge_client.py bench), same machine: the clients,
HAProxy and the services share its 2 cores, so the ratio, not the absolute numbers, is the result.
Writes benchmarks/edge/results.json (this run) and appends a row to benchmarks/edge/results.md."""
import argparse
import datetime
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CLIENT = os.path.join(REPO, "tests", "support", "edge_client.py")


def inventory():
    out = subprocess.run(["ansible-inventory", "-i", os.path.join(REPO, "inventories", "lab"), "--list"],
                         capture_output=True, text=True, check=True, cwd=os.path.join(REPO, "playbooks")).stdout
    return json.loads(out)


def pid(container):
    return subprocess.run(["podman", "inspect", "-f", "{{.State.Pid}}", container], capture_output=True, text=True,
                          check=True).stdout.strip()


def exec_in(container, *argv):
    return subprocess.run(["podman", "exec", container] + list(argv), capture_output=True, text=True, check=False)


def bench(netns_pid, url, args, ca, source, rotate):
    cmd = ["nsenter", "-t", netns_pid, "-n", sys.executable, CLIENT, "bench", "--url", url, "--seconds",
           str(args.seconds), "--concurrency", str(args.concurrency), "--cafile", ca, "--source", source]
    res = subprocess.run(cmd + (["--rotate-clients"] if rotate else []), capture_output=True, text=True, check=True,
                         timeout=args.seconds * 4 + 60)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    data = inventory()
    hostvars = data["_meta"]["hostvars"]
    lbs = sorted(data["loadbalancers"]["hosts"])
    apps = sorted(data["app_servers"]["hosts"])
    first = hostvars[lbs[0]]
    vip = first["platform_edge_vips"]["dc1"]
    holder = [lb for lb in lbs if exec_in("sovlab-" + lb, "ip", "-o", "-4", "addr", "show", "to", vip + "/32").stdout.strip()]
    if len(holder) != 1:
        raise SystemExit("the lab must be up and converged with one holder of %s (found %s)" % (vip, holder))
    secrets = subprocess.run(["bash", "-c", "source scripts/env.sh >/dev/null && ansible -i inventories/lab localhost "
                              "-m ansible.builtin.debug -a var=platform_secrets_dir -o"], capture_output=True, text=True,
                             cwd=REPO, check=True).stdout
    ca = os.path.join(json.loads(secrets.split("=>", 1)[1])["platform_secrets_dir"], "pki", "ca.crt")
    backend = apps[0]
    port = hostvars[backend].get("app_service_port") or first["platform_ports"]["fastapi"]
    backend_url = "https://%s:%s/api/bench" % (hostvars[backend]["platform_address"], port)
    vip_url = "https://%s/api/bench" % vip
    # the backend's name is in its certificate, its address too (the client checks the IP SAN)
    cdn_pid, lb_pid = pid("sovlab-cdn1"), pid("sovlab-" + holder[0])
    # one backend only behind the VIP as well, so both sides load the same single service process
    others = [a for a in apps if a != backend]
    sock = "/run/haproxy/admin.sock"
    for lb in lbs:
        for other in others:
            exec_in("sovlab-" + lb, "sh", "-c", "echo 'set server be_app/%s state drain' | socat stdio %s" % (other, sock))
    runs = {"vip": [], "direct": []}
    try:
        for unused_round in range(2):
            runs["vip"].append(bench(cdn_pid, vip_url, args, ca, first["lab_cdn_address"], True))
            runs["direct"].append(bench(lb_pid, backend_url, args, ca, hostvars[holder[0]]["platform_address"], False))
    finally:
        for lb in lbs:
            for other in others:
                exec_in("sovlab-" + lb, "sh", "-c", "echo 'set server be_app/%s state ready' | socat stdio %s" % (other, sock))
    best = {side: max(results, key=lambda r: r["rps"]) for side, results in runs.items()}
    ratio = round(best["vip"]["rps"] / best["direct"]["rps"], 3) if best["direct"]["rps"] else None
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
        "concurrency": args.concurrency, "seconds": args.seconds, "backend": backend, "vip_holder": holder[0],
        "load_before": open("/proc/loadavg", encoding="ascii").read().split()[:3],
        "vip": best["vip"], "direct": best["direct"], "vip_to_direct_rps_ratio": ratio, "runs": runs,
    }
    with open(os.path.join(HERE, "results.json"), "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
        handle.write("\n")
    table = os.path.join(HERE, "results.md")
    if not os.path.exists(table):
        with open(table, "w", encoding="utf-8") as handle:
            handle.write("# Edge benchmark results (benchmarks/edge/run.py; newest last)\n\n"
                         "| date | concurrency | VIP req/s | VIP p50 / p99 ms | direct req/s | direct p50 / p99 ms | VIP / direct | errors (VIP, direct) |\n"
                         "|---|---|---|---|---|---|---|---|\n")
    with open(table, "a", encoding="utf-8") as handle:
        handle.write("| %s | %d | %.1f | %s / %s | %.1f | %s / %s | %s | %d, %d |\n" % (
            result["date"], args.concurrency, best["vip"]["rps"], best["vip"]["p50_ms"], best["vip"]["p99_ms"],
            best["direct"]["rps"], best["direct"]["p50_ms"], best["direct"]["p99_ms"], ratio,
            best["vip"]["errors"], best["direct"]["errors"]))
    print(json.dumps({k: result[k] for k in ("vip", "direct", "vip_to_direct_rps_ratio")}, indent=2))


if __name__ == "__main__":
    main()
