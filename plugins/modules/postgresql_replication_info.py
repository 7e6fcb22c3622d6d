#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: postgresql_replication_info
short_description: Report the replication state of a PostgreSQL server
version_added: 0.1.0
author: Sovereign Platform Team (@sovereign-datacenter)
description:
  - Connects to one PostgreSQL server with psycopg 3 and reports whether it is a primary or a
    standby, its timeline, every connected standby with its synchronous state and lag (bytes and
    seconds), the replication slots with their health, and on a standby the WAL receiver.
  - Read-only; never changes the server. Generic database tasks (roles, databases, queries,
    settings) are left to the C(community.postgresql) collection.
requirements:
  - psycopg >= 3.1 on the managed host (Debian package C(python3-psycopg))
options:
  login_user:
    description: Role to connect as (needs C(pg_monitor) or superuser to see every column).
    type: str
    default: postgres
  login_password:
    description: Password of O(login_user); empty for peer authentication over the unix socket.
    type: str
    default: ""
  login_host:
    description: Host name or address; empty to use O(login_unix_socket).
    type: str
    default: ""
  login_unix_socket:
    description: Directory of the server's unix socket.
    type: str
    default: /var/run/postgresql
  port:
    description: Server port.
    type: int
    default: 5432
  db:
    description: Database to connect to.
    type: str
    default: postgres
  ssl_mode:
    description: libpq C(sslmode) for TCP connections.
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ca_cert:
    description: CA certificate that signs the server certificate (libpq C(sslrootcert)).
    type: path
  connect_timeout:
    description: Seconds to wait for the connection.
    type: int
    default: 10
  slot_retained_bytes_max:
    description:
      - A slot that holds back more WAL than this is reported as not healthy, as is a slot whose
        WAL is C(lost) or C(unreserved).
    type: int
    default: 1073741824
extends_documentation_fragment:
  - sovereign.datacenter.read_only
notes:
  - Lag in seconds of a standby seen from the primary is C(replay_lag) of C(pg_stat_replication)
    (NULL there becomes 0 once the standby has caught up and is idle).
"""

EXAMPLES = r"""
- name: Replication state of every PostgreSQL host
  sovereign.datacenter.postgresql_replication_info:
  become: true
  become_user: postgres
  register: repl

- name: The synchronous standby is in sync
  ansible.builtin.assert:
    that: repl.standbys | selectattr('sync_state', 'equalto', 'sync') | list | length == 1
  when: repl.role == 'primary'

- name: Over TLS with a password
  sovereign.datacenter.postgresql_replication_info:
    login_host: pg1.lab.internal
    login_user: monitor
    login_password: "{{ monitor_password }}"
    ssl_mode: verify-full
    ca_cert: /etc/ssl/sovereign/ca.crt
"""

RETURN = r"""
role:
  description: C(primary) or C(standby).
  returned: success
  type: str
  sample: primary
in_recovery:
  description: Result of C(pg_is_in_recovery()).
  returned: success
  type: bool
timeline:
  description: Current timeline (primary) or the timeline the standby receives or replays.
  returned: success
  type: int
  sample: 2
server_version:
  description: C(server_version_num).
  returned: success
  type: int
  sample: 150014
system_identifier:
  description: Database system identifier (identical on a primary and its standbys).
  returned: success
  type: str
current_lsn:
  description: Current WAL write position (primary) or last replayed position (standby).
  returned: success
  type: str
  sample: 0/3000148
synchronous_standby_names:
  description: The setting in force.
  returned: success
  type: str
  sample: FIRST 1 ("pg2")
standbys:
  description: Standbys streaming from this server (C(pg_stat_replication)).
  returned: success
  type: list
  elements: dict
  contains:
    application_name: {description: Name the standby connects with., type: str}
    client_addr: {description: Address of the standby., type: str}
    state: {description: "C(streaming), C(catchup), ...", type: str}
    sync_state: {description: "C(sync), C(potential), C(quorum) or C(async).", type: str}
    sync_priority: {description: Priority in synchronous_standby_names., type: int}
    sent_lsn: {description: Last WAL position sent., type: str}
    replay_lsn: {description: Last WAL position replayed by the standby., type: str}
    sent_lag_bytes: {description: Bytes not yet sent., type: int}
    flush_lag_bytes: {description: Bytes not yet flushed on the standby., type: int}
    replay_lag_bytes: {description: Bytes not yet replayed on the standby., type: int}
    replay_lag_seconds: {description: Replay lag in seconds., type: float}
    ssl: {description: Whether the replication connection uses TLS., type: bool}
slots:
  description: Replication slots of this server with their health.
  returned: success
  type: list
  elements: dict
  contains:
    slot_name: {description: Slot name., type: str}
    slot_type: {description: C(physical) or C(logical)., type: str}
    active: {description: A consumer is connected., type: bool}
    wal_status: {description: "C(reserved), C(extended), C(unreserved), C(lost) or null.", type: str}
    restart_lsn: {description: Oldest WAL position the slot keeps., type: str}
    retained_bytes: {description: WAL bytes held back by the slot., type: int}
    healthy: {description: WAL not lost or unreserved and below O(slot_retained_bytes_max)., type: bool}
