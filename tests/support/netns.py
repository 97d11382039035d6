"""A private LAN of network namespaces, so system tests can run parts on separate hosts.

One namespace holds a Linux bridge (the switch); every host namespace is cabled to it by
a veth pair and has its own 10.x.y.k/24 address. Nothing is routed to or from the root
namespace, so the test's traffic stays on this LAN and a clash with another run's subnet
could not matter. Needs root and iproute2; ``Lan.remove`` deletes every namespace, which
also removes their veths.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field

#: Why a test on namespaces cannot run here.
NEEDS_ROOT = "needs root and iproute2 to create network namespaces"
#: Inside each host namespace its cable is called this.
HOST_IFACE = "eth0"


class NamespaceError(RuntimeError):
    """An ``ip`` command failed; the message has its stderr."""


def ip(*args: str) -> None:
    """Run ``ip ARGS`` (bounded), raising NamespaceError with its stderr when it fails."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)
    if done.returncode != 0:
        raise NamespaceError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def unavailable() -> str | None:
    """The reason namespaces cannot be made here, or None."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return NEEDS_ROOT
    return None


@dataclass(frozen=True)
class Host:
    """One host on the LAN: its namespace, address, and the switch port it is cabled to."""

    name: str
    netns: str
    address: str
    port: str

    def run(self, *argv: str) -> list[str]:
        """``argv`` as run on this host (``ip netns exec`` execs it: same pid and group)."""
        return ["ip", "netns", "exec", self.netns, *argv]


@dataclass
class Lan:
    """A switch namespace and the hosts cabled to it; all names carry the run's tag."""

    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    hosts: dict[str, Host] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)

    @property
    def subnet(self) -> str:
        """10.x.y (a /24) from the tag: another run's LAN picks another one."""
        n = int(self.tag, 16)
        return f"10.{100 + n % 150}.{(n >> 8) % 256}"

    @property
    def switch(self) -> str:
        return f"confrec-lan-{self.tag}"

    def _add_namespace(self, name: str) -> None:
        ip("netns", "add", name)
        self.namespaces.append(name)
        ip("-n", name, "link", "set", "lo", "up")

    def create(self) -> None:
        """The switch: a namespace holding bridge ``br0``."""
        self._add_namespace(self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")

    def add_host(self, name: str, octet: int) -> Host:
        """A namespace ``confrec-NAME-TAG`` at 10.x.y.OCTET, cabled to the switch."""
        host = Host(name, f"confrec-{name}-{self.tag}", f"{self.subnet}.{octet}", f"p-{name}")
        self._add_namespace(host.netns)
        peer = ["peer", "name", HOST_IFACE, "netns", host.netns]
        ip("-n", self.switch, "link", "add", host.port, "type", "veth", *peer)
        ip("-n", self.switch, "link", "set", host.port, "master", "br0", "up")
        ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", HOST_IFACE)
        ip("-n", host.netns, "link", "set", HOST_IFACE, "up")
        self.hosts[name] = host
        return host

    def cut(self, host: Host) -> None:
        """Unplug ``host`` at the switch: its packets vanish, nothing tells its sockets."""
        ip("-n", self.switch, "link", "set", host.port, "down")

    def remove(self) -> None:
        """Delete every namespace made (their veths go with them); never raises."""
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
        self.namespaces.clear()
