#!/usr/bin/env bash
# Lynis hardening index of a stock lab container vs a hardened one, and compliance_check time
# vs Lynis time on the same (hardened) host, side by side in one run.
#   benchmarks/compliance/run.sh            -> benchmarks/compliance/results.{json,md}
# Containers: hd-bench-stock, hd-bench-hard (removed at the end). Needs podman + the venv.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tmp="$here/tmp"; mkdir -p "$tmp"
export PATH=/root/.cache/sovereign/venv-test/bin:$PATH
export ANSIBLE_COLLECTIONS_PATH=$repo/.ansible/collections ANSIBLE_HOST_KEY_CHECKING=false
image=$("$repo/lab/build-image")
runs=${RUNS:-5}

# net.* sysctls of a container are set by the runtime (read-only /proc/sys inside): the same
# values the role persists, as the lab must pass them.
sysctl_args=$(python3 - "$repo" <<'PY'
import sys
sys.path.insert(0, sys.argv[1] + "/.ansible/collections")
from ansible_collections.sovereign.datacenter.plugins.module_utils._compliance import DEFAULT_SETTINGS
print(" ".join("--sysctl=%s=%s" % kv for kv in DEFAULT_SETTINGS["sysctls"].items() if kv[0].startswith("net.")))
PY
)

cleanup() { podman rm -f -t 0 hd-bench-stock hd-bench-hard >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup

start() {  # name extra-args...
  local name=$1; shift
  podman run -d --name "$name" --hostname "$name" --cap-add NET_ADMIN,NET_RAW "$@" "$image" /sbin/init >/dev/null
  sleep 3
  podman exec "$name" bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lynis >/dev/null 2>&1'
}

lynis() {  # name -> prints "<index> <seconds>"
  local name=$1 s e
  s=$(date +%s.%N)
  podman exec "$name" lynis audit system --quick --no-colors > "$tmp/lynis-$name.txt" 2>&1 || true
  e=$(date +%s.%N)
  podman exec "$name" cat /var/log/lynis-report.dat > "$tmp/lynis-report-$name.dat"
  echo "$(grep -oP '^hardening_index=\K\d+' "$tmp/lynis-report-$name.dat") $(echo "$e - $s" | bc)"
}

echo "== stock container" >&2
start hd-bench-stock
read -r stock_index stock_lynis_s < <(lynis hd-bench-stock)

echo "== hardened container" >&2
start hd-bench-hard $sysctl_args
inv="$tmp/inventory.yml"
cat > "$inv" <<INV
all:
  children:
    app:
      hosts:
        hd-bench-hard:
          ansible_connection: containers.podman.podman
          ansible_python_interpreter: /usr/bin/python3
INV
s=$(date +%s.%N)
ansible-playbook -i "$inv" "$repo/playbooks/hardening.yml" > "$tmp/hardening-converge.log"
converge_s=$(echo "$(date +%s.%N) - $s" | bc)
s=$(date +%s.%N)
ansible-playbook -i "$inv" "$repo/playbooks/hardening.yml" > "$tmp/hardening-rerun.log"
rerun_s=$(echo "$(date +%s.%N) - $s" | bc)
rerun_changed=$(grep -oP 'changed=\K\d+' "$tmp/hardening-rerun.log" | head -1)
read -r hard_index hard_lynis_s < <(lynis hd-bench-hard)

# compliance_check on the same host: wall time of one ad-hoc call (incl. the podman connection)
# and the module's own evaluation time, best of $runs.
cc_wall=(); cc_eval=()
for _ in $(seq "$runs"); do
  s=$(date +%s.%N)
  out=$(ansible hd-bench-hard -i "$inv" -m sovereign.datacenter.compliance_check -o 2>/dev/null)
  cc_wall+=("$(echo "$(date +%s.%N) - $s" | bc)")
  cc_eval+=("$(echo "$out" | sed 's/^[^{]*//' | python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"]["duration_seconds"])')")
done
echo "$out" | sed 's/^[^{]*//' > "$tmp/compliance-hard.json"

# The audit playbook against both hosts: read-only (changed=0), reports on the controller.
cat > "$tmp/inventory-audit.yml" <<INV
all:
  vars:
    platform_environment: benchmark
    platform_tiers: [dmz, app, data, ai, security, management]
    ansible_connection: containers.podman.podman
    ansible_python_interpreter: /usr/bin/python3
  children:
    app:
      hosts:
        hd-bench-stock:
        hd-bench-hard:
INV
ansible-playbook -i "$tmp/inventory-audit.yml" "$repo/playbooks/compliance_audit.yml" \
  -e compliance_report_dir="$tmp/reports" > "$tmp/audit.log"
audit_changed=$(grep -E '^hd-bench' "$tmp/audit.log" | grep -oP 'changed=\K\d+' | paste -sd+ | bc)

