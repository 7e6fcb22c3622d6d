# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Read-only incident diagnostics of one host (run by playbooks/runbooks/incident_diagnostics.yml as
# `python3 -c <this file> <json options>`). Prints one JSON document: {"sections": {name: text},
# "facts": {...}}. Every command only reads; each has a timeout, and a failing one is reported in its
# section instead of stopping the collection. Standard library only (Python 3.8+).
import fnmatch
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import urllib.request

OPTS = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
TIMEOUT = int(OPTS.get("timeout", 20))
sections = {}
facts = {}


def run(argv, user=None):
    if shutil.which(argv[0]) is None and not os.path.exists(argv[0]):
        return None
    if user:
        argv = ["runuser", "-u", user, "--"] + argv
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT,
                              universal_newlines=True, stdin=subprocess.DEVNULL, cwd="/", check=False)
        text = proc.stdout
        if proc.returncode != 0:
            text += "\n[exit status %d]" % proc.returncode
        return text
    except (OSError, subprocess.SubprocessError) as exc:
        return "[%s: %s]" % (" ".join(argv), exc)


def section(name, *commands):
    parts = []
    for argv in commands:
        out = run(argv)
        if out is not None:
            parts.append("$ %s\n%s" % (" ".join(argv), out))
    if parts:
        sections[name] = "\n".join(parts)


# Services: every unit's state, the failed ones as a fact.
units = run(["systemctl", "list-units", "--type=service", "--all", "--no-pager", "--no-legend", "--plain"]) or ""
sections["services"] = units
facts["failed_units"] = sorted(line.split()[0] for line in units.splitlines()
                               if len(line.split()) >= 4 and line.split()[2] == "failed")
loaded = [line.split()[0] for line in units.splitlines() if line.split() and line.split()[1] == "loaded"]
patterns = OPTS.get("services", [])
wanted = sorted({u for u in loaded for p in patterns if fnmatch.fnmatch(u, p)})
facts["services_logged"] = wanted
for unit in wanted:
    sections["logs/" + unit] = run(["journalctl", "-u", unit, "-n", str(OPTS.get("log_lines", 500)), "--no-pager",
                                    "-o", "short-iso"]) or ""

# Disk, memory, CPU.
section("system", ["uptime"], ["nproc"], ["cat", "/proc/loadavg"], ["free", "-m"],
        ["df", "-hPT", "-x", "tmpfs", "-x", "devtmpfs"], ["df", "-iP"])
section("processes", ["ps", "-eo", "pid,user,pcpu,pmem,rss,etime,comm", "--sort=-pcpu"])
try:
    with open("/proc/loadavg", encoding="ascii") as handle:
        facts["load1"] = float(handle.read().split()[0])
    facts["cpus"] = os.cpu_count()
    meminfo = {}
    with open("/proc/meminfo", encoding="ascii") as handle:
        for line in handle:
            key, value = line.split(":", 1)
            meminfo[key] = int(value.split()[0])
    facts["memory_used_pct"] = round(100.0 * (1 - meminfo["MemAvailable"] / meminfo["MemTotal"]), 1)
except (OSError, ValueError, KeyError, ZeroDivisionError):
    pass
disk = run(["df", "-P", "-x", "tmpfs", "-x", "devtmpfs"]) or ""
used = [int(m.group(1)) for m in re.finditer(r"\s(\d+)%\s", disk)]
facts["disk_max_used_pct"] = max(used) if used else None

# Firewall counters (whichever backend is there).
section("firewall", ["nft", "list", "ruleset"], ["ufw", "status", "verbose"], ["firewall-cmd", "--list-all"])

# PostgreSQL: connectivity and replication state, as the postgres OS user (peer authentication).
if OPTS.get("postgresql"):
    select1 = run(["psql", "-X", "-At", "-c", "SELECT 1"], user="postgres")
    facts["postgresql_select1"] = (select1 or "").strip() == "1"
    queries = [
        "SELECT pg_is_in_recovery()",
        "SELECT application_name, client_addr, state, sync_state, sent_lsn, replay_lsn, replay_lag FROM pg_stat_replication",
        "SELECT status, sender_host, sender_port, slot_name, latest_end_lsn FROM pg_stat_wal_receiver",
        "SELECT slot_name, active, restart_lsn FROM pg_replication_slots",
        "SELECT count(*) AS connections, current_setting('max_connections') AS max FROM pg_stat_activity",
    ]
    out = ["SELECT 1 -> %s" % (select1 or "").strip()]
    for query in queries:
        out.append("%s\n%s" % (query, run(["psql", "-X", "-A", "-c", query], user="postgres") or "psql not found"))
    sections["postgresql"] = "\n\n".join(out)
    recovery = run(["psql", "-X", "-At", "-c", "SELECT pg_is_in_recovery()"], user="postgres") or ""
    facts["postgresql_role"] = {"t": "standby", "f": "primary"}.get(recovery.strip(), "unknown")

# Cache and queue, where those tiers exist (a ping, nothing else).
if OPTS.get("redis"):
    section("redis", ["redis-cli", "ping"])
if OPTS.get("rabbitmq"):
    section("rabbitmq", ["rabbitmq-diagnostics", "-q", "ping"], ["rabbitmq-diagnostics", "-q", "status"])

# Alerts currently firing, from this monitoring host's Prometheus (TLS verified against the platform CA, ca_file).
if OPTS.get("prometheus_url"):
    try:
        with urllib.request.urlopen(OPTS["prometheus_url"].rstrip("/") + "/api/v1/alerts", timeout=TIMEOUT,
                                    context=ssl.create_default_context(cafile=OPTS.get("ca_file") or None)) as resp:
            alerts = json.load(resp).get("data", {}).get("alerts", [])
        firing = [a for a in alerts if a.get("state") == "firing"]
        facts["alerts_firing"] = [{"alertname": a.get("labels", {}).get("alertname"),
                                   "severity": a.get("labels", {}).get("severity"),
                                   "instance": a.get("labels", {}).get("instance")} for a in firing]
        sections["alerts"] = json.dumps(firing, indent=2, sort_keys=True)
    except (OSError, ValueError) as exc:
        facts["alerts_error"] = str(exc)
        sections["alerts"] = "[could not read %s/api/v1/alerts: %s]" % (OPTS["prometheus_url"], exc)

print(json.dumps({"sections": sections, "facts": facts}))
