"""Issue 13 on the lab: the Vault (or OpenBao) security tier with a real server, when one is supplied.

No Vault or OpenBao package exists in any registry these machines reach (../shared/TESTING-HERE.md), so
this path runs only when SOVEREIGN_VAULT_BINARY names a `vault` or `bao` binary on the controller (the
bare binary of the vendor's release archive); without it every test here SKIPS with the reason (shown
by `pytest -rs`, which scripts/test passes for the lab) and nothing of it runs: the default lab has no
vault hosts and never reads lab/inventory-vault.yml. WRITTEN AGAINST VAULT'S DOCUMENTED BEHAVIOUR, NEVER
RUN HERE (no binary could be obtained).

With the binary, on the lab the session fixture already converged (sorted after the other lab tests, the
lab goes down after it in test_zz_down):
1. the overlay lab/inventory-vault.yml adds vault1-vault3 (security tier, DC1, 10.210.40.11-13):
   `scripts/lab up --inventory inventories/lab --inventory lab/inventory-vault.yml` starts just them;
2. base (hosts file, admin users, PKI host identity) and playbooks/tier_security.yml (role vault,
   install source controller_cache with the binary as artifact `vault`/`bao`) converge them; a second
   converge changes nothing;
3. the PostgreSQL side the platform does not provide yet, made by this test (see the README of
   roles/vault): a `vault` login role with CREATEROLE on the primary, the group roles the dynamic users
   join, two pg_hba lines, and the flow vault -> postgresql through an extra flow layer (the firewall
   of the PostgreSQL hosts recompiled with it);
4. playbooks/runbooks/vault_init.yml twice: 5 shares / threshold 3 PGP-encrypted to throw-away gpg keys
   made here, then unseal + the SPEC configuration with the root token, which is revoked;
5. a new root token from 3 shares (sys/generate-root, the documented way) as the operator's token;
   vault_raft_info: 3 voters, a leader, autopilot healthy; playbooks/vault_configure.yml again: the
   controller's play changes nothing, the backup host gets the snapshot timer; one snapshot is taken and
   its textfile metric read;
6. secrets served to the PostgreSQL tier: AppRole `fastapi` logs in, reads a dynamic credential from
   database/creds/fastapi, that user logs in to the primary from app1 (TLS, scram), the lease is revoked
   and the user is gone;
7. leader kill: `podman kill -s KILL` of the leader container; seconds until another node is active;
   the killed node is started again, comes back sealed, playbooks/runbooks/vault_unseal.yml unseals it
   and it rejoins;
8. playbooks/runbooks/vault_rolling_restart.yml while every node's sys/health is polled: never more
   than one node sealed or down, the longest time without an active node reported.
Measurements: tests/output/vault-lab/measurements.txt and pytest's warnings summary.

The runbooks talk to the API from the controller (as AWX or an operator would). The controller reaches
the lab's segments directly over the podman bridges (it holds their gateway address), so the runbooks
get the nodes' addresses as vault_runbook_urls (the certificates carry IP SANs): the controller is no
platform host and cannot resolve <host>.lab.internal. For the same reason the vault hosts get no host
firewall here (the flow policy has no flow from the controller's bridge address).
"""
import base64
import hashlib
import json
import os
import re
import shutil
import ssl
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.request
import warnings

import pytest
import yaml

from conftest import REPO, Lab, lab, pg_primary, psql, recap, secrets_dir
from support.waiting import wait_until

BINARY = os.environ.get("SOVEREIGN_VAULT_BINARY", "")
pytestmark = pytest.mark.skipif(
    not BINARY,
    reason="Vault lab path not run: SOVEREIGN_VAULT_BINARY is not set (no vault or bao binary supplied; none is "
           "obtainable on these machines). Set it to a vault/bao binary on the controller to run init, unseal, "
           "3 raft peers, the SPEC configuration, a leader kill, a rolling restart and dynamic PostgreSQL "
           "credentials on vault1-vault3.")

OVERLAY = os.path.join(REPO, "lab", "inventory-vault.yml")
INVENTORY = ["-i", os.path.join(REPO, "inventories", "lab"), "-i", OVERLAY]
WORK = os.path.join(REPO, "tests", "output", "vault-lab")
HOLDERS = ["holder1", "holder2", "holder3", "holder4", "holder5"]
API_PORT = 8200


