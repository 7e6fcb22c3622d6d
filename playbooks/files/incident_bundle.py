# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Controller side of playbooks/runbooks/incident_diagnostics.yml: reads one JSON document on stdin
# (the hosts' collect results, the incident and its deadlines, the known secret values), redacts
# every text against those values, writes <dir>/<id>/<host>/<section>.txt and summary.json/.md,
# packs <dir>/<id>.tar.gz (0600) and removes the unpacked directory. Prints the tarball's path
# and the summary (which holds no secret) as JSON. Standard library only.
import json
import os
import shutil
import sys
import tarfile

REDACTED = "[REDACTED]"
doc = json.load(sys.stdin)
secrets = sorted({str(s).strip() for s in doc.get("secrets") or [] if len(str(s).strip()) >= 6}, key=len, reverse=True)


def redact(text):
    text = "" if text is None else str(text)
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def write(path, text):
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(redact(text))


os.umask(0o077)
base = os.path.join(doc["dir"], doc["incident_id"])
incident = doc["incident"]
hosts, missing = {}, {}
for host in doc["hosts"]:
    res = doc["results"].get(host) or {}
    try:
        data = json.loads(res.get("stdout") or "")
    except ValueError:
        data = None
    if res.get("rc") != 0 or not isinstance(data, dict):
        missing[host] = redact(res.get("msg") or res.get("stderr") or ("unreachable" if res.get("unreachable") else "not collected"))[:500]
        continue
    for name, text in data.get("sections", {}).items():
        write(os.path.join(base, host, name.replace("/", "__") + ".txt"), text + "\n")
    hosts[host] = data.get("facts", {})

summary = {
    "incident_id": doc["incident_id"],
    "environment": doc.get("environment"),
    "incident": incident,
    "hosts_collected": sorted(hosts),
    "hosts_missing": missing,
    "hosts": hosts,
    "failed_units": {h: f.get("failed_units") for h, f in sorted(hosts.items()) if f.get("failed_units")},
    "postgresql": {h: {"role": f.get("postgresql_role"), "select1": f.get("postgresql_select1")}
                   for h, f in sorted(hosts.items()) if "postgresql_select1" in f},
    "alerts_firing": [dict(a, monitoring_host=h) for h, f in sorted(hosts.items()) for a in f.get("alerts_firing", [])],
}
lines = [
    "# Incident %s (%s) - %s" % (doc["incident_id"], incident["severity"], doc.get("environment")),
    "",
    "- opened: %s" % incident["opened_at"],
    "- respond by: %s (%d min)" % (incident["response_due"], incident["response_minutes"]),
    "- resolve by: %s (%d min)" % (incident["resolution_due"], incident["resolution_minutes"]),
    "- status updates every %s min" % incident.get("status_update_minutes"),
    "- symptom: %s" % (incident.get("summary") or "-"),
    "- hosts collected: %d (%s)" % (len(hosts), ", ".join(sorted(hosts)) or "none"),
    "- hosts missing: %s" % (", ".join("%s (%s)" % (h, m.splitlines()[0] if m else "") for h, m in sorted(missing.items())) or "none"),
    "- failed units: %s" % (", ".join("%s: %s" % (h, " ".join(u)) for h, u in summary["failed_units"].items()) or "none"),
    "- PostgreSQL: %s" % (", ".join("%s %s SELECT 1 %s" % (h, p["role"], "ok" if p["select1"] else "FAILED")
                                    for h, p in summary["postgresql"].items()) or "no member collected"),
    "- alerts firing: %s" % (", ".join("%s (%s)" % (a.get("alertname"), a.get("severity")) for a in summary["alerts_firing"]) or "none"),
]
summary_text = redact("\n".join(lines) + "\n")
write(os.path.join(base, "summary.json"), json.dumps(summary, indent=2, sort_keys=True) + "\n")
write(os.path.join(base, "summary.md"), summary_text)
tarball = base + ".tar.gz"
with tarfile.open(tarball, "w:gz") as tar:
    tar.add(base, arcname=doc["incident_id"])
os.chmod(tarball, 0o600)
write(base + ".summary.md", summary_text)
shutil.rmtree(base)
print(json.dumps({"tarball": tarball, "summary_file": base + ".summary.md", "summary_text": summary_text,
                  "hosts_collected": sorted(hosts), "hosts_missing": sorted(missing)}))