wal_receiver:
  description: On a standby, the WAL receiver (C(pg_stat_wal_receiver)); null on a primary or when not connected.
  returned: success
  type: dict
  sample: {status: streaming, sender_host: 10.0.20.11, sender_port: 5432, slot_name: pg2, received_tli: 1}
replay_lag_seconds:
  description: On a standby, seconds since the last replayed transaction while WAL waits to be replayed (0 when caught up).
  returned: success
  type: float
receive_lag_bytes:
  description: On a standby, received but not yet replayed bytes.
  returned: success
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sovereign.datacenter.plugins.module_utils._postgresql import (
    CONNECTION_ARGSPEC, connect, fetch_all, fetch_one, lsn_to_int, timeline_of_walfile)

_STANDBYS = """
SELECT r.application_name, host(r.client_addr) AS client_addr, r.state, r.sync_state, r.sync_priority,
       r.sent_lsn::text AS sent_lsn, r.write_lsn::text AS write_lsn, r.flush_lsn::text AS flush_lsn,
       r.replay_lsn::text AS replay_lsn,
       pg_wal_lsn_diff(pg_current_wal_lsn(), r.sent_lsn)::bigint AS sent_lag_bytes,
       pg_wal_lsn_diff(pg_current_wal_lsn(), r.flush_lsn)::bigint AS flush_lag_bytes,
       pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::bigint AS replay_lag_bytes,
       coalesce(extract(epoch FROM r.write_lag), 0)::float8 AS write_lag_seconds,
       coalesce(extract(epoch FROM r.flush_lag), 0)::float8 AS flush_lag_seconds,
       coalesce(extract(epoch FROM r.replay_lag), 0)::float8 AS replay_lag_seconds,
       coalesce(s.ssl, false) AS ssl
FROM pg_stat_replication r LEFT JOIN pg_stat_ssl s USING (pid)
ORDER BY r.sync_priority DESC, r.application_name
"""

_SLOTS = """
SELECT slot_name, slot_type, active, wal_status, restart_lsn::text AS restart_lsn,
       CASE WHEN restart_lsn IS NULL THEN 0
            ELSE pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()
                                      ELSE pg_current_wal_lsn() END, restart_lsn)::bigint END AS retained_bytes
FROM pg_replication_slots ORDER BY slot_name
"""

_RECEIVER = """
SELECT status, sender_host, sender_port, slot_name, received_tli,
       written_lsn::text AS written_lsn, flushed_lsn::text AS flushed_lsn,
       latest_end_lsn::text AS latest_end_lsn,
       extract(epoch FROM now() - last_msg_receipt_time)::float8 AS last_message_age_seconds
FROM pg_stat_wal_receiver
"""


def gather(conn, slot_retained_bytes_max):
    base = fetch_one(conn, """
        SELECT pg_is_in_recovery() AS in_recovery, current_setting('server_version_num')::int AS server_version,
               current_setting('synchronous_standby_names') AS synchronous_standby_names,
               (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier,
               (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_timeline""")
    result = dict(
        in_recovery=base["in_recovery"],
        role="standby" if base["in_recovery"] else "primary",
        server_version=base["server_version"],
        synchronous_standby_names=base["synchronous_standby_names"],
        system_identifier=base["system_identifier"],
        standbys=[],
        wal_receiver=None,
        replay_lag_seconds=0.0,
        receive_lag_bytes=0,
    )
    if base["in_recovery"]:
        pos = fetch_one(conn, """
            SELECT pg_last_wal_receive_lsn()::text AS receive_lsn, pg_last_wal_replay_lsn()::text AS replay_lsn,
                   CASE WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
                        THEN 0 ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)
                   END::float8 AS replay_lag_seconds""")
        receiver = fetch_one(conn, _RECEIVER)
        result.update(current_lsn=pos["replay_lsn"], receive_lsn=pos["receive_lsn"],
                      replay_lag_seconds=max(pos["replay_lag_seconds"], 0.0), wal_receiver=receiver)
        if pos["receive_lsn"] and pos["replay_lsn"]:
            result["receive_lag_bytes"] = max(lsn_to_int(pos["receive_lsn"]) - lsn_to_int(pos["replay_lsn"]), 0)
        result["timeline"] = (receiver or {}).get("received_tli") or base["checkpoint_timeline"]
    else:
        pos = fetch_one(conn, "SELECT pg_current_wal_lsn()::text AS lsn, pg_walfile_name(pg_current_wal_lsn()) AS walfile")
        result.update(current_lsn=pos["lsn"], timeline=timeline_of_walfile(pos["walfile"]))
        result["standbys"] = fetch_all(conn, _STANDBYS)
    slots = fetch_all(conn, _SLOTS)
    for slot in slots:
        slot["healthy"] = (slot["wal_status"] not in ("lost", "unreserved")
                           and (slot["retained_bytes"] or 0) <= slot_retained_bytes_max)
    result["slots"] = slots
    return result


def main():
    argument_spec = dict(CONNECTION_ARGSPEC)
    argument_spec.update(slot_retained_bytes_max=dict(type="int", default=1024 ** 3))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    conn = connect(module)
    try:
        info = gather(conn, module.params["slot_retained_bytes_max"])
    except Exception as exc:  # psycopg.Error and unexpected server answers alike
        module.fail_json(msg="cannot read the replication state: %s" % str(exc).strip())
    finally:
        conn.close()
    module.exit_json(changed=False, **info)


if __name__ == "__main__":
    main()
