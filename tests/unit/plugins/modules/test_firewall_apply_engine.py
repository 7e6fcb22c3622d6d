"""The one firewall apply engine (module_utils/_firewall_apply.py) through both adapters, with a fake
command runner: nft, systemctl and systemd-run never run; the rollback script itself runs with the real
/bin/sh (its nft is a stand-in script), as systemd would run it when the timer fires."""
import os
import subprocess

import pytest

from ansible.module_utils import basic
from ansible_collections.sovereign.datacenter.plugins.module_utils import _firewall_apply
from ansible_collections.sovereign.datacenter.plugins.modules import firewall_files, nftables_ruleset
from support.modules import run_module

RULESET = "table inet sovereign\ndelete table inet sovereign\ntable inet sovereign {\n  chain input { }\n}\n"
OTHER = RULESET.replace("chain input { }", "chain input { tcp dport 22 accept }")


class FakeHost:
    """What the modules run on the host, answered in memory; records every command."""

    def __init__(self, tmp_path):
        self.commands = []
        self.live = None  # the live nftables table (listing)
        self.timer = None  # the script the armed rollback timer would run
        self.refuse_load = False  # nft -f / reload fails
        self.fire_during_apply = False  # the timer fires while the change is applied
        self.nft = str(tmp_path / "nft")
        with open(self.nft, "w") as handle:
            handle.write("#!/bin/sh\nexit 0\n")
        os.chmod(self.nft, 0o755)

    def fire(self):
        """The timer fires: systemd runs the rollback script (for real, with /bin/sh)."""
        script, self.timer = self.timer, None
        subprocess.run(["/bin/sh", script], check=True)

    def run_command(self, args, **kwargs):
        """AnsibleModule.run_command, patched on the class: called unbound, without the module."""
        argv = [str(a) for a in args]
        self.commands.append(argv)
        if argv[0] == self.nft:
            if argv[1:3] == ["list", "table"]:
                return (0, self.live, "") if self.live is not None else (1, "", "Error: No such file or directory")
            if argv[1] == "-c":
                return 0, "", ""
            if argv[1] == "-f":
                if self.fire_during_apply and self.timer:
                    self.fire()
                if self.refuse_load:
                    return 1, "", "Error: syntax error"
                with open(argv[2]) as handle:
                    self.live = handle.read()
                return 0, "", ""
        if argv[0] == "systemctl":
            if argv[1] == "is-active":
                return (0 if self.timer else 3), "", ""
            if argv[1] == "stop":
                self.timer = None
            return 0, "", ""
        if argv[0].endswith("systemd-run"):
            self.timer = argv[-1]
            return 0, "", ""
        if argv[0] == "/bin/sh":
            return subprocess.run(argv, capture_output=True, text=True, check=False).returncode, "", ""
        if argv[0] == "reload-fw":
            if self.fire_during_apply and self.timer:
                self.fire()
            return (1, "", "reload refused") if self.refuse_load else (0, "", "")
        if argv[0] == "show-fw":
            return 0, "live state\n", ""
        raise AssertionError("unexpected command %s" % argv)


@pytest.fixture()
def host(tmp_path, monkeypatch):
    fake = FakeHost(tmp_path)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", fake.run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path",
                        lambda self, name, *a, **kw: name if name.startswith("/") else "/usr/bin/" + name)
    monkeypatch.setattr(_firewall_apply.FirewallHost, "systemd_run", lambda self: "/usr/bin/systemd-run")
    return fake


def _nft(tmp_path, host, content=RULESET, **extra):
    args = dict(content=content, path=str(tmp_path / "etc" / "sovereign.nft"), state_dir=str(tmp_path / "state"),
                nft_binary=host.nft, rollback_timeout=30)
    args.update(extra)
    return args


