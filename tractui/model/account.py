"""A process's (or a group's) kernel account: the sums of its tasks' taskstats records.

The kernel sends one record per exiting task (thread or process). A process's CPU time, storage
I/O, context switches and page faults are the sums of its tasks' records; its peak RSS is their
maximum (the threads share one mm, so each record's ``hiwater_rss`` is the process's). A group's
account of its ended members merges theirs the same way, and counts them in ``processes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tractui.kernel.taskstats import TaskRecord

# the kernel's counters are u64: a larger value is no account (and would overflow the floats
# the UI shows it through)
LIMIT = 1 << 64

_FIELDS = (
    "utime_us",
    "stime_us",
    "peak_rss_kib",
    "read_bytes",
    "write_bytes",
    "nvcsw",
    "nivcsw",
    "processes",
    "minflt",
    "majflt",
)


# Account.to_json's keys, in its order
_JSON_TEXT = (
    '{"cpu_user_s":%r,"cpu_system_s":%r,"peak_rss_kib":%d,"read_bytes":%d,"write_bytes":%d,'
    '"ctx_switches":%d,"voluntary_ctx_switches":%d,"involuntary_ctx_switches":%d,'
    '"processes":%d,"minor_page_faults":%d,"major_page_faults":%d}'
)


@dataclass(slots=True)
class Account:
    """A process's (or a group's) exact kernel account: sums of taskstats records."""

    utime_us: int = 0
    stime_us: int = 0
    peak_rss_kib: int = 0  # max, not sum
    read_bytes: int = 0  # storage I/O (read_bytes/write_bytes of taskstats)
    write_bytes: int = 0
    nvcsw: int = 0
    nivcsw: int = 0
    processes: int = 0  # for group totals: ended processes counted in
    minflt: int = 0  # page faults: minor (no I/O), major (read from storage)
    majflt: int = 0

    def add_record(self, rec: TaskRecord) -> None:
        """One task's record: its times, I/O and switches summed, its peak RSS maxed.

        The CPU time is the task's run time (``run_ns``, its sum_exec_runtime), split into
        user and system in the ratio of the tick samples ``utime``/``stime``, as getrusage()
        and wait4() split theirs (the kernel's cputime_adjust). The samples alone miss a
        process that ran between two ticks (a 1 ms ``sh`` shows 0); a record without
        ``run_ns`` (an older kernel) counts them as they are. The run time is read at
        taskstats_exit(), as the scheduler last updated it (at a tick or a switch), before the
        rest of the exit: a record lacks its process's last moments (~1 ms here), which a
        group's CPU adds from what its reaper was given (:mod:`tractui.model.reaped`)."""
        run_ns = rec.run_ns
        if run_ns <= 0:
            self.utime_us += rec.utime_us
            self.stime_us += rec.stime_us
        else:
            utime, stime = rec.utime_us, rec.stime_us
            if stime == 0:
                system = 0
            elif utime == 0:
                system = run_ns
            else:
                system = run_ns * stime // (utime + stime)
            self.utime_us += (run_ns - system) // 1000
            self.stime_us += system // 1000
        if rec.hiwater_rss_kib > self.peak_rss_kib:
            self.peak_rss_kib = rec.hiwater_rss_kib
        self.read_bytes += rec.read_bytes
        self.write_bytes += rec.write_bytes
        self.nvcsw += rec.nvcsw
        self.nivcsw += rec.nivcsw
        self.minflt += rec.minflt
        self.majflt += rec.majflt

    def merge(self, other: Account) -> None:
        """Another account summed in (peak RSS maxed, ``processes`` summed)."""
        self.utime_us += other.utime_us
        self.stime_us += other.stime_us
        if other.peak_rss_kib > self.peak_rss_kib:
            self.peak_rss_kib = other.peak_rss_kib
        self.read_bytes += other.read_bytes
        self.write_bytes += other.write_bytes
        self.nvcsw += other.nvcsw
        self.nivcsw += other.nivcsw
        self.processes += other.processes
        self.minflt += other.minflt
        self.majflt += other.majflt

    def unmerge(self, other: Account) -> None:
        """Take back what :meth:`merge` added: all but the peak (a maximum, kept)."""
        self.utime_us -= other.utime_us
        self.stime_us -= other.stime_us
        self.read_bytes -= other.read_bytes
        self.write_bytes -= other.write_bytes
        self.nvcsw -= other.nvcsw
        self.nivcsw -= other.nivcsw
        self.processes -= other.processes
        self.minflt -= other.minflt
        self.majflt -= other.majflt

    @property
    def cpu_user_s(self) -> float:
        return self.utime_us / 1e6

    @property
    def cpu_system_s(self) -> float:
        return self.stime_us / 1e6

    @property
    def cpu_s(self) -> float:
        return (self.utime_us + self.stime_us) / 1e6

    @property
    def ctx_switches(self) -> int:
        return self.nvcsw + self.nivcsw

    def json_text(self) -> str:
        """:meth:`to_json` as compact JSON text, the same to the byte as ``json`` makes it
        (floats as ``repr``, as ``json`` writes them), 4x faster: an ended member's account is
        written with each line of it (its journal line, its history line, the saves), and
        encoding the dict was most of the time a member's line took (bench/meters/event_cost)."""
        return _JSON_TEXT % (
            round(self.utime_us / 1e6, 6),
            round(self.stime_us / 1e6, 6),
            self.peak_rss_kib,
            self.read_bytes,
            self.write_bytes,
            self.nvcsw + self.nivcsw,
            self.nvcsw,
            self.nivcsw,
            self.processes,
            self.minflt,
            self.majflt,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "cpu_user_s": round(self.utime_us / 1e6, 6),
            "cpu_system_s": round(self.stime_us / 1e6, 6),
            "peak_rss_kib": self.peak_rss_kib,
            "read_bytes": self.read_bytes,
            "write_bytes": self.write_bytes,
            "ctx_switches": self.nvcsw + self.nivcsw,
            "voluntary_ctx_switches": self.nvcsw,
            "involuntary_ctx_switches": self.nivcsw,
            "processes": self.processes,
            "minor_page_faults": self.minflt,
            "major_page_faults": self.majflt,
        }

    @classmethod
    def from_json(cls, m: Any) -> Account:
        """The inverse of :meth:`to_json`; ValueError (saying what) for anything else. Every
        field is optional (0): the page faults came later than the rest."""
        if not isinstance(m, dict):
            raise ValueError(f"bad account {m!r}: expected an object")
        values = []
        for name in ("cpu_user_s", "cpu_system_s"):
            v = m.get(name, 0)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < 1e12:
                raise ValueError(f"bad account field {name!r}: {_shown(v)}: expected seconds >= 0")
            values.append(round(v * 1e6))
        for name in (
            "peak_rss_kib",
            "read_bytes",
            "write_bytes",
            "voluntary_ctx_switches",
            "involuntary_ctx_switches",
            "processes",
            "minor_page_faults",
            "major_page_faults",
        ):
            v = m.get(name, 0)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < LIMIT:
                raise ValueError(
                    f"bad account field {name!r}: {_shown(v)}: expected an integer 0 to 2**64-1"
                )
            values.append(v)
        utime, stime, rss, rd, wr, nv, niv, processes, minflt, majflt = values
        return cls(utime, stime, rss, rd, wr, nv, niv, processes, minflt, majflt)

    def copy(self) -> Account:
        return Account(*(getattr(self, name) for name in _FIELDS))


def _shown(value: Any) -> str:
    """A value in an error line: its repr, cut short (a number can have thousands of digits)."""
    if isinstance(value, int) and value.bit_length() > 128:  # repr may refuse: too many digits
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
