"""The PostgreSQL topology guard's decision: when acting on the inventory is unsafe."""
from ansible_collections.sovereign.datacenter.plugins.filter.postgresql_topology_problems import (
    parse_probe, postgresql_topology_problems)

PG1, PG2, PG3 = "10.0.20.11", "10.0.20.12", "10.1.20.11"


def probe(text):
    return {"stdout": text, "rc": 0}


UNREACHABLE = {"unreachable": True, "msg": "container not running"}


def test_healthy_cluster_has_no_problem():
    probes = {"pg1": probe("running false false"), "pg2": probe("running false true %s" % PG1),
              "pg3": probe("running false true %s" % PG1)}
    assert postgresql_topology_problems(probes, "pg1", PG1) == []


def test_new_cluster_and_stopped_cluster_are_left_to_the_role():
    assert postgresql_topology_problems({"pg1": probe("stopped false"), "pg2": probe("stopped false")}, "pg1", PG1) == []


def test_killed_primary_after_failover_is_refused_and_names_the_new_primary():
    # pg1 killed, pg2 promoted by the DR runbook, pg3 re-pointed at pg2: the inventory still says pg1.
    probes = {"pg1": UNREACHABLE, "pg2": probe("running false false"), "pg3": probe("running false true %s" % PG2)}
    problems = postgresql_topology_problems(probes, "pg1", PG1)
    assert len(problems) == 1
    text = problems[0]
    assert "pg2 is the primary now" in text and "pg1 is unreachable" in text
    assert "postgresql_role: primary on pg2" in text and "No host was changed" in text


def test_fenced_old_primary_is_described_as_fenced():
    probes = {"pg1": probe("stopped true"), "pg2": probe("running false false")}
    assert "pg1 is fenced" in postgresql_topology_problems(probes, "pg1", PG1)[0]


def test_old_primary_demoted_to_standby_is_described_as_a_standby():
    probes = {"pg1": probe("running false true %s" % PG2), "pg2": probe("running false false")}
    assert "pg1 is a standby (streaming from %s)" % PG2 in postgresql_topology_problems(probes, "pg1", PG1)[0]


def test_two_primaries_are_a_split_brain():
    probes = {"pg1": probe("running false false"), "pg3": probe("running false false")}
    problems = postgresql_topology_problems(probes, "pg1", PG1)
    assert problems and "pg1, pg3" in problems[0]


def test_standby_streaming_from_elsewhere_is_refused():
    probes = {"pg1": probe("running false false"), "pg3": probe("running false true %s" % PG2)}
    problems = postgresql_topology_problems(probes, "pg1", PG1)
    assert problems and problems[0].startswith("pg3 streams from %s" % PG2)


def test_runbook_rebuilding_fenced_members_is_allowed():
    # pg_dr_failback.yml runs the role on the fenced hosts only, with the real primary as override.
    probes = {"pg1": probe("stopped true"), "pg2": probe("stopped true")}
    assert postgresql_topology_problems(probes, "pg3", PG3) == []


def test_unknown_recovery_is_not_counted_as_a_primary():
    assert parse_probe(probe("running false unknown"))["recovery"] is None
    assert postgresql_topology_problems({"pg1": probe("running false unknown"), "pg2": probe("running false false")},
                                        "pg2", PG2) == []
