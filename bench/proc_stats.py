"""What /proc says about processes: CPU seconds and resident memory, children included
(so a prefork worker's pool counts), and how busy the whole machine was. No psutil."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (prefork pool children), from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(_stat_fields(int(entry))[1])
            except (OSError, IndexError, ValueError):
                continue
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found += kids
        frontier += kids
    return found


def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """utime+stime of ``pid`` (and its live descendants), seconds; 0 if it is gone."""
    total = 0.0
    for p in [pid, *(descendants(pid) if children else [])]:
        try:
            fields = _stat_fields(p)
            total += (int(fields[11]) + int(fields[12])) / _TICK
        except (OSError, IndexError, ValueError):
            continue
    return total


def _status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass(frozen=True)
class Memory:
    """Resident memory of a process tree, MiB: RSS double-counts pages children share
    with their parent (prefork), PSS splits them fairly."""

    rss_mib: float
    pss_mib: float
    processes: int


def memory(pid: int) -> Memory:
    pids = [pid, *descendants(pid)]
    rss = sum(_status_kib(p, "VmRSS") for p in pids)
    pss = sum(_pss_kib(p) for p in pids)
    return Memory(round(rss / 1024, 1), round(pss / 1024, 1), len(pids))


def peak_rss_mib(pid: int) -> float:
    """The highest RSS each process of the tree ever had (VmHWM), summed, MiB."""
    return round(sum(_status_kib(p, "VmHWM") for p in [pid, *descendants(pid)]) / 1024, 1)


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


@dataclass
class CpuMeter:
    """CPU seconds each named process tree (and this process, and the whole machine) used
    between ``start()`` and ``stop()``: shows who was busy and whether the box was full."""

    pids: dict[str, list[int]]
    _before: dict[str, float] = field(default_factory=dict)
    _self: float = 0.0
    _machine: tuple[float, float] = (0.0, 0.0)
    _t0: float = 0.0

    def _sample(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(p) for p in pids) for name, pids in self.pids.items()}

    def start(self) -> CpuMeter:
        self._before = self._sample()
        times = os.times()
        self._self = times.user + times.system
        self._machine = machine_busy()
        self._t0 = time.monotonic()
        return self

    def stop(self) -> dict[str, float]:
        """CPU seconds per tree plus ``bench`` (this process), ``wall``, ``machine_busy``
        (the share of all cores that were busy, anyone's processes included) and
        ``others_share`` (the share of all cores used by processes not measured here:
        other engineers' tests on this shared box — a run with a big one is suspect)."""
        after = self._sample()
        times = os.times()
        busy, total = machine_busy()
        result = {name: round(after[name] - self._before[name], 2) for name in after}
        result["bench"] = round(times.user + times.system - self._self, 2)
        result["wall"] = round(time.monotonic() - self._t0, 2)
        spent = total - self._machine[1]
        if spent:
            busy_s = (busy - self._machine[0]) / _TICK
            others = max(0.0, busy_s - sum(result[name] for name in after) - result["bench"])
            result["machine_busy"] = round((busy - self._machine[0]) / spent, 3)
            result["others_share"] = round(others / (spent / _TICK), 3)
        return result


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie)."""
    try:
        fields = _stat_fields(pid)
    except OSError:
        return False
    return bool(fields[0] != "Z")
