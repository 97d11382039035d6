"""A local Redis Sentinel setup as real processes: a master, one replica, three sentinels.

For the tests and anyone trying ``sentinel://`` on one machine. Every sentinel has its
own config file (Sentinel rewrites it) in its own directory; the start waits, with
bounded polls, until each sentinel knows the master, the replica and the two other
sentinels, so that a failover can be agreed (quorum 2) as soon as the master dies.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from confrec.worker.local.processes import (
    ManagedProcess,
    StartError,
    free_port,
    redis_server_binary,
    spawn,
    start_redis,
    stop_all,
    wait_until,
)

#: Sentinel declares a master down after this long without an answer.
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000
SENTINELS = 3
QUORUM = 2


@dataclass
class SentinelCluster:
    """Handles on the processes; ``url()`` is the ``sentinel://`` URL of the three sentinels."""

    master_name: str
    master: ManagedProcess
    replica: ManagedProcess
    sentinels: list[ManagedProcess] = field(default_factory=list)
    password: str = ""

    def url(self) -> str:
        """kombu's form: the password (the master's) on the first part, database 0."""
        auth = f":{self.password}@" if self.password else ""
        parts = [f"127.0.0.1:{s.extra['port']}" for s in self.sentinels]
        return f"sentinel://{auth}" + ";sentinel://".join(parts) + "/0"

    def wait_for_failover(self, timeout: float = 30) -> int:
        """After the master died: wait until every live sentinel names the replica as the
        master, in a state redis-py's discovery accepts, and it accepts writes; returns
        its port. (One sentinel knows first; the others learn it a moment later.)"""
        old, new = int(self.master.extra["port"]), int(self.replica.extra["port"])
        live = [proc for proc in self.sentinels if proc.alive()]
        wait_until(
            lambda: all(_names_master(p, self.master_name, new) for p in live),
            timeout,
            f"failover off port {old}",
            0.1,
        )
        promoted = redis.Redis(port=new, password=self.password or None, socket_timeout=1)
        wait_until(lambda: _role(promoted) == "master", timeout, f"port {new} promoted", 0.1)
        return new

    def stop(self) -> None:
        stop_all([*self.sentinels, self.replica, self.master])


def _role(client: redis.Redis) -> str | None:
    try:
        return str(client.info("replication")["role"])
    except redis.RedisError:
        return None


def _start_replica(workdir: Path, master_port: int, password: str) -> ManagedProcess:
    port = free_port()
    argv = [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    argv += [
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--replicaof",
        "127.0.0.1",
        str(master_port),
    ]
    if password:
        argv += ["--requirepass", password, "--masterauth", password]
    proc = spawn(f"replica-{port}", argv, workdir)
    proc.extra["port"] = str(port)
    client = redis.Redis(port=port, password=password or None, socket_timeout=1)

    def in_sync() -> bool:
        try:
            return client.info("replication").get("master_link_status") == "up"
        except redis.RedisError:
            return False

    wait_until(in_sync, 15, f"replica on port {port} in sync (log {proc.log_path})")
    return proc


def _start_sentinel(workdir: Path, name: str, master_port: int, password: str) -> ManagedProcess:
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "sentinel.conf"
    lines = [
        f"port {port}",
        "bind 127.0.0.1",
        f"dir {workdir}",
        f"sentinel monitor {name} 127.0.0.1 {master_port} {QUORUM}",
        f"sentinel down-after-milliseconds {name} {DOWN_AFTER_MS}",
        f"sentinel failover-timeout {name} {FAILOVER_TIMEOUT_MS}",
        f"sentinel parallel-syncs {name} 1",
        *([f"sentinel auth-pass {name} {password}"] if password else []),
    ]
    conf.write_text("\n".join(lines) + "\n")
    conf.chmod(0o600)  # it may hold the master's password
    proc = spawn(f"sentinel-{port}", [redis_server_binary(), str(conf), "--sentinel"], workdir)
    proc.extra["port"] = str(port)
    return proc


def _sentinel(proc: ManagedProcess) -> redis.Redis:
    return redis.Redis(port=int(proc.extra["port"]), socket_timeout=1, decode_responses=True)


def _names_master(proc: ManagedProcess, name: str, port: int) -> bool:
    try:
        with _sentinel(proc) as client:
            state = client.sentinel_master(name)
    except redis.RedisError:
        return False
    down = state.get("is_sdown") or state.get("is_odown")
    return int(state.get("port", 0)) == port and bool(state.get("is_master")) and not down


def _knows_everyone(proc: ManagedProcess, name: str) -> bool:
    try:
        with _sentinel(proc) as client:
            master = client.sentinel_master(name)
            replicas = client.sentinel_slaves(name)
    except redis.RedisError:
        return False
    return int(master.get("num-other-sentinels", 0)) == SENTINELS - 1 and len(replicas) == 1


def start_sentinel_cluster(
    workdir: Path, master_name: str = "mymaster", *, password: str = ""
) -> SentinelCluster:
    """Master, replica and three sentinels on free loopback ports, ready for a failover.
    A part that does not come up stops everything started so far."""
    master = start_redis(workdir / "master", password=password)
    master.extra["port"] = master.extra["url"].rsplit(":", 1)[1].split("/")[0]
    cluster = SentinelCluster(master_name, master, master, password=password)
    try:
        cluster.replica = _start_replica(workdir / "replica", int(master.extra["port"]), password)
        for i in range(SENTINELS):
            cluster.sentinels.append(
                _start_sentinel(
                    workdir / f"sentinel{i}", master_name, int(master.extra["port"]), password
                )
            )
        for proc in cluster.sentinels:
            wait_until(
                lambda p=proc: _knows_everyone(p, master_name),  # type: ignore[misc]
                20,
                f"sentinel {proc.extra['port']} seeing master, replica, peers ({proc.log_path})",
                0.1,
            )
    except (StartError, OSError):
        cluster.stop()
        raise
    return cluster


@contextmanager
def sentinel_cluster(
    workdir: Path, master_name: str = "mymaster", *, password: str = ""
) -> Iterator[SentinelCluster]:
    """``start_sentinel_cluster``, stopped on exit."""
    cluster = start_sentinel_cluster(workdir, master_name, password=password)
    try:
        yield cluster
    finally:
        cluster.stop()
