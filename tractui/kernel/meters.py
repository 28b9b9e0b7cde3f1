"""The meters at the top, as htop shows them: per-CPU use, memory and swap, load average, tasks.

Four small files a reading, whatever the number of processes: ``/proc/stat`` (per-CPU times,
the running count), ``/proc/meminfo``, ``/proc/loadavg`` (its running/total is the kernel's
count of tasks, threads included) and ``/proc/uptime``. Never a walk of ``/proc``. CPU use is
the change of the times between two readings, so the first reading shows none.

No Textual here: the session reads, the snapshot carries a :class:`Meters`, a widget draws it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """One line of /proc/stat: clock ticks spent in each state since boot."""

    user: int  # user + nice
    system: int  # system + irq + softirq
    idle: int  # idle + iowait
    other: int  # steal (guest time is already counted in user)

    @property
    def total(self) -> int:
        return self.user + self.system + self.idle + self.other


@dataclass(frozen=True, slots=True)
class CpuUse:
    """The share of one CPU's time in each state between two readings (0.0 to 1.0)."""

    user: float
    system: float
    other: float

    @property
    def busy(self) -> float:
        return min(1.0, self.user + self.system + self.other)


IDLE = CpuUse(0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Memory:
    """/proc/meminfo, in KiB, as htop counts it: used is what neither the free memory, the
    buffers nor the page cache (reclaimable slabs in, shared memory out) holds."""

    total_kb: int
    used_kb: int
    buffers_kb: int
    cached_kb: int
    available_kb: int
    swap_total_kb: int
    swap_used_kb: int


@dataclass(frozen=True, slots=True)
class Load:
    """/proc/loadavg: the three load averages and the kernel's task counts (threads too)."""

    one: float
    five: float
    fifteen: float
    running: int
    tasks: int


@dataclass(frozen=True, slots=True)
class Meters:
    """One reading of every meter; a part that could not be read is None (or empty)."""

    cpus: tuple[CpuUse, ...]  # one per CPU, in the kernel's order
    cpu: CpuUse  # all CPUs together
    memory: Memory | None
    load: Load | None
    uptime_s: float | None
    blocked: int | None = None  # tasks waiting on I/O (procs_blocked)


def parse_stat(text: str) -> tuple[CpuTimes | None, tuple[CpuTimes, ...], int | None]:
    """The all-CPU line, each CPU's line and procs_blocked of a /proc/stat text. A line that
    cannot be read is left out (ValueError never escapes)."""
    total: CpuTimes | None = None
    cpus: list[CpuTimes] = []
    blocked: int | None = None
    for line in text.splitlines():
        if line.startswith("cpu"):
            name, _, rest = line.partition(" ")
            times = _cpu_times(rest.split())
            if times is None:
                continue
            if name == "cpu":
                total = times
            else:
                cpus.append(times)
        elif line.startswith("procs_blocked "):
            blocked = _int(line.split()[1])
    return total, tuple(cpus), blocked


def _cpu_times(fields: list[str]) -> CpuTimes | None:
    values = [_int(f) for f in fields[:8]]
    if len(values) < 4 or any(v is None for v in values):
        return None
    v = [x or 0 for x in values] + [0] * (8 - len(values))
    user, nice, system, idle, iowait, irq, softirq, steal = v
    return CpuTimes(user + nice, system + irq + softirq, idle + iowait, steal)


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def cpu_use(before: CpuTimes | None, now: CpuTimes) -> CpuUse:
    """The share of each state between two readings of one CPU (no CPU use if no earlier
    reading, or if the counters went back: a CPU taken offline and back)."""
    if before is None:
        return IDLE
    elapsed = now.total - before.total
    if elapsed <= 0:
        return IDLE
    user = max(0, now.user - before.user) / elapsed
    system = max(0, now.system - before.system) / elapsed
    other = max(0, now.other - before.other) / elapsed
    return CpuUse(user, system, other)


def parse_meminfo(text: str) -> Memory | None:
    """Memory and swap from a /proc/meminfo text; None without MemTotal."""
    kb: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        fields = rest.split()
        if fields:
            value = _int(fields[0])
            if value is not None:
                kb[name] = value
    total = kb.get("MemTotal")
    if not total:
        return None
    free = kb.get("MemFree", 0)
    buffers = kb.get("Buffers", 0)
    cached = max(0, kb.get("Cached", 0) + kb.get("SReclaimable", 0) - kb.get("Shmem", 0))
    used = max(0, total - free - buffers - cached)
    swap_total = kb.get("SwapTotal", 0)
    swap_used = max(0, swap_total - kb.get("SwapFree", 0) - kb.get("SwapCached", 0))
    return Memory(
        total_kb=total,
        used_kb=used,
        buffers_kb=buffers,
        cached_kb=cached,
        available_kb=kb.get("MemAvailable", free),
        swap_total_kb=swap_total,
        swap_used_kb=swap_used,
    )


def parse_loadavg(text: str) -> Load | None:
    """``0.52 0.31 0.20 2/345 12345``: the averages and running/total tasks; None if not so."""
    fields = text.split()
    try:
        running, _, tasks = fields[3].partition("/")
        return Load(float(fields[0]), float(fields[1]), float(fields[2]), int(running), int(tasks))
    except (IndexError, ValueError):
        return None


def parse_uptime(text: str) -> float | None:
    try:
        return float(text.split()[0])
    except (IndexError, ValueError):
        return None


class MeterReader:
    """Reads the meters; keeps the last CPU times, for the use between two readings."""

    def __init__(self, proc: Path | str = "/proc") -> None:
        self.proc = Path(proc)
        self._total: CpuTimes | None = None
        self._cpus: tuple[CpuTimes, ...] = ()

    def _read(self, name: str) -> str:
        try:
            return (self.proc / name).read_text(errors="replace")
        except OSError:
            return ""  # a meter that cannot be read is shown as missing, never an error

    def read(self) -> Meters:
        total, cpus, blocked = parse_stat(self._read("stat"))
        before = self._cpus if len(self._cpus) == len(cpus) else ()
        uses = tuple(cpu_use(before[i] if before else None, times) for i, times in enumerate(cpus))
        average = cpu_use(self._total, total) if total is not None else IDLE
        self._total, self._cpus = total, cpus
        return Meters(
            cpus=uses,
            cpu=average,
            memory=parse_meminfo(self._read("meminfo")),
            load=parse_loadavg(self._read("loadavg")),
            uptime_s=parse_uptime(self._read("uptime")),
            blocked=blocked,
        )
