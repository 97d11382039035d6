"""A private RabbitMQ node as a real process, for the system tests and the benchmark.

Its own node name, ports, Erlang port mapper, data and log directories, all under one
work directory, so it never meets the machine's own RabbitMQ (5672) and two can run side
by side. The management plugin answers on its own port (a queue's type and arguments);
live queue depths come from ``rabbitmqctl``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from confrec.worker.local.processes import (
    ManagedProcess,
    StartError,
    free_port,
    ready_or_stop,
    spawn,
)

#: Debian puts the server's own scripts here; /usr/sbin/rabbitmq-server switches user.
RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
#: Queue statistics refresh interval (ms): the default 5 s would make depths stale.
STATS_INTERVAL_MS = 250


@dataclass(frozen=True)
class RabbitPorts:
    amqp: int
    management: int
    dist: int
    epmd: int

    @classmethod
    def free(cls) -> RabbitPorts:
        return cls(free_port(), free_port(), free_port(), free_port())


def rabbitmq_installed() -> bool:
    return (RABBITMQ_BIN / "rabbitmq-server").exists()


def rabbitmq_server_binary() -> Path:
    script = RABBITMQ_BIN / "rabbitmq-server"
    if not rabbitmq_installed():
        raise StartError(
            "rabbitmq-server is not installed: install Debian's package "
            "(apt-get install rabbitmq-server)"
        )
    return script


def _node_env(workdir: Path, ports: RabbitPorts) -> dict[str, str]:
    conf = workdir / "rabbitmq.conf"
    conf.write_text(
        f"listeners.tcp.default = 127.0.0.1:{ports.amqp}\n"
        f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {ports.management}\n"
        f"collect_statistics_interval = {STATS_INTERVAL_MS}\n"
    )
    advanced = workdir / "advanced.config"
    # Quorum queues report their counts on a tick (5 s by default), not per change.
    advanced.write_text(f"[{{rabbit, [{{quorum_tick_interval, {STATS_INTERVAL_MS}}}]}}].\n")
    plugins = workdir / "enabled_plugins"
    plugins.write_text("[rabbitmq_management].\n")
    return {
        "HOME": str(workdir),  # its own Erlang cookie
        "RABBITMQ_CONF_ENV_FILE": "/dev/null",  # not the machine node's name and flags
        "RABBITMQ_NODENAME": f"confrec-{ports.amqp}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(ports.amqp),
        "RABBITMQ_DIST_PORT": str(ports.dist),
        "ERL_EPMD_PORT": str(ports.epmd),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        "RABBITMQ_CONFIG_FILE": str(conf),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(advanced),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
        "RABBITMQ_MNESIA_BASE": str(workdir / "mnesia"),
        "RABBITMQ_LOG_BASE": str(workdir / "log"),
        "RABBITMQ_PID_FILE": str(workdir / "rabbitmq.pid"),
    }


class RabbitNode:
    """One node; ``start`` again after ``stop`` brings it back with its data (a restart)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.ports = RabbitPorts.free()
        self.proc: ManagedProcess | None = None
        self._env: dict[str, str] = {}
        self.url = f"amqp://guest:guest@127.0.0.1:{self.ports.amqp}//"
        self.api = f"http://127.0.0.1:{self.ports.management}/api"

    def start(self, timeout: float = 60) -> RabbitNode:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._env = env = _node_env(self.workdir, self.ports)
        self.proc = spawn(
            f"rabbitmq-{self.ports.amqp}", [str(rabbitmq_server_binary())], self.workdir, env
        )
        ready_or_stop(self.proc, self._answers, timeout, "rabbitmq-server")
        return self

    def stop(self, *, graceful: bool = True) -> None:
        """Stop the node: as an operator would (its data kept for ``start``), or at once
        (``graceful=False``: a crash, or the end of a node whose data is thrown away)."""
        if self.proc is not None:
            if graceful:
                self.proc.stop(timeout=30)
            else:
                self.proc.kill_group()
            self.proc = None
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(  # the node's own port mapper, started by it, goes with it
                ["epmd", "-port", str(self.ports.epmd), "-kill"],
                capture_output=True,
                timeout=10,
                check=False,
            )

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.api}/overview", auth=("guest", "guest"), timeout=1).is_success
        except httpx.HTTPError:
            return False

    def queue(self, name: str) -> dict[str, Any] | None:
        """The management API's view of a queue (type, arguments, counts), None if absent."""
        response = httpx.get(
            f"{self.api}/queues/{quote('/', safe='')}/{quote(name, safe='')}",
            auth=("guest", "guest"),
            timeout=5,
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def queue_counts(self, *names: str) -> dict[str, dict[str, int]]:
        """``{name: {"ready", "unacked"}}`` now (zeros for a queue not declared yet), from
        ``rabbitmqctl``: the management API's figures trail the queue by seconds (a
        quorum queue reports on a tick, the API aggregates on another) — too stale to
        tell that nothing is left to redeliver."""
        done = subprocess.run(
            [
                str(RABBITMQ_BIN / "rabbitmqctl"),
                *("list_queues", "-q", "--no-table-headers"),
                *("name", "messages_ready", "messages_unacknowledged"),
            ],
            env={**os.environ, **self._env},  # rabbitmqctl finds the node by these
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        listed = {}
        for line in done.stdout.splitlines():
            name, ready, unacked = line.rsplit("\t", 2)
            listed[name] = {"ready": int(ready), "unacked": int(unacked)}
        return {name: listed.get(name, {"ready": 0, "unacked": 0}) for name in names}
