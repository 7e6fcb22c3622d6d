"""The RGW sync status exporter of roles/ceph: Ceph 16's text output parsed into the metrics the
CephRGWSyncBehind / CephRGWSyncStatusStale alerts read."""
import importlib.machinery
import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_SCRIPT = os.path.join(REPO, "roles", "ceph", "files", "ceph-sync-metrics")
_LOADER = importlib.machinery.SourceFileLoader("ceph_sync_metrics", _SCRIPT)
_SPEC = importlib.util.spec_from_loader("ceph_sync_metrics", _LOADER)
MOD = importlib.util.module_from_spec(_SPEC)
_LOADER.exec_module(MOD)

# as printed on the lab's DC2 zone (ceph4), caught up
CAUGHT_UP = """          realm 1d95f1b5-98ed-40ba-a48f-2a01552f52ab (sovereign)
      zonegroup 2b4485b7-fc34-452b-9853-e4fcce60a4c8 (platform)
           zone 403a3398-fca6-4f48-9f90-41ccfbe5ef37 (dc2)
  metadata sync syncing
                full sync: 0/64 shards
                incremental sync: 64/64 shards
                metadata is caught up with master
      data sync source: 18475b0e-03df-4b9f-a786-1400aa7f6658 (dc1)
                        syncing
                        full sync: 0/128 shards
                        incremental sync: 128/128 shards
                        data is caught up with source
"""
# the master zone (no metadata sync)
MASTER = """          realm 1d95f1b5 (sovereign)
      zonegroup 2b4485b7 (platform)
           zone 18475b0e (dc1)
  metadata sync no sync (zone is master)
      data sync source: 403a3398 (dc2)
                        syncing
                        full sync: 0/128 shards
                        incremental sync: 128/128 shards
                        data is caught up with source
"""
BEHIND = """           zone 403a3398 (dc2)
  metadata sync syncing
                full sync: 0/64 shards
                incremental sync: 64/64 shards
                metadata is behind on 1 shards
                behind shards: [31]
                oldest incremental change not applied: 2026-12-06T03:40:00.123456+0000 [31]
      data sync source: 18475b0e (dc1)
                        syncing
                        full sync: 0/128 shards
                        incremental sync: 128/128 shards
                        data is behind on 3 shards
                        behind shards: [4,17,90]
                        oldest incremental change not applied: 2026-12-06T03:30:00.000000+0000 [17]
"""
NOW = 1796530800.0  # 2026-12-06T04:20:00Z


def test_caught_up_secondary():
    zone, rows = MOD.parse(CAUGHT_UP, "dc1", NOW)
    assert zone == "dc2"
    assert rows == [("data", "dc1", 0, 0.0), ("metadata", "dc1", 0, 0.0)]


def test_master_has_only_data_sync():
    zone, rows = MOD.parse(MASTER, "dc1", NOW)
    assert zone == "dc1" and rows == [("data", "dc2", 0, 0.0)]


def test_behind_shards_and_oldest_change_age():
    zone, rows = MOD.parse(BEHIND, "dc1", NOW)
    assert zone == "dc2"
    assert rows == [("data", "dc1", 3, 3000.0), ("metadata", "dc1", 1, 2400.0)]


def test_render_has_the_metrics_the_alerts_read():
    zone, rows = MOD.parse(BEHIND, "dc1", NOW)
    text = MOD.render(zone, rows, NOW)
    assert 'sovereign_ceph_rgw_sync_behind_shards{zone="dc2",source_zone="dc1",kind="data"} 3' in text
    assert 'sovereign_ceph_rgw_sync_oldest_change_age_seconds{zone="dc2",source_zone="dc1",kind="data"} 3000' in text
    assert 'sovereign_ceph_rgw_sync_status_timestamp_seconds{zone="dc2"} %d' % NOW in text
