"""Flower in the system tests: its credentials, a client, and whether it watches every worker."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from confrec.tasks.job import TASK_NAME
from confrec.worker.local.processes import ManagedProcess, worker_nodes
from tests.support.system import System

USER = "ops"
PASSWORD = f"pw-{uuid.uuid4().hex}"
AUTH = (USER, PASSWORD)


@dataclass
class Flower:
    root: str
    proc: ManagedProcess

    def get(self, path: str, auth: tuple[str, str] | None = AUTH, **params: str) -> httpx.Response:
        return httpx.get(f"{self.root}{path}", params=params, auth=auth, timeout=5)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def _sees_worker_events(flower: Flower, worker: ManagedProcess) -> bool:
    """Flower counts a worker online only from its heartbeat events: once it has one, it is
    subscribed to the event channel and will see every task event after it. A ``confrec
    worker`` is one node per process: every one must be seen, and send task events."""
    metrics = flower.get("/metrics", auth=None).text
    nodes = worker_nodes(worker)
    seen = all(f'flower_worker_online{{worker="{node}"}}' in metrics for node in nodes)
    return bool(nodes) and seen and worker.log().count(EVENTS_ENABLED) >= len(nodes)


#: What a worker logs when a monitor turns its task events on (Celery's enable_events).
EVENTS_ENABLED = "Events of group {task} enabled by remote."


def watching(flower: Flower, system: System) -> bool:
    """Flower is subscribed to every worker's events, and every worker sends task events:
    they are off until a monitor asks, and ``confrec flower`` asks every second."""
    return all(_sees_worker_events(flower, w) for w in system.workers)


def flower_tasks(flower: Flower) -> dict[str, Any]:
    response = flower.get("/api/tasks", taskname=TASK_NAME)
    assert response.status_code == 200, response.text
    tasks: dict[str, Any] = response.json()
    return tasks


#: Flower's state of a job, by the status of its outcome.
STATES = {"succeeded": "SUCCESS", "failed": "FAILURE"}


def job_states(flower: Flower, job_ids: list[str]) -> dict[str, str | None]:
    tasks = flower_tasks(flower)
    return {job_id: tasks.get(job_id, {}).get("state") for job_id in job_ids}


def table_rows(flower: Flower) -> dict[str, dict[str, Any]]:
    """The rows of the tasks table as the page gets them (``/tasks/datatable``, which runs
    ``confrec flower``'s formatting), by task id."""
    params: dict[str, str] = {
        "draw": "1",
        "start": "0",
        "length": "1000",
        "order[0][column]": "0",
        "order[0][dir]": "desc",
        "columns[0][data]": "received",
    }
    response = flower.get("/tasks/datatable", AUTH, **params)
    assert response.status_code == 200, response.text
    return {row["uuid"]: row for row in response.json()["data"]}
