"""A /proc of the test's making, injected into a tracker as its reader (see
:class:`tractui.model.adopt.ProcReader`): the processes a test puts in it are all the tracker
sees, whatever PIDs they have and whatever runs on the machine."""

from __future__ import annotations

from tractui.events import ProcInfo
from tractui.kernel import procfs


def stat_line(pid: int, start: int, state: str, threads: int = 1, ppid: int = 1) -> procfs.Stat:
    """/proc/PID/stat as the kernel writes it, with the fields the tracker reads."""
    fields = [
        state,
        str(ppid),
        *["0"] * 15,
        str(threads),
        "0",
        str(start // procfs.NS_PER_TICK),
        "0",
        "0",
    ]
    return procfs.Stat(f"{pid} (sh) {' '.join(fields)}".encode())


class FakeProc:
    """Processes by pid: their stat lines (``stats``) and, for those a test adopts, their
    :class:`ProcInfo` (``infos``). A pid in neither has no process."""

    def __init__(self) -> None:
        self.stats: dict[int, procfs.Stat] = {}
        self.infos: dict[int, ProcInfo] = {}
        self.tgids: dict[int, int] = {}  # a thread's id -> its process's (others: their own)

    def run(self, info: ProcInfo) -> None:
        """A process runs as ``info`` says."""
        self.infos[info.pid] = info
        self.stats[info.pid] = stat_line(info.pid, info.start, info.state, ppid=info.ppid)

    def stat(self, pid: int) -> procfs.Stat | None:
        return self.stats.get(pid)

    def stat_if_present(self, pid: int) -> procfs.Stat | None:
        return self.stats.get(pid)

    def info(self, pid: int) -> ProcInfo | None:
        return self.infos.get(pid)

    def tgid(self, pid: int) -> int | None:
        if pid not in self.stats and pid not in self.infos:
            return None
        return self.tgids.get(pid, pid)

    def scan(self) -> dict[int, procfs.Stat]:
        return dict(self.stats)
