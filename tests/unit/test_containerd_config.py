"""The containerd role's config.toml, rendered by Ansible for a GPU node and a plain node, checked
by Debian's real containerd binary (`containerd --config F config dump`, 1.6.20 in Debian 12,
installed on the controller by scripts/bootstrap; its daemon never starts there) through the
role's own checker, the same one the template's `validate:` runs on the hosts. Running the
binary on the controller is equivalent to running it in a container here, and far cheaper.
"""
import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_run import render_role_templates

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "containerd"
CHECK = ROLE / "files" / "sovereign-containerd-config-check"
CRI = 'plugins."io.containerd.grpc.v1.cri"'
pytestmark = pytest.mark.skipif(shutil.which("containerd") is None,
                                reason="needs Debian's containerd on the controller (scripts/debian-packages.txt)")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    work = tmp_path_factory.mktemp("containerd")
    out = {}
    for kind, gpu in (("gpu", True), ("plain", False)):
        text = render_role_templates(str(ROLE), {"config": "config.toml.j2"}, work,
                                     {"containerd_nvidia_runtime": gpu, "platform_registry_mirror": "registry.production.internal"})["config"]
        path = work / ("%s.toml" % kind)
        path.write_text(text)
        out[kind] = path
    return out


def check(path, *args):
    return subprocess.run([str(CHECK), str(path)] + list(args), capture_output=True, text=True, timeout=60, check=False)


def dump(path):
    return subprocess.run(["containerd", "--config", str(path), "config", "dump"], capture_output=True, text=True,
                          timeout=60, check=True).stdout


def test_gpu_node_keeps_runc_and_adds_nvidia(rendered):
    proc = check(rendered["gpu"], "--nvidia")
    assert proc.returncode == 0, proc.stderr
    effective = dump(rendered["gpu"])
    assert '[%s.containerd.runtimes.runc.options]' % CRI in effective
    assert '[%s.containerd.runtimes.nvidia.options]' % CRI in effective
    assert 'BinaryName = "/usr/bin/nvidia-container-runtime"' in effective
    assert effective.count("SystemdCgroup = true") == 2
    assert 'default_runtime_name = "runc"' in effective
    assert 'sandbox_image = "registry.production.internal/registry.k8s.io/pause:3.9"' in effective
    assert 'config_path = "/etc/containerd/certs.d"' in effective


def test_plain_node_has_runc_and_no_nvidia(rendered):
    proc = check(rendered["plain"])
    assert proc.returncode == 0, proc.stderr
    effective = dump(rendered["plain"])
    assert "SystemdCgroup = true" in effective and "runtimes.nvidia" not in effective
    # the checker refuses the plain config where a GPU node needs nvidia
    assert check(rendered["plain"], "--nvidia").returncode == 1


def test_config_without_runc_is_refused(tmp_path):
    """What a conf.d drop-in defining only nvidia amounts to: no runc, no SystemdCgroup."""
    only_nvidia = tmp_path / "only-nvidia.toml"
    only_nvidia.write_text('version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]\n'
                           '  runtime_type = "io.containerd.runc.v2"\n'
                           '  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]\n'
                           '    BinaryName = "/usr/bin/nvidia-container-runtime"\n')
    proc = check(only_nvidia, "--nvidia")
    assert proc.returncode == 1
    assert "no runc runtime" in proc.stderr  # containerd replaced the whole runtimes table: runc is gone


def test_runc_without_systemd_cgroup_and_broken_toml_are_refused(tmp_path, rendered):
    no_systemd = tmp_path / "no-systemd.toml"
    no_systemd.write_text(rendered["plain"].read_text().replace("SystemdCgroup = true", "SystemdCgroup = false"))
    proc = check(no_systemd)
    assert proc.returncode == 1 and "SystemdCgroup" in proc.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text(rendered["plain"].read_text() + "\n[plugins\n")
    proc = check(broken)
    assert proc.returncode == 1 and "containerd refuses it" in proc.stderr


def test_every_registry_goes_through_the_mirror(tmp_path):
    """hosts.toml of each mirrored registry parses as TOML and names only the internal mirror."""
    import tomllib
    import yaml
    mirrored = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())["containerd_registry_mirrored"]
    assert {"registry.k8s.io", "nvcr.io", "docker.io"} <= set(mirrored)
    for registry in ("nvcr.io", "registry.k8s.io"):
        text = render_role_templates(str(ROLE), {"hosts": "hosts.toml.j2"}, tmp_path,
                                     {"item": registry, "platform_registry_mirror": "registry.production.internal"})["hosts"]
        hosts = tomllib.loads(text)
        endpoint = "https://registry.production.internal/v2/%s" % registry
        assert hosts["server"] == endpoint and list(hosts["host"]) == [endpoint]
        assert hosts["host"][endpoint]["capabilities"] == ["pull", "resolve"]
        assert hosts["host"][endpoint]["ca"] == "/etc/ssl/sovereign/ca.crt"


def test_template_validates_with_the_checker():
    import yaml
    tasks = yaml.safe_load((ROLE / "tasks" / "configure.yml").read_text())
    config = next(t for t in tasks if t.get("ansible.builtin.template", {}).get("src") == "config.toml.j2")
    assert config["ansible.builtin.template"]["validate"].startswith("{{ __containerd_check }} %s")