def _files(tmp_path, content="rules v1\n", **extra):
    args = dict(files=[{"path": str(tmp_path / "etc" / "user.rules"), "content": content, "mode": "0640"}],
                reload=[["reload-fw"]], state_commands=[["show-fw"]], name="ufw",
                state_dir=str(tmp_path / "state"), rollback_timeout=30)
    args.update(extra)
    return args


ADAPTERS = {
    "nftables_ruleset": (nftables_ruleset, _nft),
    "firewall_files": (firewall_files, lambda tmp, host, **kw: _files(tmp, **kw)),
}


def _confirm(module, tmp_path, host):
    args = dict(state="confirmed", state_dir=str(tmp_path / "state"))
    if module is firewall_files:
        args["files"] = []
    return run_module(module, args)


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_apply_arms_then_confirm_disarms(tmp_path, host, name):
    module, args = ADAPTERS[name]
    res = run_module(module, args(tmp_path, host))
    assert res["changed"] and res["rollback_armed"] and not res.get("failed"), res
    assert host.timer and open(host.timer).read().rstrip().endswith("rollback.done'")
    res = _confirm(module, tmp_path, host)
    assert res["changed"] and not res.get("failed") and host.timer is None, res
    again = run_module(module, args(tmp_path, host, rollback_timeout=0))
    assert not again["changed"], again  # the same input again: nothing to do


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_confirm_fails_when_the_rollback_already_fired(tmp_path, host, name):
    """One semantic for both modules: a late confirmation must not report the change as kept."""
    module, args = ADAPTERS[name]
    assert run_module(module, args(tmp_path, host))["rollback_armed"]
    host.fire()  # the controller reconnected too slowly
    res = _confirm(module, tmp_path, host)
    assert res.get("failed") and "the rollback already ran" in res["msg"], res
    # a new apply clears the mark; its confirmation works again
    assert run_module(module, args(tmp_path, host))["rollback_armed"]
    assert not _confirm(module, tmp_path, host).get("failed")


def test_nftables_rollback_restores_the_previous_ruleset(tmp_path, host):
    path = tmp_path / "etc" / "sovereign.nft"
    assert run_module(nftables_ruleset, _nft(tmp_path, host, rollback_timeout=0))["changed"]
    assert run_module(nftables_ruleset, _nft(tmp_path, host, content=OTHER))["rollback_armed"]
    assert path.read_text() == OTHER
    host.fire()
    assert path.read_text() == RULESET  # the file as it was; the stand-in nft "loaded" rollback.nft
    assert not (tmp_path / "state" / "applied.list").exists()


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_refused_apply_is_restored_at_once(tmp_path, host, name):
    module, args = ADAPTERS[name]
    host.refuse_load = True
    res = run_module(module, args(tmp_path, host))
    assert res.get("failed") and res.get("rolled_back") and not res["rollback_armed"], res
    assert "restored" in res["msg"] and "at once" in res["msg"]
    assert host.timer is None  # disarmed
    assert ["/bin/sh", str(tmp_path / "state" / "rollback.sh")] in host.commands


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_rollback_that_fired_during_the_apply_fails_the_module(tmp_path, host, name):
    module, args = ADAPTERS[name]
    host.fire_during_apply = True
    res = run_module(module, args(tmp_path, host))
    assert res.get("failed") and "took longer than rollback_timeout" in res["msg"], res


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_check_mode_arms_nothing(tmp_path, host, name):
    module, args = ADAPTERS[name]
    res = run_module(module, args(tmp_path, host), check=True)
    assert res["changed"] and not res["rollback_armed"], res
    assert host.timer is None and not any(c[0].endswith("systemd-run") for c in host.commands)


def test_shared_options_come_from_one_place():
    spec = _firewall_apply.argument_spec(name=dict(type="str"))
    assert set(spec) == {"name", "rollback_timeout", "state_dir"}
    spec["state_dir"]["default"] = "changed"
    assert _firewall_apply.SHARED_OPTIONS["state_dir"]["default"] == "/var/lib/sovereign-firewall"
