# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A per-run, memory-only cache of Vault secrets for the ``secret`` lookup. Not a public API.

Ansible templates lookups in a worker process forked per host and task, so an in-process cache
dies with each worker. The first lookup of a run forks this broker on the controller: it holds one
hvac client and the values it has read, answers one JSON request per connection on a unix socket
in a private directory (mode 0700, peers checked with SO_PEERCRED), serves requests one at a time
(so concurrent workers asking for the same secret cause one read), and exits when the
ansible-playbook process is gone or after ``idle`` seconds without a request. Nothing is written
to disk.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import multiprocessing
import os
import socket
import struct
import time


class BrokerError(Exception):
    """A failure to report to the lookup's caller (never carries a secret value)."""


def vault_client(settings):
    import hvac  # pylint: disable=import-outside-toplevel
    return hvac.Client(url=settings["url"], token=settings["token"], verify=settings.get("ca_cert") or True,
                       timeout=30)


def run_id():
    """The process whose lifetime is the run: ansible-playbook, the parent of Ansible's workers."""
    return os.getppid() if multiprocessing.parent_process() is not None else os.getpid()


def socket_path(settings, run):
    directory = "/tmp/sovereign-secret-broker-%d" % os.getuid()
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(directory)
    if info.st_uid != os.getuid() or info.st_mode & 0o077 or not os.path.isdir(directory):
        raise BrokerError("%s must be a directory of this user with mode 0700" % directory)
    digest = hashlib.sha256("\0".join((settings["url"], settings["mount"], settings["token"])).encode()).hexdigest()
    return os.path.join(directory, "%d-%s.sock" % (run, digest[:16]))


def ask(settings, request, idle, reader):
    """The broker's answer to ``request`` (starting the broker of this run when there is none)."""
    run = run_id()
    path = socket_path(settings, run)
    try:
        return _request(path, request)
    except (FileNotFoundError, ConnectionRefusedError):
        pass
    with open(path + ".lock", "a", encoding="utf-8") as lock:
        os.chmod(path + ".lock", 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _request(path, request)
        except (FileNotFoundError, ConnectionRefusedError):
            _start(path, settings, run, idle, reader)
    return _request(path, request)


def _request(path, request):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(120)
        conn.connect(path)
        conn.sendall(json.dumps(request).encode() + b"\n")
        answer = _read_line(conn)
    if not answer:
        raise BrokerError("the secret broker closed the connection without an answer")
    answer = json.loads(answer)
    if "error" in answer:
        raise BrokerError(answer["error"])
    return answer["value"]


def _read_line(conn):
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _start(path, settings, run, idle, reader):
    """Fork the broker (detached, twice), then wait until its socket answers."""
    if os.path.exists(path):
        os.unlink(path)  # a stale socket of a broker that is gone
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                # Keep nothing of the worker: its lock file (or the lock would outlive it), pipes.
                os.closerange(3, 65536)
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                _serve(path, settings, run, idle, reader)
        finally:
            os._exit(0)  # pylint: disable=protected-access
    os.waitpid(pid, 0)
    deadline = time.monotonic() + 10
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise BrokerError("the secret broker did not start")
        time.sleep(0.01)


def _serve(path, settings, run, idle, reader):
    cache = {}
    client = vault_client(settings)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = path + ".new"
    if os.path.exists(tmp):
        os.unlink(tmp)
    server.bind(tmp)
    os.chmod(tmp, 0o600)
    server.listen(64)
    os.rename(tmp, path)  # the socket appears only once it listens
    server.settimeout(1.0)
    last = time.monotonic()
    try:
        while True:
            try:
                conn, unused = server.accept()
            except socket.timeout:
                if not _alive(run) or time.monotonic() - last > idle:
                    return
                continue
            last = time.monotonic()
            with conn:
                conn.settimeout(30)
                uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
                if uid != os.getuid():
                    continue
                answer = _answer(cache, client, settings["mount"], _read_line(conn), reader)
                conn.sendall(json.dumps(answer).encode() + b"\n")
    finally:
        server.close()
        for leftover in (path, path + ".lock"):
            if os.path.exists(leftover):
                os.unlink(leftover)


def _answer(cache, client, mount, line, reader):
    try:
        request = json.loads(line)
        name = request["name"]
        if name not in cache:
            cache[name] = reader(client, mount, request)
        return {"value": cache[name]}
    except BrokerError as err:
        return {"error": str(err)}
    except Exception as err:  # pylint: disable=broad-except
        return {"error": "reading from Vault failed: %s" % type(err).__name__}


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
