"""Behaviour of a host after base + pki + _common (Molecule scenario `base`)."""
import os
import re
import subprocess

import pytest

from support.molecule import run_playbook

HOST = "mol-base"
SCENARIO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def host(hosts):
    return hosts[HOST]


@pytest.fixture(scope="module")
def address(host):
    return host.check_output("hostname -I").split()[0]


def _ssh(ephemeral_dir, address, user, command, key=True):
    args = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5",
            "-o", "PreferredAuthentications=publickey"]
    if key:
        args += ["-o", "IdentitiesOnly=yes", "-i", os.path.join(ephemeral_dir, "ops_ed25519")]
    return subprocess.run(args + ["%s@%s" % (user, address), command],
                          capture_output=True, text=True, timeout=30, check=False)


def test_admin_logs_in_with_key_and_has_sudo(ephemeral_dir, address):
    res = _ssh(ephemeral_dir, address, "ops", "sudo -n id -u")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "0"


def test_admin_has_no_usable_password(host):
    shadow = host.check_output("getent shadow ops").split(":")[1]
    assert shadow.startswith("!"), "the admin account must be password-locked (keys only)"


def test_removed_admin_is_gone(host):
    assert not host.user("former-admin").exists


def test_sudo_rules_pass_visudo(host):
    assert host.run("visudo -c").rc == 0


def test_inventory_names_resolve(host, address):
    assert host.check_output("getent hosts %s.molecule.internal" % HOST).split()[0] == address
    assert host.check_output("getent hosts resolver.molecule.internal").split()[0] == "192.0.2.53"


def test_platform_identity_fact(host):
    fact = host.file("/etc/ansible/facts.d/sovereign.fact").content_string
    assert '"environment": "molecule"' in fact
    assert '"tier": "management"' in fact and '"site": "dc1"' in fact


def test_time_zone_and_chrony_config(host):
    assert host.check_output("date +%Z") == "UTC"
    # chronyd parses the rendered configuration (the role's validate step, re-run here)
    assert host.run("chronyd -p -f /etc/chrony/chrony.conf").rc == 0


def test_journal_is_persistent(host):
    host.run("logger sovereign-journal-probe && journalctl --flush")
    files = host.check_output("find /var/log/journal -name 'system*.journal' | wc -l")
    assert int(files) >= 1


def test_unattended_upgrades_targets_security_archive(host):
    out = host.check_output("apt-config dump APT::Periodic::Unattended-Upgrade")
    assert '"1"' in out
    res = host.run("unattended-upgrade --dry-run --debug 2>&1 | grep -i 'allowed origins'")
    assert "Debian-Security" in res.stdout


def test_the_daily_upgrade_run_leaves_the_package_sources_as_converged(host):
    """unattended-upgrades 2.9.1 creates an empty /etc/apt/sources.list when there is none (Debian bug
    #1025147), which the next converge would remove again: the role makes it a link to /dev/null, which
    apt reads as an empty list and the daily run leaves alone."""
    assert host.run("unattended-upgrade --dry-run").rc == 0
    sources = host.file("/etc/apt/sources.list")
    assert sources.is_symlink and sources.linked_to == "/dev/null"
    # the security suite still comes from the deb822 file
    assert "bookworm-security" in host.check_output("apt-cache policy")


def test_host_certificate_chains_to_the_platform_ca(host, address):
    res = host.run("openssl verify -CAfile /etc/ssl/sovereign/ca.crt /etc/ssl/sovereign/host.crt")
    assert res.rc == 0, res.stderr
    sans = host.check_output("openssl x509 -in /etc/ssl/sovereign/host.crt -noout -ext subjectAltName")
    assert "DNS:%s.molecule.internal" % HOST in sans and "IP Address:%s" % address in sans


def test_host_key_matches_and_is_not_world_readable(host):
    key = "/etc/ssl/sovereign/private/host.key"
    pub_cert = host.check_output("openssl x509 -in /etc/ssl/sovereign/host.crt -noout -pubkey")
    pub_key = host.check_output("openssl pkey -in %s -pubout" % key)
    assert pub_cert == pub_key
    assert host.run("runuser -u nobody -- cat %s" % key).rc != 0
    assert host.file(key).group == "ssl-cert"


def test_artefacts_installed_from_cache_and_url(host):
    assert host.package("sovereign-artefact-test").is_installed
    assert host.file("/var/cache/sovereign/url-artifacts/sovereign-artefact-test_1.0_all.deb").exists


# Last: it breaks the host and repairs it.
def test_fast_path_taken_refused_after_drift_and_repaired_also_in_check_mode():
    """fast_path.yml: the first run with the fast path records; the next one on the unchanged host skips the
    configuration; six breaks refuse it, each named; the full run repairs them. Then --check --diff on the
    repaired host takes the fast path too and reports no change."""
    playbook = os.path.join(SCENARIO, "fast_path.yml")
    run = run_playbook(playbook)
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    check = run_playbook(playbook, "--check", "--diff")
    assert check.returncode == 0, (check.stdout + check.stderr)[-6000:]
    assert re.search(r"(?m)^%s\s*:\s*ok=\d+\s+changed=0\s" % HOST, check.stdout), check.stdout[-3000:]
