"""The erasure layout of roles/minio (plugins/module_utils/_minio.py through the filters): what MinIO computes
for a deployment's nodes and drives (set size 2-16 dividing the drive count, symmetric over the nodes, the
largest such; default parity per set size; the drive-major expansion order), and every layout MinIO refuses,
with a message naming host, variable and value. Also the Prometheus bearer token and the site replication
decision. Pure Python: no MinIO server runs here (none can be installed, see roles/minio/README.md)."""
import base64
import hashlib
import hmac
import json

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sovereign.datacenter.plugins.filter.minio import (
    minio_erasure_layout, minio_layout_problems, minio_prometheus_token, minio_replication_plan)
from ansible_collections.sovereign.datacenter.plugins.module_utils._minio import default_parity, ellipsis, parse_parity

DOMAIN = "production.internal"


def nodes(count, drives, name="minio", path="/mnt/disk"):
    return {"%s%d" % (name, i): ["%s%d" % (path, j) for j in range(1, drives + 1)] for i in range(1, count + 1)}


def layout(node_map, parity=None, subdir="minio"):
    return minio_erasure_layout(node_map, parity, 9000, "https", subdir, DOMAIN)


@pytest.mark.parametrize("count, drives, set_size, set_count, parity", [
    (4, 4, 16, 1, 4),     # the SPEC's DC1: one set of 16, EC:4
    (8, 16, 16, 8, 4),    # 128 drives: 8 sets of 16
    (3, 5, 15, 1, 4),     # 15 drives: one set of 15
    (1, 6, 6, 1, 3),      # one node, 6 drives
    (2, 3, 6, 1, 3),      # 6 drives over 2 nodes
    (3, 2, 6, 1, 3),      # 6 drives over 3 nodes
    (6, 1, 6, 1, 3),      # 6 nodes, one drive each
    (1, 4, 4, 1, 2),      # DC2's single node with 4 drives: EC:2
    (1, 2, 2, 1, 1),      # the smallest erasure set
    (2, 1, 2, 1, 1),
    (1, 3, 3, 1, 1),
    (5, 4, 10, 2, 4),     # 20 drives: 16 does not divide, 10 is symmetric over 5 nodes
    (6, 3, 6, 3, 3),      # 18 drives: 9 divides but is not symmetric over 6 nodes
    (9, 2, 9, 2, 4),      # 18 drives over 9 nodes: 9, not 6
    (12, 2, 12, 2, 4),    # 24 drives: 8 divides but is not symmetric over 12 nodes
    (16, 1, 16, 1, 4),
    (32, 1, 16, 2, 4),
    (11, 3, 11, 3, 4),
    (7, 2, 14, 1, 4),
    (4, 8, 16, 2, 4),
])
def test_set_size_is_the_largest_symmetric_divisor(count, drives, set_size, set_count, parity):
    out = layout(nodes(count, drives))
    assert (out["set_size"], out["set_count"], out["parity"]) == (set_size, set_count, parity)
    assert out["mode"] == "erasure" and out["storage_class"] == "EC:%d" % parity
    assert out["total_drives"] == count * drives and out["drives_per_node"] == drives and out["nodes"] == count
    assert out["data_drives"] == set_size - parity
    assert len(out["sets"]) == set_count and all(len(s) == set_size for s in out["sets"])
    # every endpoint once, and every set spread evenly over the nodes
    assert sorted(sum(out["sets"], [])) == sorted(out["endpoints"]) and len(set(out["endpoints"])) == count * drives
    for members in out["sets"]:
        per_node = {}
        for endpoint in members:
            host = endpoint.split("://")[1].split(".")[0] if count > 1 else "local"
            per_node[host] = per_node.get(host, 0) + 1
        assert len(set(per_node.values())) == 1, members


def test_four_by_four_renders_minio_ellipses():
    out = layout(nodes(4, 4), "EC:4")
    assert out["volumes"] == "https://minio{1...4}.production.internal:9000/mnt/disk{1...4}/minio"
    assert out["volumes_form"] == "ellipsis" and out["set_drive_count"] is None
    # MinIO's expansion order: drive 1 of every node, then drive 2, ...
    assert out["endpoints"][:5] == ["https://minio1.production.internal:9000/mnt/disk1/minio",
                                    "https://minio2.production.internal:9000/mnt/disk1/minio",
                                    "https://minio3.production.internal:9000/mnt/disk1/minio",
                                    "https://minio4.production.internal:9000/mnt/disk1/minio",
                                    "https://minio1.production.internal:9000/mnt/disk2/minio"]
    assert out["usable_ratio"] == 0.75 and out["drive_failures_tolerated"] == 4
    assert out["write_quorum"] == 12 and out["read_quorum"] == 12


