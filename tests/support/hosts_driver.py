"""The control host's side of tests/system/test_hosts.py, run there by ``ip netns exec``.

The test process lives in the root namespace and cannot reach the LAN's addresses, so it
runs this on the control host to enqueue and to read what happened, and parses the JSON
it prints. The waits are the conftest System's own, so "one outcome per job" is read the
same way as on loopback. Settings come from the environment: the workers' ``CONFREC_*``
(broker, queue, stream) and ``HOSTS_SIM_ROOT``, the simulator's URL on the LAN.

    python -m tests.support.hosts_driver ready [--timeout S]
    python -m tests.support.hosts_driver enqueue CONFERENCE_ID...
    python -m tests.support.hosts_driver outcomes [--timeout S] JOB_ID...
    python -m tests.support.hosts_driver sim PATH
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import httpx
import redis

from confrec.worker.local.processes import wait_until
from tests.support.system import System


def control_system() -> System:
    env = {k: v for k, v in os.environ.items() if k.startswith("CONFREC_")}
    return System(Path.cwd(), env["CONFREC_BROKER_URL"], os.environ["HOSTS_SIM_ROOT"], env)


def answers(system: System) -> bool:
    """Both the broker and the simulator answer from here (the LAN carries traffic)."""
    try:
        system.client.ping()
        system.sim("/_sim/health")
    except (redis.RedisError, httpx.HTTPError):
        return False
    return True


def run(args: argparse.Namespace) -> Any:
    system = control_system()
    if args.command == "ready":
        wait_until(lambda: answers(system), args.timeout, "broker and simulator over the LAN")
        return {"ready": True}
    if args.command == "enqueue":
        return system.enqueue(args.ids)
    if args.command == "outcomes":
        found = system.outcomes(args.ids, timeout=args.timeout)
        return {job: [o.model_dump(mode="json") for o in outs] for job, outs in found.items()}
    return system.sim(args.path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="hosts_driver")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("ready").add_argument("--timeout", type=float, default=20)
    commands.add_parser("enqueue").add_argument("ids", nargs="+")
    outcomes = commands.add_parser("outcomes")
    outcomes.add_argument("--timeout", type=float, default=30)
    outcomes.add_argument("ids", nargs="+")
    commands.add_parser("sim").add_argument("path")
    print(json.dumps(run(parser.parse_args(argv))))


if __name__ == "__main__":
    main()
