"""Issue 4 on the lab: the flow policy proven from the outside with real traffic (firewall_audit.yml), run as
its AWX job template runs it (issue 16: ansible-runner with the survey's defaults, tests/support/awx_template.py).

The nftables backend as site.yml converged it; tests/lab/test_firewall_backends.py proves the same
properties (tests/support/firewall_audit.py) for ufw and firewalld."""
import subprocess
import warnings

import pytest

from support import awx_template, firewall_audit


@pytest.fixture(scope="module")
def audit(lab_up):
    # as its AWX job template runs it (issue 16): ansible-runner with the survey's defaults
    report, seconds = firewall_audit.run_audit("firewall_audit-lab", as_awx=True)
    warnings.warn("nftables (site.yml): audit %.1f s%s, %s probes (%s UDP), %s failed"
                  % (seconds, " (ansible-runner, as AWX)" if awx_template.available() else "", report["probes"],
                     report["udp_probes"], report["failed"]))
    return report


def test_every_declared_flow_connects_and_no_sampled_port_is_open(audit):
    firewall_audit.every_declared_flow_connects_and_no_sampled_port_is_open(audit)


def test_sampled_udp_ports_are_dropped(audit):
    firewall_audit.sampled_udp_ports_are_dropped(audit)


def test_dc2_data_accepts_replication_only_from_dc1_data(audit):
    firewall_audit.dc2_data_accepts_replication_only_from_dc1_data(audit)


def test_ssh_only_from_the_management_segment(audit):
    firewall_audit.ssh_only_from_the_management_segment(audit)


def test_rulesets_are_live_and_default_deny(lab_up):
    res = subprocess.run(["podman", "exec", "sovlab-pg1", "nft", "list", "chain", "inet", "sovereign", "input"],
                         capture_output=True, text=True, check=True)
    assert "policy drop" in res.stdout
