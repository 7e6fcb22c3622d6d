"""The lab: the whole data centre as systemd containers on one machine (rootful podman).

Reads inventories/lab (hosts, their platform_address, platform_segments, lab_* settings) and
makes: one podman network per site segment, an inter-site link network, an uplink network,
a "CDN" network outside the platform (lab_cdn_cidr) with one host standing for the CDN's edge
(an address inside the lab's platform_cdn_ranges) and for an internet client (an address outside
them), routed through the first site's router, one router per site (the sites' core routers: they route between segments and sites without
address translation, so firewall rules see real source addresses), and one container per
inventory host with its fixed address. Everything it makes carries the label sovereign.lab=1,
and `down` removes exactly those objects.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LABEL = "sovereign.lab=1"
PREFIX = "sovlab"

# The collection's own inventory helpers (scripts/bootstrap links the repository into this path).
sys.path.insert(0, os.path.join(REPO, ".ansible", "collections"))
from ansible_collections.sovereign.datacenter.plugins.module_utils._platform import (  # noqa: E402
    model_from_inventory_json,
)

LAB_SETTINGS = ("lab_link_cidr", "lab_uplink_cidr", "lab_router_octet", "lab_host_sysctls", "platform_environment",
                "lab_cdn_cidr", "lab_cdn_address", "lab_internet_address", "platform_cdn_ranges")
CDN_HOST = "cdn1"


def log(msg):
    print("[lab] %s" % msg, file=sys.stderr, flush=True)


def run(cmd, check=True, capture=True):
    res = subprocess.run(cmd, check=False, text=True,
                         stdout=subprocess.PIPE if capture else None,
                         stderr=subprocess.PIPE if capture else None)
    if check and res.returncode != 0:
        raise SystemExit("command failed (%d): %s\n%s" % (res.returncode, " ".join(cmd),
                                                          (res.stderr or "").strip()))
    return res


def podman_json(*args):
    out = run(["podman"] + list(args)).stdout.strip()
    return json.loads(out) if out else []


class Lab:
    def __init__(self, inventory):
        # One inventory source, or several merged in order (an overlay such as lab/inventory-vault.yml
        # adds hosts to inventories/lab: `--inventory inventories/lab --inventory lab/inventory-vault.yml`).
        sources = [inventory] if isinstance(inventory, str) else list(inventory)
        inventory = " + ".join(sources)
        data = json.loads(run(["ansible-inventory"] + [arg for src in sources for arg in ("-i", src)]
                              + ["--list"]).stdout)
        # The one platform model of the collection: placement, segments and the platform-wide
        # settings every host shares; a host in two tiers or with its own settings is refused.
        model, settings, errors = model_from_inventory_json(data, shared=LAB_SETTINGS)
        self.hosts = dict(sorted(data["_meta"]["hostvars"].items()))
        if not self.hosts:
            raise SystemExit("inventory %s has no hosts" % inventory)
        if errors:
            raise SystemExit("inventory %s is not a valid platform:\n- %s" % (inventory, "\n- ".join(errors)))

        self.tiers = settings["platform_tiers"]
        self.sites = settings["platform_sites"]
        self.segments = {key: [ipaddress.ip_network(str(n)) for n in nets]
                         for key, nets in model.segment_nets.items()}
        self.link = ipaddress.ip_network(settings["lab_link_cidr"])
        self.uplink = ipaddress.ip_network(settings["lab_uplink_cidr"])
        self.router_octet = int(settings.get("lab_router_octet", 254))
        self.host_sysctls = settings.get("lab_host_sysctls") or {}
        self.env = settings.get("platform_environment", "lab")
        self.placement = {h: (model.site_of[h], model.tier_of[h]) for h in self.hosts}
        self.cdn = self.cdn_settings(settings)

    def cdn_settings(self, settings):
        """The CDN network and its two addresses, or None when the inventory sets no lab_cdn_cidr.

        The network lies outside every platform segment (it stands for the internet), the CDN address
        inside platform_cdn_ranges, the internet client's outside them."""
        if not settings.get("lab_cdn_cidr"):
            return None
        net = ipaddress.ip_network(settings["lab_cdn_cidr"])
        cdn = ipaddress.ip_address(settings["lab_cdn_address"])
        internet = ipaddress.ip_address(settings["lab_internet_address"])
        ranges = [ipaddress.ip_network(str(r)) for r in settings.get("platform_cdn_ranges") or []]
        problems = ["lab_cdn_cidr %s overlaps segment %s.%s %s" % (net, site, tier, seg)
                    for (site, tier), segs in sorted(self.segments.items()) for seg in segs
                    if seg.version == net.version and seg.overlaps(net)]
        problems += ["lab_cdn_cidr %s overlaps lab_%s_cidr %s" % (net, name, other)
                     for name, other in (("link", self.link), ("uplink", self.uplink)) if other.overlaps(net)]
        if cdn not in net or internet not in net:
            problems.append("lab_cdn_address %s and lab_internet_address %s must lie in lab_cdn_cidr %s"
                            % (cdn, internet, net))
        if not any(cdn in r for r in ranges if r.version == cdn.version):
            problems.append("lab_cdn_address %s is not in platform_cdn_ranges %s" % (cdn, [str(r) for r in ranges]))
        if any(internet in r for r in ranges if r.version == internet.version):
            problems.append("lab_internet_address %s is in platform_cdn_ranges %s: it must stand for a client "
                            "outside the CDN" % (internet, [str(r) for r in ranges]))
        if problems:
            raise SystemExit("inventory: the lab's CDN network is not sound:\n- " + "\n- ".join(problems))
        return {"net": net, "cdn": str(cdn), "internet": str(internet), "router": str(net.network_address + self.router_octet),
                "site": self.used_sites()[0]}

    # --- naming ---------------------------------------------------------------------------
    @staticmethod
    def net_name(site, tier):
        return "%s-%s-%s" % (PREFIX, site, tier)

    @staticmethod
    def container(host):
        return "%s-%s" % (PREFIX, host)

    def v4(self, key):
        return [n for n in self.segments[key] if n.version == 4][0]

    def router_ip(self, key):
        return str(self.v4(key).network_address + self.router_octet)

    def link_ip(self, site):
        return str(self.link.network_address + 2 + self.sites.index(site))

    def uplink_ip(self, site):
        return str(self.uplink.network_address + 10 + self.sites.index(site))

    def used_sites(self):
        return sorted({site for site, unused_tier in self.placement.values()})

    def lab_networks(self):
        nets = {self.net_name(*k): v for k, v in self.segments.items() if k[0] in self.used_sites()}
        nets["%s-link" % PREFIX] = [self.link]
        nets["%s-uplink" % PREFIX] = [self.uplink]
        if self.cdn:
            nets["%s-cdn" % PREFIX] = [self.cdn["net"]]
        return nets

    # --- safety: never overlap the machine's own networks -------------------------------------
    def check_overlap(self):
        ours = {str(n) for nets in self.lab_networks().values() for n in nets}
        foreign = []
        for addr in json.loads(run(["ip", "-j", "addr"]).stdout):
            for info in addr.get("addr_info", []):
                if info.get("family") not in ("inet", "inet6") or info.get("scope") == "host":
                    continue
                net = ipaddress.ip_network("%s/%s" % (info["local"], info["prefixlen"]), strict=False)
                if str(net) not in ours:
                    foreign.append(("interface %s" % addr["ifname"], net))
        for family in ("-4", "-6"):
            for route in json.loads(run(["ip", family, "-j", "route"]).stdout):
                dst = route.get("dst", "")
                if dst in ("default", "") or dst.startswith("fe80"):
                    continue
                net = ipaddress.ip_network(dst if "/" in dst else dst + ("/32" if family == "-4" else "/128"),
                                           strict=False)
                if str(net) not in ours:
                    foreign.append(("route via %s" % route.get("dev", "?"), net))
        try:
            with open("/etc/resolv.conf", encoding="utf-8") as handle:
                for line in handle:
                    parts = line.split()
                    if len(parts) >= 2 and parts[0] == "nameserver":
                        foreign.append(("nameserver", ipaddress.ip_network(parts[1].split("%")[0])))
        except OSError:
            pass
        for net in podman_json("network", "ls", "--format", "json"):
            if net.get("labels", {}).get("sovereign.lab") == "1":
                continue
            for sub in net.get("subnets") or []:
                foreign.append(("podman network %s" % net["name"], ipaddress.ip_network(sub["subnet"])))
        problems = []
        for name, nets in self.lab_networks().items():
            for lab_net in nets:
                for what, other in foreign:
                    if lab_net.version == other.version and lab_net.overlaps(other):
                        problems.append("lab network %s (%s) overlaps %s (%s)" % (name, lab_net, what, other))
        if problems:
            raise SystemExit("refusing to build the lab: its CIDRs overlap this machine's networks:\n  "
                             + "\n  ".join(problems)
                             + "\nchange platform_segments / lab_*_cidr in inventories/lab")

    # --- up -----------------------------------------------------------------------------------
    def ensure_network(self, name, subnet, internal=False):
        existing = {n["name"]: n for n in podman_json("network", "ls", "--format", "json")}
        if name in existing:
            subnets = [s["subnet"] for s in existing[name].get("subnets") or []]
            if str(subnet) not in subnets:
                raise SystemExit("network %s exists with subnets %s, expected %s; run `scripts/lab down` first"
                                 % (name, subnets, subnet))
            return
        cmd = ["podman", "network", "create", "--label", LABEL, "--subnet", str(subnet)]
        if internal:
            # No NAT and no DNS from podman: the site routers route between segments, so
            # firewall rules see real source addresses; hosts use the machine's resolvers.
            cmd += ["--internal", "--disable-dns"]
        run(cmd + [name])
        log("network %s %s" % (name, subnet))

    def existing_containers(self):
        return {c["Names"][0]: c for c in podman_json("ps", "-a", "--filter", "label=" + LABEL, "--format", "json")}

    def router_script(self, site):
        uplink_gw = str(self.uplink.network_address + 1)
        peers = [s for s in self.used_sites() if s != site]
        lines = [
            "set -e",
            "while ip route del default 2>/dev/null; do :; done",
            "ip route add default via %s" % uplink_gw,
        ]
        for peer in peers:
            for (s, unused_tier), nets in sorted(self.segments.items()):
                if s != peer:
                    continue
                for net in nets:
                    if net.version == 4:
                        lines.append("ip route replace %s via %s" % (net, self.link_ip(peer)))
        lines += [
            "up=$(ip -o -4 addr show | awk '$4 ~ /^%s\\// {print $2}')" % self.uplink_ip(site).replace(".", "\\."),
            "nft -f - <<NFT",
            "table ip sovlab_nat {",
            "  chain postrouting { type nat hook postrouting priority 100; oifname \"$up\" masquerade; }",
            "}",
            "NFT",
            "exec sleep infinity",
        ]
        return "\n".join(lines)

    def up(self, image, router_image=None):
        self.check_overlap()
        for name, nets in self.lab_networks().items():
            for net in nets:
                self.ensure_network(name, net, internal=not name.endswith("-uplink"))
        existing = self.existing_containers()
        for name, info in sorted(existing.items()):
            if info["State"] == "running" and not os.path.exists("/proc/%s/ns/net" % info.get("Pid")):
                # podman's state outlived the processes (a machine restored from a disk snapshot keeps
                # /run, so podman still says "running" for a PID that is gone): made again from the image.
                log("%s: podman says running but its process %s is gone: removed, made again" % (name, info.get("Pid")))
                run(["podman", "rm", "-f", "-t", "0", name], check=False)
                if name in self.existing_containers():
                    raise SystemExit("%s: stale container could not be removed (podman rm -f failed)" % name)
                del existing[name]
        for site in self.used_sites():
            name = "%s-rtr-%s" % (PREFIX, site)
            if name in existing:
                if existing[name]["State"] != "running":
                    run(["podman", "start", name])
                self.connect_cdn(name, site)
                continue
            cmd = ["podman", "run", "-d", "--name", name, "--hostname", "rtr-" + site, "--label", LABEL,
                   "--cap-add", "NET_ADMIN,NET_RAW", "--sysctl", "net.ipv4.ip_forward=1",
                   "--network", "%s-uplink:ip=%s" % (PREFIX, self.uplink_ip(site)),
                   "--network", "%s-link:ip=%s" % (PREFIX, self.link_ip(site))]
            for (s, tier) in sorted(self.segments):
                if s == site:
                    cmd += ["--network", "%s:ip=%s" % (self.net_name(s, tier), self.router_ip((s, tier)))]
            if self.cdn and site == self.cdn["site"]:
                cmd += ["--network", "%s-cdn:ip=%s" % (PREFIX, self.cdn["router"])]
            cmd += ["--entrypoint", "/bin/sh", router_image or image, "-c", self.router_script(site)]
            run(cmd)
            log("router %s" % name)
        self.cdn_up(existing, router_image or image)
        for host in sorted(self.hosts):
            name = self.container(host)
            key = self.placement[host]
            if name in existing:
                if existing[name]["State"] != "running":
                    run(["podman", "start", name])
                    log("started %s" % name)
                continue  # sysctls are (re)applied below for every host
            address = self.hosts[host]["platform_address"]
            run(["podman", "run", "-d", "--name", name, "--hostname", host, "--label", LABEL,
                 "--label", "sovereign.lab.host=" + host, "--no-hosts",
                 "--cap-add", "NET_ADMIN,NET_RAW,AUDIT_WRITE,SYS_CHROOT",
                 "--network", "%s:ip=%s" % (self.net_name(*key), address),
                 "--env", "LAB_GATEWAY=" + self.router_ip(key), image])
            log("host %s (%s %s) %s" % (host, key[0], key[1], address))
        for host in sorted(self.hosts):
            self.apply_sysctls(host)
        self.wait()

    def connect_cdn(self, router, site):
        """A router made before the CDN network existed joins it (a lab that is up gains the CDN)."""
        if not self.cdn or site != self.cdn["site"]:
            return
        nets = podman_json("inspect", router)[0]["NetworkSettings"]["Networks"]
        if "%s-cdn" % PREFIX not in nets:
            run(["podman", "network", "connect", "--ip", self.cdn["router"], "%s-cdn" % PREFIX, router])
            log("router %s joined %s-cdn" % (router, PREFIX))

    def cdn_up(self, existing, image):
        """The CDN host: no systemd, no inventory host (it is the internet side). Its default route is the
        site router; its second address stands for an internet client outside the CDN ranges."""
        if not self.cdn:
            return
        name = self.container(CDN_HOST)
        if name in existing:
            if existing[name]["State"] != "running":
                run(["podman", "start", name])
            return
        script = "\n".join([
            "set -e",
            "ip addr add %s/%d dev eth0 2>/dev/null || true" % (self.cdn["internet"], self.cdn["net"].prefixlen),
            "while ip route del default 2>/dev/null; do :; done",
            "ip route add default via %s" % self.cdn["router"],
            "exec sleep infinity",
        ])
        run(["podman", "run", "-d", "--name", name, "--hostname", CDN_HOST, "--label", LABEL,
             "--label", "sovereign.lab.cdn=1", "--no-hosts", "--cap-add", "NET_ADMIN,NET_RAW",
             "--network", "%s-cdn:ip=%s" % (PREFIX, self.cdn["cdn"]),
             "--entrypoint", "/bin/sh", image, "-c", script])
        log("cdn host %s %s (internet client %s) via %s" % (name, self.cdn["cdn"], self.cdn["internet"], self.cdn["router"]))

    def apply_sysctls(self, host):
        """Set the host's net.* sysctls from outside, in a fixed order.

        /proc/sys is read-only inside a container and runc applies --sysctl values in no fixed
        order, while writing net.ipv4.ip_forward resets conf.all.accept_redirects in the kernel:
        so the lab enters the container's network namespace and writes ip_forward first.
        Applied again by every `up` (a restarted container gets a new namespace).
        """
        forward = 1 if self.placement[host][1] == "ai" else 0  # Kubernetes nodes route pod traffic
        values = [("net.ipv4.ip_forward", forward), ("net.ipv6.conf.all.forwarding", forward)]
        values += [(k, v) for k, v in self.host_sysctls.items() if k not in dict(values)]
        pid = run(["podman", "inspect", "-f", "{{.State.Pid}}", self.container(host)]).stdout.strip()
        run(["nsenter", "-t", pid, "-n", "sysctl", "-q", "-w"] + ["%s=%s" % kv for kv in values])

    def wait(self, timeout=90):
        deadline = time.time() + timeout
        pending = set(self.hosts)
        while pending and time.time() < deadline:
            for host in sorted(pending):
                state = run(["podman", "exec", self.container(host), "systemctl", "is-system-running"],
                            check=False).stdout.strip()
                if state in ("running", "degraded"):
                    pending.discard(host)
            if pending:
                time.sleep(1)
        if pending:
            raise SystemExit("hosts did not finish booting in %ds: %s" % (timeout, ", ".join(sorted(pending))))

    # --- down / status ------------------------------------------------------------------------
    @staticmethod
    def down():
        containers = [c["Names"][0] for c in podman_json("ps", "-a", "--filter", "label=" + LABEL, "--format", "json")]
        if containers:
            run(["podman", "rm", "-f", "-t", "0"] + containers)
            log("removed %d containers" % len(containers))
        nets = [n["name"] for n in podman_json("network", "ls", "--format", "json")
                if n.get("labels", {}).get("sovereign.lab") == "1"]
        if nets:
            run(["podman", "network", "rm"] + nets)
            log("removed %d networks" % len(nets))

    def status(self):
        existing = self.existing_containers()
        width = max(len(h) for h in self.hosts)
        for host in sorted(self.hosts):
            site, tier = self.placement[host]
            state = existing.get(self.container(host), {}).get("State", "absent")
            print("%-*s  %-4s %-10s %-15s %s" % (width, host, site, tier, self.hosts[host]["platform_address"], state))
        if self.cdn:
            print("%-*s  %-4s %-10s %-15s %s" % (width, CDN_HOST, "-", "cdn", self.cdn["cdn"],
                                                 existing.get(self.container(CDN_HOST), {}).get("State", "absent")))
        for site in self.used_sites():
            name = "%s-rtr-%s" % (PREFIX, site)
            print("%-*s  %-4s %-10s %-15s %s" % (width, "rtr-" + site, site, "router", self.link_ip(site),
                                                 existing.get(name, {}).get("State", "absent")))


