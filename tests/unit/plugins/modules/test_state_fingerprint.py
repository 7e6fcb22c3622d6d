"""state_fingerprint: a recorded digest matches until anything it covers changes, and says what changed.

Run in-process on real files and real commands in a temporary directory (no mock): the hardening role's fast
path relies on exactly these properties, and molecule/hardening proves them on a hardened host (drift after a
recorded run takes the full path and is repaired)."""
import json
import os
import stat

from ansible_collections.sovereign.datacenter.plugins.modules import state_fingerprint
from support.modules import run_module


def _args(tmp_path, **kw):
    conf = tmp_path / "etc" / "svc.conf"
    args = {"path": str(tmp_path / "state" / "fp" / "svc.json"), "inputs": "v1",
            "files": [str(conf), str(tmp_path / "etc" / "absent.conf")], "paths": [str(tmp_path / "etc")],
            "commands": [["cat", str(tmp_path / "etc" / "live")]]}
    args.update(kw)
    return args


def _host(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "svc.conf").write_text("a = 1\n")
    (etc / "live").write_text("active\n")


def _recorded(tmp_path, **kw):
    _host(tmp_path)
    first = run_module(state_fingerprint, _args(tmp_path, state="record", **kw))
    assert first["changed"] and not first["match"] and first["recorded"] == "" and first["msg"] == "no record yet"
    return first


def test_record_then_match_and_the_record_is_private(tmp_path):
    first = _recorded(tmp_path)
    again = run_module(state_fingerprint, _args(tmp_path))
    assert again["match"] and not again["changed"] and again["differs"] == [] and again["digest"] == first["digest"]
    record = tmp_path / "state" / "fp" / "svc.json"
    assert stat.S_IMODE(os.stat(record).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(record.parent).st_mode) == 0o700
    # digests only: neither a file's content nor a command's output is kept
    assert "a = 1" not in record.read_text() and "active" not in record.read_text()
    # recording the same state again changes nothing
    assert not run_module(state_fingerprint, _args(tmp_path, state="record"))["changed"]


def test_each_kind_of_drift_is_named(tmp_path):
    _recorded(tmp_path)
    conf = tmp_path / "etc" / "svc.conf"
    cases = [
        (lambda: conf.write_text("a = 2\n"), "file:" + str(conf)),
        (lambda: os.chmod(conf, 0o666), "file:" + str(conf)),
        (lambda: os.chmod(tmp_path / "etc", 0o777), "path:" + str(tmp_path / "etc")),
        (lambda: (tmp_path / "etc" / "absent.conf").write_text(""), "file:" + str(tmp_path / "etc" / "absent.conf")),
        (lambda: (tmp_path / "etc" / "live").write_text("inactive\n"), "command:0 cat " + str(tmp_path / "etc" / "live")),
    ]
    for change, item in cases:
        before = {p: (p.read_bytes() if p.is_file() else None, stat.S_IMODE(os.stat(p).st_mode))
                  for p in (tmp_path / "etc").iterdir()}
        change()
        result = run_module(state_fingerprint, _args(tmp_path))
        assert not result["match"] and result["differs"] == [item], (item, result)
        # put it back: the digest is the recorded one again
        for p in list((tmp_path / "etc").iterdir()):
            if p not in before:
                p.unlink()
        for p, (content, mode) in before.items():
            if content is not None:
                p.write_bytes(content)
            os.chmod(p, mode)
        os.chmod(tmp_path / "etc", 0o755)
        assert run_module(state_fingerprint, _args(tmp_path))["match"], item


def test_a_changed_input_or_a_new_item_differs(tmp_path):
    _recorded(tmp_path)
    assert run_module(state_fingerprint, _args(tmp_path, inputs="v2"))["differs"] == ["inputs"]
    extra = _args(tmp_path)
    extra["commands"] = extra["commands"] + [["true"]]
    assert run_module(state_fingerprint, extra)["differs"] == ["command:1 true"]


def test_a_missing_command_counts_as_missing(tmp_path):
    _host(tmp_path)
    args = _args(tmp_path, commands=[["sovereign-no-such-command", "--version"]], state="record")
    assert run_module(state_fingerprint, args)["changed"]
    assert run_module(state_fingerprint, dict(args, state="query"))["match"]


def test_check_mode_reports_and_writes_nothing(tmp_path):
    _host(tmp_path)
    result = run_module(state_fingerprint, _args(tmp_path, state="record"), check=True)
    assert result["changed"] and "diff" in result and not (tmp_path / "state").exists()


def test_a_broken_record_is_no_record(tmp_path):
    _recorded(tmp_path)
    (tmp_path / "state" / "fp" / "svc.json").write_text(json.dumps({"digest": "x"}))
    result = run_module(state_fingerprint, _args(tmp_path))
    assert not result["match"] and result["recorded"] == ""