def test_eight_by_sixteen_sets_take_two_drives_of_every_node():
    out = layout(nodes(8, 16))
    assert out["volumes"] == "https://minio{1...8}.production.internal:9000/mnt/disk{1...16}/minio"
    first = out["sets"][0]
    assert sorted(first) == sorted("https://minio%d.production.internal:9000/mnt/disk%d/minio" % (n, d)
                                   for n in range(1, 9) for d in (1, 2))


def test_single_node_uses_local_paths():
    out = layout(nodes(1, 6))
    assert out["volumes"] == "/mnt/disk{1...6}/minio" and out["set_size"] == 6


def test_one_node_one_drive_is_single_drive_mode():
    out = layout({"minio1": ["/srv/minio"]}, None, "")
    assert out["mode"] == "single" and out["parity"] == 0 and out["storage_class"] == ""
    assert out["volumes"] == "/srv/minio"
    assert "single-drive mode" in minio_layout_problems({"minio1": ["/srv/minio"]}, "EC:1")[0]


def test_names_without_ranges_give_explicit_urls_with_the_set_size_pinned():
    """Explicit URLs: MinIO skips the symmetry rule there, so MINIO_ERASURE_SET_DRIVE_COUNT pins the size."""
    node_map = {"alpha": ["/data/a", "/data/b", "/data/c"], "beta": ["/data/a", "/data/b", "/data/c"],
                "gamma": ["/data/a", "/data/b", "/data/c"], "delta": ["/data/a", "/data/b", "/data/c"],
                "omega": ["/data/a", "/data/b", "/data/c"], "kappa": ["/data/a", "/data/b", "/data/c"]}
    out = layout(node_map, None, "")
    assert out["volumes_form"] == "explicit" and out["set_size"] == 6 and out["set_drive_count"] == 6
    assert out["volumes"].split(" ") == out["endpoints"] and len(out["endpoints"]) == 18
    assert "{" not in out["volumes"]


def test_order_of_the_inventory_does_not_change_the_layout():
    forward = nodes(12, 2)
    backward = {k: list(reversed(v)) for k, v in reversed(list(forward.items()))}
    assert layout(forward) == layout(backward)
    assert layout(forward)["volumes"] == "https://minio{1...12}.production.internal:9000/mnt/disk{1...2}/minio"


def test_zero_padded_ranges_follow_minio_padding():
    assert ellipsis(["/mnt/disk%02d" % i for i in range(1, 17)]) == "/mnt/disk{01...16}"
    assert ellipsis(["node%d" % i for i in range(8, 12)]) == "node{8...11}"
    assert ellipsis(["a", "b"]) is None and ellipsis(["n1", "n3"]) is None


