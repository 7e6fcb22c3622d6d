"""lab/golden-packages derives the golden image's package set from the roles' own variables."""
import os
import subprocess
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "lab", "golden-packages")


def run(*args):
    out = subprocess.run([sys.executable, SCRIPT] + list(args), capture_output=True, text=True, check=True).stdout
    return out.split()


def role_defaults(role):
    with open(os.path.join(REPO, "roles", role, "defaults", "main.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_every_host_role_package_is_in_the_golden_set():
    names = set(run())
    assert set(role_defaults("base")["base_packages"]) <= names
    assert set(role_defaults("rsyslog")["rsyslog_packages"]) <= names
    assert set(role_defaults("node_exporter")["node_exporter_packages"]) <= names
    hardening = role_defaults("hardening")
    assert set(hardening["hardening_extra_packages"]) | set(hardening["hardening_file_integrity_packages"]) <= names
    assert {"auditd", "libpam-pwquality", "nftables"} <= names
    # the postgresql role's server packages, with its version resolved
    assert "postgresql-%s" % role_defaults("postgresql")["postgresql_version"] in names


def test_removed_or_out_of_suite_packages_stay_out():
    names = set(run())
    assert not set(role_defaults("hardening")["hardening_legacy_packages"]) & names
    assert "apparmor" not in names  # the hardening role leaves AppArmor out in containers
    assert not {"suricata", "grafana", "filebeat"} & names


def test_the_other_firewall_backends_are_in_with_their_units_disabled():
    # the lab switches to ufw and firewalld and back: their packages are in the image, as tier packages
    # (units disabled again), so the default backend (nftables) is the only one that starts
    everything, tier = set(run()), set(run("--tier"))
    assert {"ufw", "firewalld"} <= everything and {"ufw", "firewalld"} <= tier
    assert "nftables" in everything and "nftables" not in tier


def test_tier_packages_are_a_subset_without_every_host_packages():
    everything, tier = set(run()), set(run("--tier"))
    assert tier and tier <= everything
    assert {"prometheus", "pgbackrest"} <= tier
    assert not {"openssh-server", "rsyslog", "prometheus-node-exporter"} & tier
    assert run() == sorted(run())