def overlay_nodes():
    """{vault host: platform_address} of the overlay, sorted (the runbooks' node order)."""
    with open(OVERLAY, encoding="utf-8") as handle:
        hosts = yaml.safe_load(handle)["all"]["children"]["tiers"]["children"]["security"]["children"]["vault"]["hosts"]
    return {name: spec["platform_address"] for name, spec in sorted(hosts.items())}


NODES = overlay_nodes()


def url(node):
    return "https://%s:%d" % (NODES[node], API_PORT)


def write_private(path, data):
    """A file only the operator can read (what the key holders type in)."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        handle.write(data)
    return path


def gpg(home, *args, data=None):
    return subprocess.run(["gpg", "--homedir", home, "--batch", "--quiet", "--pinentry-mode", "loopback",
                           "--passphrase", ""] + list(args), input=data, capture_output=True, check=True).stdout


def playbook(name, *args, log, timeout=1800):
    """ansible-playbook on the lab with the vault overlay; (CompletedProcess, seconds); output in WORK/<log>."""
    command = " ".join(["source scripts/env.sh && ansible-playbook"] + INVENTORY + [os.path.join("playbooks", name)]
                       + ["'%s'" % a.replace("'", "'\\''") for a in args])
    start = time.monotonic()
    res = subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=REPO, timeout=timeout,
                         stdin=subprocess.DEVNULL, check=False)
    seconds = time.monotonic() - start
    with open(os.path.join(WORK, log), "w", encoding="utf-8") as handle:
        handle.write(res.stdout + "\n--- stderr ---\n" + res.stderr)
    return res, seconds


def ok(res, what):
    assert res.returncode == 0, "%s failed:\n%s\n%s" % (what, res.stdout[-5000:], res.stderr[-2000:])
    return res


class Api:
    """The Vault HTTP API from the controller, verified against the platform CA."""

    def __init__(self, ca_file):
        self.ctx = ssl.create_default_context(cafile=ca_file)

    def call(self, node, method, path, token=None, body=None, timeout=5):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url(node) + "/v1/" + path, data=data, method=method)
        if token:
            req.add_header("X-Vault-Token", token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=timeout) as resp:
                text = resp.read().decode()
                return resp.status, (json.loads(text) if text else {})
        except urllib.error.HTTPError as err:
            text = err.read().decode()
            try:
                return err.code, json.loads(text) if text else {}
            except ValueError:
                return err.code, {"raw": text}

    def health(self, node):
        """sys/health's status code: 200 active, 429 standby, 503 sealed, 501 not initialised; None: no answer."""
        try:
            return self.call(node, "GET", "sys/health", timeout=2)[0]
        except (OSError, ValueError):
            return None

    def generate_root(self, node, shares):
        """A root token from a quorum of shares (sys/generate-root with a one-time password, as documented)."""
        self.call(node, "DELETE", "sys/generate-root/attempt")
        status, attempt = self.call(node, "PUT", "sys/generate-root/attempt", body={})
        assert status == 200, (status, attempt)
        encoded = None
        for share in shares:
            status, progress = self.call(node, "PUT", "sys/generate-root/update",
                                         body={"key": share, "nonce": attempt["nonce"]})
            assert status == 200, status
            encoded = progress.get("encoded_token") or progress.get("encoded_root_token") or encoded
        assert encoded, "generate-root did not complete"
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
        return bytes(a ^ b for a, b in zip(raw, attempt["otp"].encode())).decode()


def _healthy(info, count=None, voters=None):
    """The raft info when the cluster is healthy with that many voters (or exactly those), else None."""
    if not info.get("healthy"):
        return None
    if count is not None and len(info.get("voters", [])) != count:
        return None
    if voters is not None and sorted(info.get("voters", [])) != voters:
        return None
    return info