def ensure_admin_key(secrets_dir):
    key = os.path.join(secrets_dir, "ssh", "ops_ed25519")
    if not os.path.exists(key):
        os.makedirs(os.path.dirname(key), mode=0o700, exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops@sovereign-lab", "-f", key])
        log("generated the lab admin key %s" % key)
    return key


def main():
    parser = argparse.ArgumentParser(prog="scripts/lab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "status", "check-overlap"])
    parser.add_argument("--inventory", action="append", default=None,
                        help="inventory source (default inventories/lab); repeat it to add an overlay, "
                             "e.g. --inventory inventories/lab --inventory lab/inventory-vault.yml")
    parser.add_argument("--image", default=None, help="image reference (default: built by lab/build-image)")
    parser.add_argument("--variant", choices=["golden", "minimal"],
                        default=os.environ.get("SOVEREIGN_LAB_IMAGE_VARIANT", "golden"),
                        help="which lab/build-image variant the hosts boot (default golden, or $SOVEREIGN_LAB_IMAGE_VARIANT)")
    args = parser.parse_args()
    if args.command == "down":
        Lab.down()
        return
    lab = Lab(args.inventory or [os.path.join(REPO, "inventories", "lab")])
    if args.command == "check-overlap":
        lab.check_overlap()
        print("no overlap")
    elif args.command == "status":
        lab.status()
    elif args.command == "up":
        secrets = os.environ.get("SOVEREIGN_SECRETS_DIR") or os.path.join(os.path.expanduser("~"), ".local", "share", "sovereign")
        ensure_admin_key(os.path.join(secrets, lab.env))
        build = os.path.join(REPO, "lab", "build-image")
        image = args.image or run([build, args.variant]).stdout.strip().splitlines()[-1]
        # The routers are lab plumbing, not hosts under test: they need nftables for their NAT
        # uplink, which only the golden image has.
        router_image = image if args.image or args.variant == "golden" else \
            run([build, "golden"]).stdout.strip().splitlines()[-1]
        lab.up(image, router_image)
        lab.status()


if __name__ == "__main__":
    main()