def test_parity_from_the_inventory_and_defaults():
    assert [default_parity(s) for s in (1, 2, 3, 4, 5, 6, 7, 8, 16)] == [0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert parse_parity("EC:3") == 3 and parse_parity(5) == 5 and parse_parity("") is None and parse_parity(None) is None
    assert layout(nodes(4, 4), "EC:8")["parity"] == 8
    assert layout(nodes(4, 4), 2)["storage_class"] == "EC:2"


@pytest.mark.parametrize("node_map, parity, expected", [
    (nodes(4, 4), "EC:9", ["minio_storage_class_standard_parity='EC:9'", "parity 9", "at most EC:8"]),
    (nodes(1, 4), "EC:3", ["minio_storage_class_standard_parity='EC:3'", "at most EC:2"]),
    (nodes(1, 2), "EC:2", ["at most EC:1"]),
    (nodes(4, 4), "EC:0", ["stores no parity"]),
    (nodes(4, 4), "RS:4", ["minio_storage_class_standard_parity='RS:4'", "not a parity"]),
    (dict(nodes(3, 4), minio2=["/mnt/disk1", "/mnt/disk2", "/mnt/disk3"]), None,
     ["host minio2: minio_drives has 3 drives", "the other nodes of the deployment have 4", "same number of drives"]),
    (nodes(17, 1), None, ["17 nodes x 1 drives = 17 drives", "not divisible into erasure sets of 2 to 16"]),
    (nodes(17, 2), None, ["34 drives", "spreads evenly over the 17 nodes"]),
    ({"minio1": ["/mnt/disk1", "/mnt/disk1"]}, None, ["host minio1: minio_drives lists ['/mnt/disk1'] more than once"]),
    ({"minio1": ["/mnt/disk1", "/mnt/disk1/sub"]}, None, ["host minio1: minio_drives has /mnt/disk1/sub inside /mnt/disk1"]),
    ({"minio1": ["/mnt/disk1", "/"]}, None, ["host minio1: minio_drives has /"]),
    ({"minio1": ["mnt/disk1", "/mnt/disk2"]}, None, ["host minio1: minio_drives has 'mnt/disk1', not an absolute path"]),
    ({"minio1": ["/mnt/disk{1...4}"]}, None, ["braces"]),
    ({"minio1": [], "minio2": ["/mnt/disk1"]}, None, ["host minio1: minio_drives=[] must list the drive mount paths"]),
    ({"minio1": None}, None, ["host minio1: minio_drives=None"]),
    ([{"host": "minio1", "address": "s3.internal", "drives": ["/d1"]},
      {"host": "minio2", "address": "S3.internal", "drives": ["/d1"]}], None, ["host minio2", "duplicate endpoints"]),
])
def test_layouts_minio_refuses_are_refused_with_host_variable_and_value(node_map, parity, expected):
    problems = minio_layout_problems(node_map, parity, 9000, DOMAIN)
    assert problems, node_map
    text = "; ".join(problems)
    for part in expected:
        assert part in text, (part, text)
    with pytest.raises(AnsibleFilterError) as err:
        minio_erasure_layout(node_map, parity, 9000, "https", "", DOMAIN)
    assert expected[0] in str(err.value)


def test_no_nodes_and_junk_input_are_refused():
    assert minio_layout_problems({}) == ["the deployment has no nodes (no host of the MinIO group in this site)"]
    with pytest.raises(AnsibleFilterError):
        minio_erasure_layout("minio1")
    assert minio_layout_problems(nodes(4, 4), None, "http") == ["port 'http' is not a TCP port"]


def test_prometheus_token_is_the_jwt_mc_generates():
    token = minio_prometheus_token("s3cret-key", "admin", 2051222400)
    header, claims, signature = token.split(".")

    def pad(text):
        return text + "=" * (-len(text) % 4)

    assert json.loads(base64.urlsafe_b64decode(pad(header))) == {"alg": "HS512", "typ": "JWT"}
    assert json.loads(base64.urlsafe_b64decode(pad(claims))) == {"exp": 2051222400, "iss": "prometheus", "sub": "admin"}
    expected = hmac.new(b"s3cret-key", ("%s.%s" % (header, claims)).encode(), hashlib.sha512).digest()
    assert base64.urlsafe_b64decode(pad(signature)) == expected
    assert minio_prometheus_token("s3cret-key", "admin", 2051222400) == token  # stable: no clock
    with pytest.raises(AnsibleFilterError):
        minio_prometheus_token("", "admin", 1)


PEER = "https://10.1.20.31:9000"


@pytest.mark.parametrize("local, peer, action", [
    ({"enabled": False}, {"enabled": False}, "add"),
    ({}, None, "add"),
    ({"enabled": True, "sites": [{"name": "dc1", "endpoint": "https://10.0.20.31:9000"},
                                 {"name": "dc2", "endpoint": PEER + "/"}]}, None, "none"),
    ({"enabled": True, "sites": [{"name": "dc1", "endpoint": "https://10.0.20.31:9000"},
                                 {"name": "x", "endpoint": "https://10.9.9.9:9000"}]}, None, "refuse"),
    ({"enabled": False}, {"enabled": True, "sites": [{"endpoint": PEER}, {"endpoint": "https://10.9.9.9:9000"}]}, "refuse"),
])
def test_replication_plan_reads_both_sites(local, peer, action):
    assert minio_replication_plan(local, PEER, peer)["action"] == action
