"""Raw /proc reads: one process at an instant, and whole-system scans.

Raw reads cost ~30 us a process against psutil's ~100 us (README); the collector reads at
every exec, before a short-lived program is gone, so this path stays raw.
"""

from __future__ import annotations

import os
import pwd
import time

from tractui.events import ProcInfo

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
NS_PER_TICK = 1_000_000_000 // CLK_TCK
PF_KTHREAD = 0x00200000
# Starts from /proc (clock ticks) and from events (ns) agree to within this much.
START_TOLERANCE_NS = 2 * NS_PER_TICK


def boot_offset_ns() -> int:
    """CLOCK_BOOTTIME minus CLOCK_MONOTONIC: add it to an event timestamp to compare with /proc."""
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME) - time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def same_start(a: int, b: int) -> bool:
    return abs(a - b) <= START_TOLERANCE_NS


class Stat:
    """The fields of /proc/PID/stat that tractui uses."""

    __slots__ = (
        "comm",
        "cstime",
        "cutime",
        "flags",
        "nice",
        "ppid",
        "rss_kb",
        "start",
        "state",
        "threads",
        "utime_stime",
    )

    def __init__(self, raw: bytes) -> None:
        # comm may hold spaces and parentheses: it ends at the last ')'
        close = raw.rindex(b")")
        self.comm = raw[raw.index(b"(") + 1 : close].decode("utf-8", "replace")
        rest = raw[close + 2 :].split()
        self.state = rest[0].decode()
        self.ppid = int(rest[1])
        self.flags = int(rest[6])
        self.utime_stime = int(rest[11]) + int(rest[12])  # ticks
        # the CPU of the children it reaped (waited for), their own reaped ones' included:
        # what wait4() returned of them, in ticks (fields 16 and 17)
        self.cutime = int(rest[13])
        self.cstime = int(rest[14])
        self.nice = int(rest[16])
        self.threads = int(rest[17])
        self.start = int(rest[19]) * NS_PER_TICK
        self.rss_kb = int(rest[21]) * PAGE_KB

    @property
    def ended(self) -> bool:
        """A zombie or dead: its exit was already reported. (A leader thread that exited
        while other threads run also shows Z: that process lives on.)"""
        return self.state in ("Z", "X") and self.threads <= 1


def read_stat(pid: int) -> Stat | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return Stat(f.read())
    except (OSError, ValueError, IndexError):
        return None


def read_task_stats(pid: int) -> dict[int, Stat]:
    """The stat of each thread of process ``pid`` (/proc/PID/task/TID/stat), by thread id;
    empty if it is gone. Each thread's ``utime_stime`` is its own CPU time."""
    out: dict[int, Stat] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
                out[int(tid)] = Stat(f.read())
        except (OSError, ValueError, IndexError):
            continue
    return out


def read_start(pid: int) -> int | None:
    """The process's start time (ns since boot), or None if it is gone."""
    stat = read_stat(pid)
    return stat.start if stat is not None else None


def _status_number(pid: int | str, field: bytes) -> int | None:
    """A numeric field of /proc/PID/status (the first number after ``field``), None if gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def read_status(pid: int | str) -> dict[str, str]:
    """/proc/PID/status as field name -> its text ("VmRSS" -> "1234 kB"); empty if it is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return {}
    out: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            out[name] = value.strip()
    return out


def read_tgid(pid: int) -> int | None:
    """The process a task id belongs to (differs from ``pid`` for a thread), None if gone."""
    return _status_number(pid, b"Tgid:")


def read_argv(pid: int) -> tuple[str, ...]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return ()
    if not raw:
        return ()
    return tuple(part.decode("utf-8", "replace") for part in raw.rstrip(b"\0").split(b"\0"))


def read_exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def read_uid(pid: int) -> int:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return -1


def read_info(pid: int) -> ProcInfo | None:
    """Everything tractui keeps about a process, read now; None if it is already gone."""
    stat = read_stat(pid)
    if stat is None:
        return None
    kthread = bool(stat.flags & PF_KTHREAD)
    argv = () if kthread else read_argv(pid)
    exe = "" if kthread else read_exe(pid)
    uid = read_uid(pid)
    return ProcInfo(
        pid=pid,
        start=stat.start,
        ppid=stat.ppid,
        comm=stat.comm,
        argv=argv,
        exe=exe,
        uid=uid,
        threads=stat.threads,
        state=stat.state,
        kthread=kthread,
        cut_ticks=(stat.cutime, stat.cstime),
        # after the last read: an exec stamped before this may show in any of them
        read_ns=time.monotonic_ns(),
    )


def mem_total_kb() -> int:
    """MemTotal of /proc/meminfo, in kB (what MEM% is a share of); 0 if it cannot be read."""
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemTotal:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def peak_rss_kb(pid: int | str = "self") -> int:
    """VmHWM: peak resident memory. (ru_maxrss would carry over the peak of whoever exec'd us.)"""
    return _status_number(pid, b"VmHWM:") or 0


class UserNames:
    """uid -> user name, cached: each pwd lookup reads /etc/passwd."""

    def __init__(self) -> None:
        self._names: dict[int, str] = {}

    def name(self, uid: int) -> str:
        name = self._names.get(uid)
        if name is None:
            try:
                name = pwd.getpwuid(uid).pw_name
            except KeyError:
                name = str(uid) if uid >= 0 else "?"
            self._names[uid] = name
        return name


def pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def scan() -> dict[int, Stat]:
    """Every process now, by pid (kernel threads included)."""
    out: dict[int, Stat] = {}
    for pid in pids():
        stat = read_stat(pid)
        if stat is not None:
            out[pid] = stat
    return out


def descendants(root: int, table: dict[int, Stat] | None = None) -> list[int]:
    """Current descendants of ``root`` by today's parent pointers, parents before children."""
    table = scan() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, stat in table.items():
        children.setdefault(stat.ppid, []).append(pid)
    out: list[int] = []
    stack = sorted(children.get(root, []), reverse=True)
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack.extend(sorted(children.get(pid, []), reverse=True))
    return out
