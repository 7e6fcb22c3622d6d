#!/usr/bin/env bash
# Converge benchmark of the 8-host lab, in one run on this machine:
#   1. the lab from nothing on the MINIMAL image (the path a new bare host takes), first converge
#      of playbooks/site.yml;
#   2. the no-op converge right after it (must report changed=0 everywhere), and its ratio to 1;
#   3. site.yml --check --diff (must report no change);
# with module runs per host and per role from the converge_stats callback (callback_plugins/).
# Results: benchmarks/converge/results.json (this run) and results.md (a table, appended to the
# history so earlier numbers stay beside the new ones).
#   benchmarks/converge/run.sh            # tears down any running lab first
#   SOVEREIGN_BENCH_VARIANT=golden ...    # the same on the golden image (what the tests use)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
"$repo/scripts/bootstrap" >/dev/null
# shellcheck source=scripts/env.sh
source "$repo/scripts/env.sh"
variant=${SOVEREIGN_BENCH_VARIANT:-minimal}
out=$here/output
mkdir -p "$out"
export ANSIBLE_CALLBACK_PLUGINS="$here/callback_plugins"
export ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks,converge_stats,sovereign.datacenter.preload
# A fresh controller-side fact cache and secret store as on a new machine would be unfair to
# nothing: the fact cache is emptied so the first converge gathers facts as a new host needs.
rm -rf "$repo/.cache/facts"

phase() {  # phase NAME ARGS... -> runs site.yml, writes $out/NAME.{log,json}, prints wall seconds
  local name=$1; shift
  local start end
  start=$(date +%s.%N)
  SOVEREIGN_CONVERGE_STATS="$out/$name.json" ansible-playbook -i inventories/lab playbooks/site.yml "$@" \
    > "$out/$name.log" 2>&1 || { echo "site.yml $name failed: $out/$name.log" >&2; tail -30 "$out/$name.log" >&2; exit 1; }
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

python3 lab/lab.py down >/dev/null
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
up_start=$(date +%s.%N)
python3 lab/lab.py up --variant "$variant" > "$out/up.log" 2>&1
up_s=$(echo "$(date +%s.%N) - $up_start" | bc)
first_s=$(phase first)
noop_s=$(phase noop)
check_s=$(phase check --check --diff)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$out" "$variant" "$up_s" "$first_s" "$noop_s" "$check_s" "$load_before" "$load_after" <<'PY'
import datetime
import json
import os
import re
import sys

out, variant, up_s, first_s, noop_s, check_s, load_before, load_after = sys.argv[1:]
recap = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def load(name):
    with open(os.path.join(out, name + ".json"), encoding="utf-8") as handle:
        stats = json.load(handle)
    with open(os.path.join(out, name + ".log"), encoding="utf-8") as handle:
        stats["recap"] = {m.group(1): {"changed": int(m.group(3)), "failed": int(m.group(5))}
                          for m in recap.finditer(handle.read())}
    return stats


first, noop, check = load("first"), load("noop"), load("check")
result = {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
    "image": variant, "cores": os.cpu_count(), "load_before": load_before, "load_after": load_after,
    "lab_up_s": round(float(up_s), 1),
    "first_converge_s": round(float(first_s), 1),
    "noop_converge_s": round(float(noop_s), 1),
    "check_s": round(float(check_s), 1),
    "noop_over_first": round(float(noop_s) / float(first_s), 3),
    "noop_changed": sum(h["changed"] for h in noop["recap"].values()),
    "check_changed": sum(h["changed"] for h in check["recap"].values()),
    "module_runs_per_host": {"first": first["module_runs_per_host"], "noop": noop["module_runs_per_host"]},
    "noop_role_module_runs": noop["role_module_runs"],
    "noop_role_tasks": noop["role_tasks"],
    "noop_role_wall_s": noop["role_wall_s"],
}
with open(os.path.join(out, "..", "results.json"), "w", encoding="utf-8") as handle:
    json.dump(result, handle, indent=1, sort_keys=True)
hosts = sorted(result["module_runs_per_host"]["noop"])
line = ("| %s | %s | %d | %.1f | %.1f | %.1f | **%.3f** | %d | %d | %s |"
        % (result["date"], variant, result["cores"], result["first_converge_s"], result["noop_converge_s"],
           result["check_s"], result["noop_over_first"], result["noop_changed"], result["check_changed"],
           " ".join("%s %d" % (h, result["module_runs_per_host"]["noop"][h]) for h in hosts)))
with open(os.path.join(out, "..", "results.md"), "a", encoding="utf-8") as handle:
    handle.write(line + "\n")
print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}, indent=1))
print(line)
PY
