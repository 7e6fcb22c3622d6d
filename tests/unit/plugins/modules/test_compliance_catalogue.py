# -*- coding: utf-8 -*-
"""One source of truth: the role's defaults, argument specs and tags match the catalogue."""
from __future__ import absolute_import, division, print_function

import glob
import os
import re
import subprocess
import sys

import yaml

from ansible_collections.sovereign.datacenter.plugins.module_utils import _compliance as c

ROLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "hardening")


def load(rel):
    with open(os.path.join(ROLE, rel)) as handle:
        return yaml.safe_load(handle)


def test_generated_settings_are_current():
    """DEFAULT_SETTINGS and __hardening_setting_keys are generated from the role defaults (their one source)."""
    gen = os.path.join(ROLE, "..", "..", "scripts", "gen-hardening-settings")
    run = subprocess.run([sys.executable, gen, "--check"], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_role_defaults_equal_catalogue_settings():
    defaults = load("defaults/main.yml")
    for key, value in c.DEFAULT_SETTINGS.items():
        assert defaults["hardening_" + key] == value, key


def test_role_passes_every_setting_to_the_module():
    assert load("vars/main.yml")["__hardening_setting_keys"] == list(c.DEFAULT_SETTINGS)


def test_argument_specs_match_defaults():
    defaults = load("defaults/main.yml")
    for entry in ("main", "audit"):
        options = load("meta/argument_specs.yml")["argument_specs"][entry]["options"]
        assert set(options) == set(defaults)
        for key, value in defaults.items():
            assert options[key]["default"] == value, key


def test_every_control_is_tagged_in_the_role():
    text = ""
    for path in glob.glob(os.path.join(ROLE, "tasks", "*.yml")):
        with open(path) as handle:
            text += handle.read()
    tags = set(re.findall(r"[a-z0-9_]+", " ".join(re.findall(r"tags: \[([^\]]*)\]", text, re.S))))
    # Controls the role only checks (base role manages them) and sysctls (one template task).
    # storage_encrypted: LUKS is set up when a host is provisioned; the role can only check it, as kernel_64bit
    # (the kernel a host is built with). apt_security_source: the base role writes the package sources.
    checked_only = {"time_sync_single_daemon", "time_sync_configured", "time_sync_service", "auto_security_updates",
                    "storage_encrypted", "kernel_64bit", "apt_security_source"}
    for control in c.catalogue():
        cid = control["id"]
        if cid.startswith(c.SYSCTL_PREFIX) and cid != "sysctl_persisted" or cid in checked_only:
            continue
        assert cid in tags, cid


def test_profiles_only_override_known_settings():
    defaults = load("defaults/main.yml")
    for name, profile in defaults["hardening_profiles"].items():
        for key in profile:
            assert key in c.DEFAULT_SETTINGS or key == "modules_load", (name, key)


def test_ai_profile_keeps_forwarding_and_bridge_netfilter():
    ai = load("defaults/main.yml")["hardening_profiles"]["ai"]["sysctls"]
    assert ai["net.ipv4.ip_forward"] == 1
    assert ai["net.bridge.bridge-nf-call-iptables"] == 1
    settings = dict(c.DEFAULT_SETTINGS, sysctls=dict(c.DEFAULT_SETTINGS["sysctls"], **ai))
    ids = c.control_ids(settings)
    assert "sysctl_net_bridge_bridge_nf_call_iptables" in ids


def test_every_control_maps_to_all_three_frameworks():
    for row in c.public_catalogue():
        fw = row["frameworks"]
        assert re.match(r"^\d+(\.\d+)*", fw["cis"]), row["id"]
        assert all(re.match(r"^CC\d\.\d$", x) for x in fw["soc2"]), row["id"]
        assert all(re.match(r"^\d+(\.\d+)*$", x) for x in fw["pci"]) and fw["pci"], row["id"]


def test_platform_waivers_are_valid_and_documented():
    defaults = load("defaults/main.yml")
    waivers = c.parse_waivers(defaults["hardening_platform_waivers"])
    assert sorted(waivers) == ["sudo_noexec", "sudo_remove_nopasswd", "sudo_requiretty",
                               "sudoers_explicit_commands", "sudoers_no_root_target"]
    ids = set(c.control_ids())
    with open(os.path.join(ROLE, "README.md")) as handle:
        readme = handle.read()
    for cid, waiver in waivers.items():
        assert cid in ids and not waiver["expired"] and waiver["compensating_control"], cid
        assert cid in readme, cid


def test_issue_17_controls_map_to_anssi():
    rows = dict((r["id"], r) for r in c.public_catalogue())
    expected = {"perm_sudoers_d": "R50", "sudo_ignore_dot": "R39", "sudo_noexec": "R39", "sudo_requiretty": "R39",
                "sudo_umask": "R39", "sudo_dedicated_group": "R38", "home_files_permissions": "R50",
                "init_files_permissions": "R50", "umask_etc_profile": "R36", "aide_initialised": "R76",
                "aide_check_scheduled": "R76"}
    for cid, ref in expected.items():
        assert ref in rows[cid]["frameworks"]["anssi"], cid
    assert all(re.match(r"^R\d+$", x) for r in rows.values() for x in r["frameworks"]["anssi"])
