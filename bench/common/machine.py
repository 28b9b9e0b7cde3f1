"""The machine the benchmarks load: its CPU time as a whole, and its limits on processes.

A process's own figures (CPU time, memory, threads) come from :mod:`tractui.kernel.procfs`.
"""

from __future__ import annotations

import gzip
import os
import re
import resource
from pathlib import Path

from tractui.kernel import procfs


def busy_ticks() -> int:
    """CPU time spent by the whole machine, all CPUs, from /proc/stat (clock ticks)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return user + nice + system + irq + softirq + steal


def kernel_hz() -> int | None:
    """The kernel's CONFIG_HZ (its tick rate), from its config where it is published; None if
    it is not."""
    for path, opener in (
        ("/proc/config.gz", gzip.open),
        (f"/boot/config-{os.uname().release}", open),
    ):
        try:
            with opener(path, "rt") as f:  # type: ignore[operator]
                found = re.search(r"^CONFIG_HZ=(\d+)$", f.read(), re.M)
        except OSError:
            continue
        if found:
            return int(found.group(1))
    return None


def prometheus_samples(text: str) -> dict[str, float]:
    """A Prometheus text exposition's samples: series (name and labels, as written) -> value."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            out[series] = float(value)
    return out


def read_int(path: str) -> int | None:
    """A file holding one number (a sysctl, a cgroup limit); None if absent or not a number."""
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def pids_max_of_cgroup() -> int | None:
    """The pids controller's limit on this process's cgroup (v1 or v2), None if unlimited."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _id, controllers, path = line.split(":", 2)
        for base in (
            f"/sys/fs/cgroup/pids{path}" if "pids" in controllers.split(",") else "",
            f"/sys/fs/cgroup{path}" if controllers == "" else "",
        ):
            if base:
                value = read_int(f"{base}/pids.max")
                if value is not None:
                    return value
    return None


def room_for(more: int, share: float = 1.0) -> tuple[bool, int, str]:
    """Whether ``more`` processes, on top of those running, fit within ``share`` of each limit
    on processes (pid_max, threads-max, the pids cgroup's, RLIMIT_NPROC but for root).
    Returns that, how many there would be, and the limits in words."""
    need = len(procfs.pids()) + more
    limits: list[tuple[str, int | None]] = [
        ("kernel.pid_max", read_int("/proc/sys/kernel/pid_max")),
        ("kernel.threads-max", read_int("/proc/sys/kernel/threads-max")),
        ("cgroup pids.max", pids_max_of_cgroup()),
    ]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[0]
    if os.geteuid() != 0:  # root is not held to RLIMIT_NPROC
        limits.append(("ulimit -u", None if nproc == resource.RLIM_INFINITY else nproc))
    ok = True
    parts = []
    for name, value in limits:
        parts.append(f"{name} {'unlimited' if value is None else f'{value:,}'}")
        if value is not None and value * share < need:
            ok = False
    parts.append(f"ulimit -n {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}")
    return ok, need, ", ".join(parts)