def raft_info(token, node="vault1"):
    """sovereign.datacenter.vault_raft_info from the controller (the token through the environment)."""
    env = dict(os.environ, VAULT_ADDR=url(node), VAULT_TOKEN=token, VAULT_CACERT=os.path.join(secrets_dir(), "pki", "ca.crt"))
    res = subprocess.run(["bash", "-c", "source scripts/env.sh && ANSIBLE_STRATEGY=linear ansible localhost -o "
                          "-e ansible_python_interpreter=$SOVEREIGN_CACHE/venv/bin/python "
                          "-m sovereign.datacenter.vault_raft_info"],
                         capture_output=True, text=True, cwd=REPO, env=env, check=False)
    if "=>" not in res.stdout:
        return {"failed": True, "msg": res.stdout + res.stderr}
    return json.loads(res.stdout.split("=>", 1)[1])


def pg_exec(host, sql, db="postgres"):
    """SQL through psql's stdin (so no value lands in a process list), as postgres on a lab host."""
    res = subprocess.run(["podman", "exec", "-i", "sovlab-" + host, "runuser", "-u", "postgres", "--", "psql", "-X",
                          "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", "-"], input=sql, capture_output=True,
                         text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


HBA_MARK = "# sovereign test_zy_vault"


def hba_lines():
    security = NODES["vault1"].rsplit(".", 1)[0] + ".0/24"
    return ["hostssl postgres vault %s scram-sha-256 %s" % (security, HBA_MARK),
            "hostssl postgres +fastapi_rw 10.210.10.0/24 scram-sha-256 %s" % HBA_MARK]


def set_hba(primary, add):
    hba = psql(primary, "SHOW hba_file")
    text = Lab.exec(primary, "cat", hba).stdout
    kept = [line for line in text.splitlines() if HBA_MARK not in line]
    lines = (hba_lines() if add else []) + kept
    subprocess.run(["podman", "exec", "-i", "sovlab-" + primary, "sh", "-c", "cat > %s.new && chown postgres:postgres "
                    "%s.new && chmod 0640 %s.new && mv %s.new %s" % ((hba,) * 5)], input="\n".join(lines) + "\n",
                   text=True, check=True, timeout=60)
    psql(primary, "SELECT pg_reload_conf()")


class HealthPoller(threading.Thread):
    """Every node's sys/health every 0.5 s until stopped: [(t, {node: code})]."""

    def __init__(self, api):
        super().__init__(daemon=True)
        self.api, self.samples, self.stop = api, [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.samples.append((time.monotonic(), {n: self.api.health(n) for n in NODES}))
            self.stop.wait(0.5)


def longest_without_active(samples):
    longest, since = 0.0, None
    for t, codes in samples:
        if 200 in codes.values():
            since = None
        else:
            since = t if since is None else since
            longest = max(longest, t - since)
    return longest


@pytest.fixture(scope="module")
def vault_lab(lab_up):
    if not (os.path.isfile(BINARY) and os.access(BINARY, os.X_OK)):
        pytest.fail("SOVEREIGN_VAULT_BINARY=%s is not an executable file" % BINARY)
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(os.path.join(WORK, "cache"))
    inputs = os.path.join(WORK, "inputs")  # what the holders type in: secret input, never searched for leaks
    os.makedirs(inputs, mode=0o700)
    version = subprocess.run([BINARY, "version"], capture_output=True, text=True, check=False).stdout.strip()
    openbao = "openbao" in version.lower() or os.path.basename(BINARY).startswith("bao")
    name = "bao" if openbao else "vault"
    artifact = os.path.join(WORK, "cache", name)
    shutil.copyfile(BINARY, artifact)
    os.chmod(artifact, 0o755)
    with open(artifact, "rb") as handle:
        checksum = "sha256:" + hashlib.sha256(handle.read()).hexdigest()

    # Throw-away OpenPGP keys: five share holders, the root token holder, the offline snapshot key.
    home = os.path.join(WORK, "gnupg")
    os.makedirs(home, mode=0o700)
    keys = {}
    for holder in HOLDERS + ["root-holder", "snapshot-offline"]:
        gpg(home, "--quick-gen-key", "%s <%s@lab.invalid>" % (holder, holder), "future-default", "default", "never")
        keys[holder] = os.path.join(WORK, holder + ".gpg")
        with open(keys[holder], "wb") as handle:
            handle.write(gpg(home, "--export", holder + "@lab.invalid"))

    primary = pg_primary()
    ca_file = os.path.join(secrets_dir(), "pki", "ca.crt")
    converge_vars = os.path.join(WORK, "converge.json")
    with open(converge_vars, "w", encoding="utf-8") as handle:
        json.dump({"vault_distribution": "openbao" if openbao else "vault", "vault_install_source": "controller_cache",
                   "vault_artifacts": [{"name": name, "checksum": checksum}],
                   "vault_controller_cache_dir": os.path.join(WORK, "cache")}, handle)
    runbook_vars = os.path.join(WORK, "runbook.json")
    with open(runbook_vars, "w", encoding="utf-8") as handle:
        json.dump({"vault_distribution": "openbao" if openbao else "vault",
                   "vault_runbook_urls": [url(n) for n in NODES],
                   "vault_key_holders": [{"name": h, "pgp_public_key": keys[h]} for h in HOLDERS],
                   "vault_root_token_holder": {"name": "root-holder", "pgp_public_key": keys["root-holder"]},
                   "vault_init_output_dir": os.path.join(WORK, "init"),
                   "vault_postgresql_primaries": [primary],
                   "vault_snapshot_vault_urls": [url(n) for n in NODES],
                   "vault_snapshot_pgp_public_key": keys["snapshot-offline"]}, handle)
    flow_vars = os.path.join(WORK, "flow.json")
    with open(flow_vars, "w", encoding="utf-8") as handle:
        # The flow the platform lacks (group_vars/all/flows.yml): Vault's database engine reaches PostgreSQL.
        json.dump({"platform_flows_vault_lab": [{
            "name": "vault_to_postgresql", "description": "Vault's database engine manages dynamic PostgreSQL users",
            "from": ["vault"], "to": "postgresql", "ports": ["postgresql"]}]}, handle)
    result = {"distribution": "openbao" if openbao else "vault", "version": version, "primary": primary, "timings": {}}
    measure = result["timings"]
    api = Api(ca_file)

    # 1. the three nodes
    start = time.monotonic()
    res = lab("up", "--inventory", os.path.join(REPO, "inventories", "lab"), "--inventory", OVERLAY)
    ok(res, "scripts/lab up with the vault overlay")
    measure["lab up (vault1-3)"] = time.monotonic() - start

    # 2. converge them: preflight of the whole platform with the overlay, base + PKI, the vault role (twice)
    ok(playbook("preflight.yml", "-e", "@" + converge_vars, log="preflight.log")[0], "preflight")
    res, measure["base"] = playbook("base.yml", "--limit", "vault", log="base.log")
    ok(res, "base on vault1-3")
    res, measure["tier_security (first)"] = playbook("tier_security.yml", "--limit", "vault", "-e", "@" + converge_vars,
                                                     log="tier_security-1.log")
    ok(res, "tier_security")
    res, measure["tier_security (second)"] = playbook("tier_security.yml", "--limit", "vault", "-e", "@" + converge_vars,
                                                      log="tier_security-2.log")
    result["second_converge"] = recap(ok(res, "tier_security again").stdout)
    reachable = wait_until(lambda: all(api.health(n) == 501 for n in NODES), 90)
    assert reachable, ("the controller cannot reach the Vault API of %s on %s (not initialised: 501); health: %s. The "
                       "runbooks need the controller on the lab's bridges (see the module docstring)"
                       % (list(NODES), API_PORT, {n: api.health(n) for n in NODES}))

    # 3. the PostgreSQL side: login role, group roles, pg_hba, the vault -> postgresql flow
    ok(subprocess.run(["bash", "-c", "source scripts/env.sh && ansible -i inventories/lab localhost -m "
                       "ansible.builtin.debug -a \"msg={{ lookup('sovereign.datacenter.secret', 'postgresql/vault') "
                       "| length }}\""], capture_output=True, text=True, cwd=REPO, check=False), "the vault password")
    with open(os.path.join(secrets_dir(), "secrets", "postgresql", "vault"), encoding="utf-8") as handle:
        pg_password = handle.read().strip()
    pg_exec(primary, "DO $$ BEGIN\n"
            "IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vault') THEN CREATE ROLE vault LOGIN CREATEROLE; END IF;\n"
            "IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fastapi_rw') THEN CREATE ROLE fastapi_rw NOLOGIN; END IF;\n"
            "IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'odoo_rw') THEN CREATE ROLE odoo_rw NOLOGIN; END IF;\n"
            "END $$;\nGRANT pg_signal_backend TO vault;\n"
            "ALTER ROLE vault PASSWORD '%s';\n" % pg_password.replace("'", "''"))
    try:
        set_hba(primary, add=True)
        res, measure["firewall (postgresql, vault flow)"] = playbook("firewall.yml", "--limit", "postgresql", "-e",
                                                                     "@" + flow_vars, log="firewall-postgresql.log")
        ok(res, "firewall of the PostgreSQL hosts with the vault flow")

        # 4. secret zero
        res, measure["vault_init (initialise)"] = playbook("runbooks/vault_init.yml", "-e", "@" + runbook_vars,
                                                           log="vault_init-1.log")
        ok(res, "vault_init.yml (initialise)")
        result["init_outputs"] = sorted(os.listdir(os.path.join(WORK, "init")))

        def decrypt(file_name):
            with open(os.path.join(WORK, "init", file_name), encoding="utf-8") as handle:
                return gpg(home, "--decrypt", data=base64.b64decode(handle.read().strip())).decode()
        shares = [decrypt("%s.unseal-share.gpg.b64" % h) for h in HOLDERS]
        root = decrypt("root-token.gpg.b64")
        ceremony = write_private(os.path.join(inputs, "ceremony.json"),
                                 json.dumps({"vault_unseal_keys": shares[1:4], "vault_root_token": root}))
        res, measure["vault_init (unseal, configure, revoke)"] = playbook(
            "runbooks/vault_init.yml", "-e", "@" + runbook_vars, "-e", "@" + ceremony, log="vault_init-2.log")
        ok(res, "vault_init.yml (unseal, configure, revoke)")
        result["root_after_revoke"] = api.call("vault1", "GET", "auth/token/lookup-self", token=root)[0]
        result["health_after_init"] = {n: api.health(n) for n in NODES}

        # 5. the operator's token, the peers, the configuration as code again, one snapshot
        admin = api.generate_root("vault1", shares[:3])
        keys_only = write_private(os.path.join(inputs, "shares.json"), json.dumps({"vault_unseal_keys": shares[:3]}))
        operator = write_private(os.path.join(inputs, "operator.json"),
                                 json.dumps({"vault_configure_token": admin, "vault_operator_token": admin}))
        res, measure["vault_unseal (all unsealed)"] = playbook("runbooks/vault_unseal.yml", "-e", "@" + runbook_vars,
                                                               "-e", "@" + keys_only, log="vault_unseal-1.log")
        result["unseal_noop"] = ok(res, "vault_unseal.yml").returncode
        result["raft"] = wait_until(lambda: _healthy(raft_info(admin), 3), 120) or raft_info(admin)
        res, measure["vault_configure"] = playbook("vault_configure.yml", "-e", "@" + runbook_vars, "-e", "@" + operator,
                                                   log="vault_configure.log")
        result["configure"] = ok(res, "vault_configure.yml").stdout
        snap = subprocess.run(["podman", "exec", "sovlab-backup1", "systemctl", "start", "vault-snapshot.service"],
                              capture_output=True, text=True, timeout=300, check=False)
        result["snapshot_rc"] = snap.returncode
        result["snapshots"] = Lab.exec("backup1", "sh", "-c", "ls /srv/backup/vault/dc1/", check=False).stdout.split()
        result["snapshot_metrics"] = Lab.exec("backup1", "cat", "/var/lib/prometheus/node-exporter/"
                                              "sovereign_vault_snapshot.prom", check=False).stdout

        # 6. a dynamic PostgreSQL credential through the service's AppRole, used from the app tier
        role_id = api.call("vault1", "GET", "auth/approle/role/fastapi/role-id", token=admin)[1]["data"]["role_id"]
        secret_id = api.call("vault1", "POST", "auth/approle/role/fastapi/secret-id", token=admin, body={})[1]["data"]["secret_id"]
        app_token = api.call("vault1", "POST", "auth/approle/login",
                             body={"role_id": role_id, "secret_id": secret_id})[1]["auth"]["client_token"]
        status, creds = api.call("vault1", "GET", "database/creds/fastapi", token=app_token)
        result["creds_status"] = status
        user, password = creds["data"]["username"], creds["data"]["password"]
        result["creds_ttl"] = creds.get("lease_duration")
        login = subprocess.run(["podman", "exec", "-i", "-e", "PGPASSWORD", "sovlab-app1", "psql", "-X", "-At",
                                "host=%s.lab.internal dbname=postgres user=%s sslmode=verify-full "
                                "sslrootcert=/etc/ssl/sovereign/ca.crt" % (primary, user), "-c", "SELECT current_user"],
                               env=dict(os.environ, PGPASSWORD=password), capture_output=True, text=True, check=False)
        result["login"] = (login.returncode, login.stdout.strip(), login.stderr.strip()[-500:])
        result["app_token_kv_denied"] = api.call("vault1", "GET", "secret/data/odoo/admin", token=app_token)[0]
        api.call("vault1", "PUT", "sys/leases/revoke", token=admin, body={"lease_id": creds["lease_id"]})
        result["user_after_revoke"] = wait_until(
            lambda: pg_exec(primary, "SELECT count(*) FROM pg_roles WHERE rolname = '%s'" % user) == "0", 30)
        result["pg_user"] = user

        # 7. leader kill
        leader = result["raft"]["leader"]
        others = [n for n in NODES if n != leader]
        killed_at = time.monotonic()
        subprocess.run(["podman", "kill", "-s", "KILL", "sovlab-" + leader], capture_output=True, check=True)
        elected = wait_until(lambda: [n for n in others if api.health(n) == 200], 120)
        result["failover_seconds"] = time.monotonic() - killed_at if elected else None
        result["new_leader"] = elected[0] if elected else None
        ok(lab("up", "--inventory", os.path.join(REPO, "inventories", "lab"), "--inventory", OVERLAY),
           "scripts/lab up (start the killed node)")
        result["killed_comes_back_sealed"] = wait_until(lambda: api.health(leader) == 503, 120)
        res, measure["vault_unseal (killed node)"] = playbook("runbooks/vault_unseal.yml", "-e", "@" + runbook_vars,
                                                              "-e", "@" + keys_only, log="vault_unseal-2.log")
        ok(res, "vault_unseal.yml after the kill")
        result["rejoined"] = wait_until(
            lambda: _healthy(raft_info(admin, node=result["new_leader"] or others[0]), voters=sorted(NODES)), 180)

        # 8. rolling restart, polled
        poller = HealthPoller(api)
        poller.start()
        try:
            res, measure["vault_rolling_restart"] = playbook("runbooks/vault_rolling_restart.yml", "-e",
                                                             "@" + runbook_vars, "-e", "@" + keys_only, "-e",
                                                             "@" + operator, log="vault_rolling_restart.log")
        finally:
            poller.stop.set()
            poller.join()
        result["rolling"] = res
        result["rolling_samples"] = poller.samples
        result["secrets"] = {"root token": root, "admin token": admin, "app token": app_token,
                             "postgresql vault password": pg_password, "dynamic password": password}
        result["secrets"].update({"share %d" % i: s for i, s in enumerate(shares)})
        yield result
    finally:
        set_hba(primary, add=False)
        lines = ["%s %.1f s" % (k, v) for k, v in measure.items()]
        if result.get("failover_seconds") is not None:
            lines.append("leader kill: %s killed, %s active after %.1f s" % (
                result["raft"]["leader"], result["new_leader"], result["failover_seconds"]))
        if result.get("rolling_samples"):
            lines.append("rolling restart: %d health samples, longest without an active node %.1f s" % (
                len(result["rolling_samples"]), longest_without_active(result["rolling_samples"])))
        with open(os.path.join(WORK, "measurements.txt"), "w", encoding="utf-8") as handle:
            handle.write("%s %s\n" % (result["distribution"], result["version"]) + "\n".join(lines) + "\n")


def test_the_nodes_converge_and_a_second_converge_changes_nothing(vault_lab):
    counts = vault_lab["second_converge"]
    assert set(counts) == set(NODES) and all(c["changed"] == 0 and c["failed"] == 0 for c in counts.values()), counts


def test_init_gives_pgp_encrypted_shares_and_the_root_token_is_revoked(vault_lab):
    assert vault_lab["init_outputs"] == sorted(["%s.unseal-share.gpg.b64" % h for h in HOLDERS] + ["root-token.gpg.b64"])
    assert vault_lab["root_after_revoke"] == 403
    # one active node, two unsealed standbys
    assert sorted(vault_lab["health_after_init"].values()) == [200, 429, 429], vault_lab["health_after_init"]


def test_three_raft_peers_with_a_leader_and_autopilot_healthy(vault_lab):
    raft = vault_lab["raft"]
    assert raft.get("healthy") and sorted(raft["voters"]) == sorted(NODES) and raft["leader"] in NODES, raft
    assert raft.get("failure_tolerance") == 1, raft


def test_the_spec_configuration_is_idempotent_and_the_backup_host_takes_a_snapshot(vault_lab):
    out = vault_lab["configure"]
    assert "localhost" in recap_all(out) and recap_all(out)["localhost"]["changed"] == 0, out[-3000:]
    assert vault_lab["snapshot_rc"] == 0 and any(s.endswith(".snap.gpg") for s in vault_lab["snapshots"]), vault_lab
    assert 'sovereign_vault_snapshot_last_run_success{site="dc1"} 1' in vault_lab["snapshot_metrics"]
    assert "sovereign_vault_snapshot_last_success_timestamp_seconds" in vault_lab["snapshot_metrics"]


def recap_all(output):
    """PLAY RECAP of every host, the controller included (conftest.recap leaves localhost out)."""
    return {m["host"]: {"changed": int(m["changed"]), "failed": int(m["failed"])}
            for m in re.finditer(r"^(?P<host>\S+)\s+: ok=\d+\s+changed=(?P<changed>\d+)\s+unreachable=\d+\s+"
                                 r"failed=(?P<failed>\d+)", output, re.M)}


def test_a_dynamic_credential_from_the_database_engine_logs_in_to_postgresql(vault_lab):
    assert vault_lab["creds_status"] == 200 and vault_lab["creds_ttl"] == 3600
    rc, who, err = vault_lab["login"]
    assert rc == 0 and who == vault_lab["pg_user"], err
    assert vault_lab["app_token_kv_denied"] == 403  # least privilege: fastapi cannot read odoo's secret
    assert vault_lab["user_after_revoke"], "the revoked lease's PostgreSQL user still exists"


def test_a_killed_leader_is_replaced_and_rejoins_after_unseal(vault_lab):
    assert vault_lab["failover_seconds"] is not None, "no new leader within 120 s"
    assert vault_lab["killed_comes_back_sealed"] and vault_lab["rejoined"]
    line = "vault leader kill: a new leader (%s) active %.1f s after the leader was killed" % (
        vault_lab["new_leader"], vault_lab["failover_seconds"])
    warnings.warn(line)


def test_the_rolling_restart_never_seals_the_cluster(vault_lab):
    ok(vault_lab["rolling"], "vault_rolling_restart.yml")
    samples = vault_lab["rolling_samples"]
    assert samples
    worst = max(sum(1 for c in codes.values() if c not in (200, 429)) for unused_t, codes in samples)
    assert worst <= 1, "more than one node sealed or down at once during the rolling restart"
    gap = longest_without_active(samples)
    assert gap < 30, gap
    warnings.warn("vault rolling restart: %d health samples, never more than one node sealed, longest without an "
                  "active node %.1f s" % (len(samples), gap))


def test_no_secret_in_any_log_or_output(vault_lab):
    searched = []
    for folder, unused_dirs, files in os.walk(WORK):
        if folder.startswith(os.path.join(WORK, "inputs")) or folder.startswith(os.path.join(WORK, "gnupg")):
            continue
        searched += [os.path.join(folder, f) for f in files
                     if not stat.S_ISLNK(os.lstat(os.path.join(folder, f)).st_mode)]
    leaks = []
    for path in searched:
        with open(path, "rb") as handle:
            data = handle.read()
        leaks += [(label, path) for label, value in vault_lab["secrets"].items() if value.encode() in data]
    assert leaks == [], leaks
