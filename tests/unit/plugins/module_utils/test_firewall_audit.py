"""The firewall audit's report (module_utils/_firewall_audit.py, filter flow_policy_audit_report): the
probe results of every source host summed up per host pair, as tests/support/firewall_audit.py reads it."""
import pytest

from ansible_collections.sovereign.datacenter.plugins.filter.flow_policy import flow_policy_audit_report
from ansible_collections.sovereign.datacenter.plugins.module_utils._firewall_audit import audit_report


def probe(source, target, port, expect, ok, proto="tcp", state=None):
    return {"source": source, "target": target, "address": "10.0.0.1", "port": port, "proto": proto,
            "expect": expect, "ok": ok, "state": state or ("open" if expect == "allow" and ok else "filtered")}


def test_counts_and_ports_per_pair_split_by_expectation_and_protocol():
    results = [probe("app1", "pg1", 5432, "allow", True), probe("app1", "pg1", 22, "deny", True),
               probe("app1", "pg1", 53, "deny", True, proto="udp"), probe("bastion1", "pg1", 22, "allow", True),
               probe("app1", "pg1", 514, "allow", True, proto="udp")]
    report = audit_report(results)
    assert (report["probes"], report["udp_probes"], report["failed"]) == (5, 2, 0)
    assert report["pairs"]["app1 -> pg1"] == {"allowed_ok": [5432], "denied_ok": [22], "udp_allowed_ok": [514],
                                              "udp_denied_ok": [53], "failed": []}
    assert list(report["pairs"]) == ["app1 -> pg1", "bastion1 -> pg1"]  # sorted, as the report file is


def test_a_failed_probe_is_counted_kept_whole_and_not_listed_as_passed():
    opened = probe("app1", "pg1", 6379, "deny", False, state="open")  # a port that should be dropped answered
    dropped = probe("app1", "pg1", 5432, "allow", False, state="filtered")  # a declared flow dropped
    report = audit_report([opened, dropped, probe("app1", "pg1", 22, "deny", True)])
    pair = report["pairs"]["app1 -> pg1"]
    assert report["failed"] == 2 and pair["failed"] == [opened, dropped]
    assert pair["denied_ok"] == [22] and 6379 not in pair["denied_ok"] and pair["allowed_ok"] == []


def test_no_results_is_an_empty_report():
    assert audit_report([]) == {"probes": 0, "udp_probes": 0, "failed": 0, "pairs": {}}


def test_the_filter_refuses_what_is_not_a_list():
    with pytest.raises(Exception, match="list of probe results"):
        flow_policy_audit_report({"results": []})
    assert flow_policy_audit_report([probe("a", "b", 1, "allow", True)])["probes"] == 1