python3 - "$here" "$stock_index" "$stock_lynis_s" "$hard_index" "$hard_lynis_s" "$converge_s" "$rerun_s" \
  "$rerun_changed" "${cc_wall[*]}" "${cc_eval[*]}" "$image" "$audit_changed" <<'PY'
import json, sys, re, platform
here, si, sl, hi, hl, conv, rerun, rchanged, wall, ev, image, achanged = sys.argv[1:]
audit = json.load(open(here + "/tmp/reports/compliance.json"))
wall = sorted(float(x) for x in wall.split()); ev = sorted(float(x) for x in ev.split())
cc = json.load(open(here + "/tmp/compliance-hard.json"))
def suggestions(name):
    return [l.split("=", 1)[1] for l in open("%s/tmp/lynis-report-%s.dat" % (here, name)) if l.startswith("suggestion[]=")]
res = {
  "image": image,
  "lynis": {"stock": {"hardening_index": int(si), "seconds": round(float(sl), 1)},
            "hardened": {"hardening_index": int(hi), "seconds": round(float(hl), 1),
                         "remaining_suggestions": suggestions("hd-bench-hard")}},
  "compliance_check": {"runs": len(wall), "wall_seconds_best": round(wall[0], 2), "wall_seconds_median": round(wall[len(wall)//2], 2),
                       "evaluation_seconds_best": ev[0], "evaluation_seconds_median": ev[len(ev)//2],
                       "controls": cc["summary"]["total"], "counts": cc["summary"]["counts"],
                       "not_applicable": [ {"id": r["id"], "reason": r["message"]} for r in cc["results"] if r["status"] == "not_applicable"]},
  "ratio_lynis_over_compliance_check_wall": round(float(hl) / wall[len(wall)//2], 1),
  "ratio_lynis_over_compliance_check_evaluation": round(float(hl) / max(ev[len(ev)//2], 0.001)),
  "audit_playbook": {"changed_on_hosts": int(achanged), "scores": dict((h, e["score"]) for h, e in audit["hosts"].items())},
  "hardening_playbook": {"converge_seconds": round(float(conv), 1), "rerun_seconds": round(float(rerun), 1), "rerun_changed": int(rchanged)},
}
json.dump(res, open(here + "/results.json", "w"), indent=2, sort_keys=True)
tests = next((l.split("=", 1)[1].strip() for l in open(here + "/tmp/lynis-report-hd-bench-hard.dat") if l.startswith("lynis_tests_done=")), "?")
na = "\n".join("| `%s` | %s |" % (r["id"], r["reason"]) for r in res["compliance_check"]["not_applicable"])
sug = "\n".join("- %s" % s.split("|")[0] + (" (" + s.split("|")[1] + ")" if "|" in s else "") for s in res["lynis"]["hardened"]["remaining_suggestions"])
md = f"""# Compliance benchmark (generated by benchmarks/compliance/run.sh)

Same lab image (`{image}`), one podman container each, 2-core Debian 12 VM.

## Lynis 3.0.8 hardening index (`lynis audit system --quick`)

| host | hardening index | Lynis run time |
|---|---|---|
| stock lab container | {si} | {float(sl):.1f} s |
| hardened (`playbooks/hardening.yml`, profile default) | {hi} | {float(hl):.1f} s |

## compliance_check vs Lynis on the same hardened host

| tool | controls / tests | time |
|---|---|---|
| Lynis (in the container) | {tests} tests | {float(hl):.1f} s |
| compliance_check, one ad-hoc call incl. podman connection (median of {len(wall)}) | {cc["summary"]["total"]} controls | {wall[len(wall)//2]:.2f} s |
| compliance_check, evaluation inside the module (median) | {cc["summary"]["total"]} controls | {ev[len(ev)//2]:.3f} s |

Ratio Lynis / compliance_check: **{res["ratio_lynis_over_compliance_check_wall"]}x** (wall, with connection),
{res["ratio_lynis_over_compliance_check_evaluation"]}x (evaluation only).
compliance_check result on the hardened container: {cc["summary"]["counts"]}.

Hardening playbook on this container: first converge {float(conv):.0f} s, re-run {float(rerun):.0f} s with changed={rchanged}.

## Audit playbook (`playbooks/compliance_audit.yml`) on both containers

Changed on the hosts: {achanged}. compliance_check score (pass / (pass + fail)):
stock {audit["hosts"]["hd-bench-stock"]["score"]}%, hardened {audit["hosts"]["hd-bench-hard"]["score"]}%.
Reports (JSON, HTML, JUnit) were written to `benchmarks/compliance/tmp/reports/`.

## What the container prevents (reported `not_applicable`, never passed)

| control | reason |
|---|---|
{na}

## Lynis suggestions left on the hardened container

{sug}
"""
open(here + "/results.md", "w").write(md)
print(md)
PY
