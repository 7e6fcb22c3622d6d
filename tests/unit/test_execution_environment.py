"""Issue 16: execution-environment.yml (ansible-builder v3) carries the collection's real dependencies
(requirements.txt, bindep.txt), the ansible-core / ansible-runner / ansible versions the project tests
(tests/requirements.txt), and this collection at galaxy.yml's version. `ansible-builder create` runs
offline into a temporary directory when ansible_builder is importable; `build` needs a container
engine and a registry, neither reachable here."""
import os
import re
import shutil
import subprocess

import pytest
import yaml

from ansible_run import REPO, ansible_bin


def _yaml(name):
    with open(os.path.join(REPO, name), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _pins():
    pins = {}
    with open(os.path.join(REPO, "tests", "requirements.txt"), encoding="utf-8") as handle:
        for line in handle:
            m = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
            if m:
                pins[m.group(1).lower()] = m.group(2)
    return pins


def test_definition_uses_the_collection_dependencies_and_tested_versions():
    ee = _yaml("execution-environment.yml")
    assert ee["version"] == 3
    deps = ee["dependencies"]
    assert deps["python"] == "requirements.txt" and deps["system"] == "bindep.txt"
    meta = _yaml("meta/execution-environment.yml")["dependencies"]
    assert (meta["python"], meta["system"]) == (deps["python"], deps["system"])
    pins = _pins()
    assert deps["ansible_core"]["package_pip"] == "ansible-core==" + pins["ansible-core"]
    assert deps["ansible_runner"]["package_pip"] == "ansible-runner==" + pins["ansible-runner"]
    steps = "\n".join(ee["additional_build_steps"]["append_final"])
    assert "'ansible==%s'" % pins["ansible"] in steps
    version = _yaml("galaxy.yml")["version"]
    tarball = "sovereign-datacenter-%s.tar.gz" % version
    assert ee["additional_build_files"][0]["src"] == "dist/" + tarball and tarball in steps
    assert "--offline" in steps  # nothing from Galaxy
    with open(os.path.join(REPO, "requirements.txt"), encoding="utf-8") as handle:
        assert "hvac" in handle.read()  # the Vault modules' client is in the image


def test_ansible_builder_create(tmp_path):
    try:
        import ansible_builder  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
    except ImportError:
        print("SKIP: ansible_builder is not importable (pip install -r tests/requirements.txt)")
        pytest.skip("ansible_builder is not importable (pip install -r tests/requirements.txt)")
    builder = ansible_bin("ansible-builder")
    work = tmp_path / "ee"
    work.mkdir()
    for name in ("execution-environment.yml", "requirements.txt", "bindep.txt"):
        shutil.copy(os.path.join(REPO, name), work / name)
    subprocess.run([ansible_bin("ansible-galaxy"), "collection", "build", "--force", "--output-path", str(work / "dist"), REPO],
                   capture_output=True, text=True, check=True, cwd=REPO)
    res = subprocess.run([builder, "create", "-f", str(work / "execution-environment.yml"), "--context",
                          str(tmp_path / "context"), "-v", "2"], capture_output=True, text=True, cwd=work, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    containerfile = (tmp_path / "context" / "Containerfile").read_text()
    build = tmp_path / "context" / "_build"
    assert (build / "requirements.txt").read_text() == (work / "requirements.txt").read_text()
    assert (build / "bindep.txt").read_text() == (work / "bindep.txt").read_text()
    version = _yaml("galaxy.yml")["version"]
    assert (build / "collection" / ("sovereign-datacenter-%s.tar.gz" % version)).is_file()
    assert "ansible-galaxy collection install --offline" in containerfile
    # an unknown key is refused (the schema is really checked)
    bad = yaml.safe_load((work / "execution-environment.yml").read_text())
    bad["dependencies"]["pythn"] = "requirements.txt"
    (work / "bad.yml").write_text(yaml.safe_dump(bad))
    res = subprocess.run([builder, "create", "-f", str(work / "bad.yml"), "--context", str(tmp_path / "bad")],
                         capture_output=True, text=True, cwd=work, check=False)
    assert res.returncode != 0 and "pythn" in res.stdout + res.stderr
