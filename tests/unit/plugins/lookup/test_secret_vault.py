"""The secret lookup's vault backend (KV v2) against the stub or SOVEREIGN_VAULT_ADDR."""
import multiprocessing
import os

import pytest

import yaml
from ansible import constants as C
from ansible.errors import AnsibleLookupError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.sovereign.datacenter.plugins.lookup import secret

# What the plugin loader does when Ansible loads the lookup: register its documented options.
_NAME = "sovereign.datacenter.secret"
C.config.initialize_plugin_configuration_definitions("lookup", _NAME, yaml.safe_load(secret.DOCUMENTATION)["options"])


def _lookup(vault, names, mount, **options):
    lookup = secret.LookupModule(loader=DataLoader(), templar=Templar(loader=DataLoader()))
    lookup._load_name = _NAME  # pylint: disable=protected-access
    settings = {"platform_secrets_backend": "vault", "platform_vault_addr": vault.url,
                "platform_vault_token": vault.token, "platform_vault_kv_mount": mount}
    if vault.ca_cert:
        settings["platform_vault_ca_cert"] = vault.ca_cert
    return lookup.run(names, variables=settings, **options)


@pytest.fixture()
def kv(vault, unique):
    client = vault.client()
    client.sys.enable_secrets_engine("kv", path=unique, options={"version": "2"})
    yield unique
    client.sys.disable_secrets_engine(unique)


def test_creates_missing_with_cas_then_reads_the_same(vault, kv):
    first = _lookup(vault, ["app/db", "app/api"], kv)
    assert len(first[0]) == 32 and first[0] != first[1]
    stored = vault.client().secrets.kv.v2.read_secret_version(path="app/db", mount_point=kv,
                                                              raise_on_deleted_version=True)
    assert stored["data"]["data"] == {"value": first[0]} and stored["data"]["metadata"]["version"] == 1
    assert _lookup(vault, ["app/db", "app/api"], kv, vault_cache=False) == first


def test_existing_secret_is_never_overwritten(vault, kv):
    vault.client().secrets.kv.v2.create_or_update_secret(path="preset", secret={"value": "operator-chosen-value"},
                                                         mount_point=kv)
    assert _lookup(vault, ["preset"], kv) == ["operator-chosen-value"]


def test_missing_without_create_and_bad_names(vault, kv):
    with pytest.raises(AnsibleLookupError, match="does not exist"):
        _lookup(vault, ["nope"], kv, create=False, vault_cache=False)
    with pytest.raises(AnsibleLookupError, match="invalid"):
        _lookup(vault, ["../escape"], kv)


def test_permission_denied_names_the_path(vault, kv):
    token = vault.token_with_policies(["default"])
    denied = type(vault)(vault.url, token, vault.stub)
    with pytest.raises(AnsibleLookupError, match="permission denied") as err:
        _lookup(denied, ["app/db"], kv, vault_cache=False)
    assert token not in str(err.value)


def _worker(vault, kv, names, queue):
    queue.put(_lookup(vault, names, kv))


def test_broker_makes_n_workers_cost_one_read_per_secret(vault, kv):
    """Ansible forks a worker per host: 8 workers x 3 secrets read Vault 3 times, not 24."""
    vault.require_stub("counts requests in the stub's log")
    names = ["svc/a", "svc/b", "svc/c"]
    for name in names:
        vault.client().secrets.kv.v2.create_or_update_secret(path=name, secret={"value": "v-" + name}, mount_point=kv)
    vault.stub.state.requests.clear()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(vault, kv, names, queue)) for unused in range(8)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=60) for unused in workers]
    for worker in workers:
        worker.join(10)
    assert all(result == ["v-svc/a", "v-svc/b", "v-svc/c"] for result in results)
    reads = [r for r in vault.stub.state.requests if r[0] == "GET" and r[1].startswith(kv + "/data/")]
    assert sorted(reads) == sorted(("GET", "%s/data/%s" % (kv, name)) for name in names)
    broker_dir = "/tmp/sovereign-secret-broker-%d" % os.getuid()
    assert oct(os.stat(broker_dir).st_mode & 0o777) == "0o700"
