"""Fork-storm benchmark: tractui trace against forkstat, listening to the same storm.

    .venv/bin/python bench/storm/run.py [--n 50000] [--runs 3] [--mode vfork|fork]

Builds bench/storm/storm.c into bench/out/, makes sure forkstat is installed (apt-get), and per
run: starts forkstat in the background, runs ``tractui trace --json -o FILE -- storm N``, stops
forkstat, and compares what each saw of the storm's N children. tractui reads the kernel's exit
records (taskstats) beside the events when it can: their count and loss are printed too, and
the peak fill of the collector's two sockets. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common.report import ratio, table
from bench.common.tools import compile_c, ensure_program, say, tractui_command
from tractui.events import DEFAULT_RCVBUF
from tractui.kernel import procfs

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT = REPO / "bench" / "out"
SOURCE = HERE / "storm.c"
STORM = OUT / "storm"

MAX_N = 2_000_000  # storm.c refuses more
TARGET_LOST = 0  # on a 50,000-child vfork storm
TARGET_CPU_US = 5.0  # collector CPU per event
TARGET_RSS_MIB = 20.0  # collector peak RSS
NETLINK_CONNECTOR = 11
NETLINK_GENERIC = 16  # the taskstats socket
SAMPLE_S = 0.02  # how often the collector's socket queues are sampled
FORKSTAT_OPTS = "-e fork -S"  # print forks (parent and child lines), tally per parent at the end
TRACE_TIMEOUT = 300.0  # the storm itself stops after 120 s (alarm)

STORM_LINE = re.compile(r"storm: (\d+) children by (\w+) in ([\d.]+) s \((\d+) forks/s\)")


# ---- set-up ----------------------------------------------------------------------------------


def build() -> Path:
    return compile_c(SOURCE, STORM)


# Which tractui the runs measure (the one ``tractui_command()`` imports: PYTHONPATH first), and
# its bytecode compiled, as an installed tractui's is. Without .pyc files (PYTHONDONTWRITEBYTECODE
# set, or a read-only checkout) each start compiles tractui from source, and the collector's
# peak RSS carries that: 17.1 MiB idle, against 15.9 MiB with them.
COMPILE = (
    "import compileall, os, sys, tractui\n"
    "root = os.path.dirname(tractui.__file__)\n"
    "compileall.compile_dir(root, quiet=1)\n"
    "print(root)\n"
)


def compile_tractui() -> str:
    done = subprocess.run(
        [sys.executable, "-c", COMPILE], capture_output=True, text=True, check=False, cwd="/"
    )
    if done.returncode != 0:
        return f"(could not compile: {done.stderr.strip()[-200:]})"
    return done.stdout.strip()


# ---- forkstat --------------------------------------------------------------------------------


@dataclass
class ForkstatResult:
    children: int = 0  # fork events tallied for the storm process (kernel's parent pid)
    printed_parent: int = 0  # fork lines whose printed parent is the root (read from /proc)
    nobufs: int = 0  # "nobufs" lines: recv() said ENOBUFS (the kernel dropped events)
    drops: int | None = None  # the socket's drop counter, /proc/net/netlink
    cpu_s: float = 0.0
    maxrss_kb: int = 0  # VmHWM just before it stopped
    tally: bool = False  # it printed its end-of-run tally


def netlink_socket(pid: int) -> dict[str, int] | None:
    """The connector socket bound by ``pid`` in /proc/net/netlink: its Rmem and Drops."""
    try:
        lines = Path("/proc/net/netlink").read_text().splitlines()
    except OSError:
        return None
    header = lines[0].split()
    for line in lines[1:]:
        row = dict(zip(header, line.split(), strict=False))
        if row.get("Eth") == str(NETLINK_CONNECTOR) and row.get("Pid") == str(pid):
            return {"rmem": int(row["Rmem"]), "drops": int(row["Drops"])}
    return None


class Forkstat:
    """forkstat listening in the background, its output in a file."""

    def __init__(self, program: str, opts: list[str], log: Path) -> None:
        self.cmd = [program, *opts]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                self.cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,  # fully buffered: its printing costs it as little as it can
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C here is for us; we stop it ourselves
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                text = self.log.read_text(errors="replace").strip()
                raise RuntimeError(f"forkstat exited at start ({self.proc.returncode}): {text}")
            if netlink_socket(self.proc.pid) is not None:
                time.sleep(0.3)  # bound; the subscription follows at once
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"forkstat did not open its netlink socket within {timeout:.0f} s")

    def stop(self) -> ForkstatResult:
        """SIGINT (it then prints its tally), by PID; collect CPU and peak memory."""
        result = ForkstatResult()
        proc, self.proc = self.proc, None
        if proc is None:
            return result
        sock = netlink_socket(proc.pid)
        result.drops = sock["drops"] if sock is not None else None
        # VmHWM, not wait4's ru_maxrss: that one also counts the memory of the process that
        # spawned it (the kernel carries the old mm's high-water mark across execve).
        result.maxrss_kb = procfs.peak_rss_kb(proc.pid)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)
        usage = _wait4(proc, timeout=10.0)
        if usage is not None:
            result.cpu_s = usage.ru_utime + usage.ru_stime
        return result


def _wait4(proc: subprocess.Popen[bytes], timeout: float) -> resource.struct_rusage | None:
    """Wait for ``proc`` (SIGKILL after ``timeout``) and return its own resource usage."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        except ChildProcessError:  # reaped already
            return None
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage
        if time.monotonic() > deadline:
            os.kill(proc.pid, signal.SIGKILL)
            deadline = time.monotonic() + 5.0
        time.sleep(0.02)


def parse_forkstat(text: str, root: int, storm_path: str, result: ForkstatResult) -> None:
    """Fill in what forkstat saw of the storm's children from its output.

    Its fork lines come in pairs ("PID parent", then "PID child"), but it prints as the parent
    the PPid it reads from /proc/CHILD/status after the event: 0 once the child is gone, as
    nearly every storm child is. Its end-of-run tally (-S) counts each fork under the parent
    the kernel named in the event, by that process's command line: that is the count we use.
    """
    in_tally = False
    for line in text.splitlines():
        fields = line.split()
        if "nobufs" in fields:
            result.nobufs += 1
            continue
        if fields[:3] == ["Fork", "Exec", "Exit"]:
            in_tally = result.tally = True
            continue
        if in_tally:
            if len(fields) >= 11 and fields[0].isdigit():
                name = fields[10]
                if name == storm_path or name.endswith("/" + Path(storm_path).name):
                    # Fork + Clone: it calls a fork a clone when /proc said Tgid != PID
                    result.children += int(fields[0]) + int(fields[5])
            continue
        if len(fields) >= 4 and fields[1:4] == ["fork", str(root), "parent"]:
            result.printed_parent += 1


# ---- the collector's sockets -----------------------------------------------------------------


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        pass
    return inodes


def _collector_of(trace_pid: int) -> int | None:
    """The collector child of ``tractui trace`` (``python -m tractui.kernel.collector``)."""
    try:
        tasks = os.listdir(f"/proc/{trace_pid}/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            children = Path(f"/proc/{trace_pid}/task/{tid}/children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"tractui.kernel.collector" in cmdline:
                return int(child)
    return None


class QueueSampler(threading.Thread):
    """The peak bytes queued (``Rmem`` in /proc/net/netlink: the kernel's truesize of the
    queued datagrams, which it compares with the socket's limit) on the collector's proc
    connector and taskstats sockets, sampled every SAMPLE_S while ``tractui trace`` runs."""

    def __init__(self, trace_pid: int) -> None:
        super().__init__(name="queue-sampler", daemon=True)
        self.trace_pid = trace_pid
        self.done = threading.Event()
        self.peak = {NETLINK_CONNECTOR: 0, NETLINK_GENERIC: 0}
        self.found = False

    def run(self) -> None:
        inodes: set[str] = set()
        while not self.done.is_set():
            if not inodes:
                collector = _collector_of(self.trace_pid)
                if collector is not None:
                    inodes = _socket_inodes(collector)
            if inodes:
                self._sample(inodes)
            self.done.wait(SAMPLE_S)

    def _sample(self, inodes: set[str]) -> None:
        try:
            lines = Path("/proc/net/netlink").read_text().splitlines()
        except OSError:
            return
        header = lines[0].split()
        for line in lines[1:]:
            row = dict(zip(header, line.split(), strict=False))
            if row.get("Inode") in inodes:
                eth = int(row["Eth"])
                if eth in self.peak:
                    self.found = True
                    self.peak[eth] = max(self.peak[eth], int(row["Rmem"]))


# ---- tractui's report ------------------------------------------------------------------------


def digest(report: Path) -> dict[str, Any]:
    """The figures of one ``tractui trace --json`` report (50,000 processes: ~100 MB parsed)."""
    data = json.loads(report.read_text())
    root = int(data["root"])
    argv: list[str] = next((p["argv"] for p in data["processes"] if p["pid"] == root), [])
    return {
        "root": root,
        "root_argv": argv,
        "exit": data["exit"],
        "lost_events": int(data["lost_events"]),
        "children": sum(1 for p in data["processes"] if p["parent"] == root),
        "engine": data["engine"],
        # "" when the exit records came, else why not; None: a tractui without them
        "accounting": data.get("accounting"),
    }


def digest_apart(report: Path) -> dict[str, Any]:
    """:func:`digest` in a child process, so that this one stays small.

    The kernel carries a process's memory high-water mark across execve into the program it
    becomes, so a fat run.py would inflate the peak RSS tractui reports for itself.
    """
    done = subprocess.run(
        [sys.executable, __file__, "--digest", str(report)],
        capture_output=True,
        check=False,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"run.py: cannot read {report}: {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# ---- one run ---------------------------------------------------------------------------------


@dataclass
class Run:
    index: int
    n: int
    mode: str
    root: int = 0
    exit: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0  # tractui trace, start to end
    storm_s: float = 0.0  # the storm's own loop
    rate: float = 0.0  # forks/s, as the storm measured it
    children: int = 0  # by tractui
    lost: int = 0  # tractui lost_events
    events: int = 0
    collector_cpu_s: float = 0.0
    tractui_cpu_s: float = 0.0
    collector_maxrss_kb: int = 0
    tractui_maxrss_kb: int = 0
    accounting: str | None = None  # "": exit records on; else why not; None: not in the report
    acct_records: int = 0  # exit records the collector read (one datagram per exiting task)
    acct_lost: int = 0
    queue_peak: dict[int, int] = field(default_factory=dict)  # netlink protocol -> Rmem bytes
    forkstat: ForkstatResult | None = None

    # "per event": per proc-connector event the collector read (``events``); the exit records
    # it read too are not in the denominator, so their cost is in each event's share

    @property
    def collector_us(self) -> float:
        return 1e6 * self.collector_cpu_s / self.events if self.events else float("nan")

    @property
    def tractui_us(self) -> float:
        return 1e6 * self.tractui_cpu_s / self.events if self.events else float("nan")

    @property
    def collector_us_child(self) -> float:
        """Per storm child (its fork, its exit, its exit record, and the machine's others)."""
        return 1e6 * self.collector_cpu_s / self.n

    @property
    def tractui_us_child(self) -> float:
        return 1e6 * self.tractui_cpu_s / self.n

    @property
    def acct_on(self) -> bool:
        return self.accounting == ""

    @property
    def forkstat_received(self) -> int:
        """Events forkstat read: those tractui read, less what the kernel dropped for forkstat."""
        if self.forkstat is None:
            return 0
        return max(0, self.events - (self.forkstat.drops or 0))

    @property
    def forkstat_us(self) -> float:
        if self.forkstat is None or not self.forkstat_received:
            return float("nan")
        return 1e6 * self.forkstat.cpu_s / self.forkstat_received


def run_once(
    index: int, n: int, mode: str, forkstat: str | None, fs_opts: list[str], keep: bool
) -> Run:
    run = Run(index, n, mode)
    report = OUT / f"storm-{index}.json"
    fs_log = OUT / f"forkstat-{index}.txt"
    report.unlink(missing_ok=True)  # never read a stale one
    listener = Forkstat(forkstat, fs_opts, fs_log) if forkstat else None
    if listener is not None:
        try:
            listener.start()
        except RuntimeError as err:
            say(f"forkstat: {err}; this run goes without it")
            listener = None
    cmd = [*tractui_command(), "trace", "--json", "-o", str(report), "--", str(STORM), str(n)]
    cmd.append(mode)
    t0 = time.monotonic()
    trace = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=OUT,  # not a checkout root: its collector (python -m) imports what compile_tractui did
    )
    sampler = QueueSampler(trace.pid)
    sampler.start()
    try:
        _, trace_err = trace.communicate(timeout=TRACE_TIMEOUT)
    except subprocess.TimeoutExpired:
        trace.kill()
        trace.communicate()
        raise SystemExit(
            f"run.py: tractui trace did not end within {TRACE_TIMEOUT:.0f} s"
        ) from None
    finally:
        run.elapsed_s = time.monotonic() - t0
        sampler.done.set()
        sampler.join()
        if listener is not None:
            time.sleep(0.5)  # let forkstat drain what is queued for it
            run.forkstat = listener.stop()
    if sampler.found:
        run.queue_peak = sampler.peak
    done = subprocess.CompletedProcess(cmd, trace.returncode, b"", trace_err)
    stderr = done.stderr.decode(errors="replace")
    match = STORM_LINE.search(stderr)
    if match:
        run.storm_s = float(match.group(3))
        run.rate = float(match.group(4))
    if done.returncode != 0 or not report.exists():
        say(f"tractui trace exited {done.returncode}:\n{stderr.strip()}")
        if not report.exists():
            raise SystemExit(1)
    data = digest_apart(report)
    run.root = data["root"]
    run.exit = data["exit"]
    run.lost = data["lost_events"]
    run.children = data["children"]
    engine = data["engine"]
    run.events = int(engine["events"])
    run.collector_cpu_s = float(engine["collector_cpu_s"])
    run.tractui_cpu_s = float(engine["tractui_cpu_s"])
    run.collector_maxrss_kb = int(engine["collector_maxrss_kb"])
    run.tractui_maxrss_kb = int(engine["tractui_maxrss_kb"])
    run.accounting = data["accounting"]
    run.acct_records = int(engine.get("acct_records", 0))
    run.acct_lost = int(engine.get("acct_lost", 0))
    if run.forkstat is not None:
        storm_path = data["root_argv"][0] if data["root_argv"] else str(STORM)
        parse_forkstat(fs_log.read_text(errors="replace"), run.root, storm_path, run.forkstat)
    if not keep:
        report.unlink(missing_ok=True)
        fs_log.unlink(missing_ok=True)
    return run


# ---- reporting -------------------------------------------------------------------------------


def share(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.2f}%" if whole else "-"


def mib(kb: int) -> str:
    return f"{kb / 1024:.1f} MiB"


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


# what the kernel compares a socket's queued bytes with: SO_RCVBUFFORCE doubles what is asked
QUEUE_LIMIT = 2 * DEFAULT_RCVBUF


def records_text(run: Run) -> str:
    if run.accounting is None:
        return "- (this tractui reads none)"
    if not run.acct_on:
        return f"off: {run.accounting}"
    return f"{run.acct_records:,} read, {run.acct_lost:,} lost"


def queue_text(run: Run) -> str:
    if not run.queue_peak:
        return "- (not sampled)"
    parts = [f"connector {run.queue_peak[NETLINK_CONNECTOR] / 2**20:.1f}"]
    if run.acct_on:
        parts.append(f"taskstats {run.queue_peak[NETLINK_GENERIC] / 2**20:.1f}")
    return ", ".join(parts) + f" of {QUEUE_LIMIT >> 20} MiB"


def print_run(run: Run, total: int) -> None:
    fs = run.forkstat
    say()
    say(
        f"run {run.index}/{total}: storm {run.n:,} {run.mode} (pid {run.root}), "
        f"{run.n:,} children in {run.storm_s:.2f} s = {run.rate:,.0f} forks/s; "
        f"trace took {run.elapsed_s:.2f} s; exit {run.exit}"
    )
    rows: list[tuple[str, str, str, str]] = [("", "tractui", "forkstat", "target")]
    fs_lost = run.n - fs.children if fs else 0
    rows.append(
        (
            "children seen",
            f"{run.children:,} ({share(run.children, run.n)})",
            f"{fs.children:,} ({share(fs.children, run.n)})" if fs else "-",
            f"{run.n:,}",
        )
    )
    rows.append(
        (
            "storm children missed",
            f"{run.n - run.children:,} ({share(run.n - run.children, run.n)})",
            f"{fs_lost:,} ({share(fs_lost, run.n)})" if fs else "-",
            "0",
        )
    )
    drops = "-" if fs is None or fs.drops is None else f"{fs.drops:,}"
    rows.append(
        (
            "events lost (own count)",
            f"{run.lost:,} lost_events",
            f"{fs.nobufs} nobufs, {drops} socket drops" if fs else "-",
            f"{TARGET_LOST}",
        )
    )
    rows.append(("exit records (taskstats)", records_text(run), "-", "0 lost"))
    rows.append(
        (
            "CPU µs/event",
            f"collector {run.collector_us:.2f}, tractui {run.tractui_us:.2f}",
            f"{run.forkstat_us:.2f}" if fs else "-",
            f"collector ≤ {TARGET_CPU_US:g}",
        )
    )
    rows.append(
        (
            "CPU µs/child",
            f"collector {run.collector_us_child:.2f}, tractui {run.tractui_us_child:.2f}",
            f"{1e6 * fs.cpu_s / run.n:.2f}" if fs else "-",
            "",
        )
    )
    rows.append(
        (
            "CPU s",
            f"collector {run.collector_cpu_s:.2f}, tractui {run.tractui_cpu_s:.2f}",
            f"{fs.cpu_s:.2f}" if fs else "-",
            "",
        )
    )
    rows.append(
        (
            "peak RSS",
            f"collector {mib(run.collector_maxrss_kb)}, tractui {mib(run.tractui_maxrss_kb)}",
            mib(fs.maxrss_kb) if fs else "-",
            f"collector ≤ {TARGET_RSS_MIB:g} MiB",
        )
    )
    rows.append(("socket queue peak (MiB)", queue_text(run), "-", ""))
    rows.append(
        (
            "events received",
            f"{run.events:,}",
            f"{run.forkstat_received:,} (tractui's less its drops)" if fs else "-",
            "",
        )
    )
    table(rows, left=4)
    if fs is not None and not fs.tally:
        say("  forkstat printed no end-of-run tally: its children count is unknown")
    if fs is not None:
        say(
            f"  (forkstat printed the root as parent on {fs.printed_parent:,} fork lines only: "
            "it reads the parent from /proc after the child is gone)"
        )


def spread(values: list[float], fmt: str) -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    return (
        f"median {format(statistics.median(values), fmt)} "
        f"(min {format(min(values), fmt)}, max {format(max(values), fmt)})"
    )


def print_summary(runs: list[Run], forkstat_note: str) -> None:
    n = runs[0].n
    mode = runs[0].mode
    with_fs = [r for r in runs if r.forkstat is not None]
    say()
    say(f"summary: {len(runs)} run(s) of a {n:,}-child {mode} storm")
    rates = [r.rate for r in runs]
    say(f"  storm fork rate:         {spread(rates, ',.0f')} forks/s")
    lost = [r.lost for r in runs]
    missed = [r.n - r.children for r in runs]
    say(
        f"  tractui lost_events:     {spread([float(x) for x in lost], ',.0f')}; "
        f"children missed {spread([float(x) for x in missed], ',.0f')}  "
        f"target {TARGET_LOST}: {verdict(max(lost) <= TARGET_LOST and max(missed) == 0)}"
    )
    acct = [r for r in runs if r.acct_on]
    if acct:
        acct_lost = [float(r.acct_lost) for r in acct]
        say(
            f"  exit records read:       {spread([float(r.acct_records) for r in acct], ',.0f')}; "
            f"lost {spread(acct_lost, ',.0f')}  target 0: {verdict(max(acct_lost) == 0)}"
        )
    else:
        say(f"  exit records:            {records_text(runs[0])}")
    say(
        "  (per event: per proc-connector event the collector read, the storm's fork and exit "
        "of each child and the machine's others; the exit records are not in the denominator, "
        "their cost is; per child: per storm child)"
    )
    cpu = [r.collector_us for r in runs]
    say(
        f"  collector CPU µs/event:  {spread(cpu, '.2f')}  "
        f"target ≤ {TARGET_CPU_US:g} (median): {verdict(statistics.median(cpu) <= TARGET_CPU_US)}"
    )
    say(f"  collector CPU µs/child:  {spread([r.collector_us_child for r in runs], '.2f')}")
    say(f"  tractui CPU µs/event:    {spread([r.tractui_us for r in runs], '.2f')}")
    say(f"  tractui CPU µs/child:    {spread([r.tractui_us_child for r in runs], '.2f')}")
    rss = [r.collector_maxrss_kb / 1024 for r in runs]
    say(
        f"  peak RSS:                collector {spread(rss, '.1f')} MiB, tractui "
        f"{spread([r.tractui_maxrss_kb / 1024 for r in runs], '.1f')} MiB  "
        f"target collector ≤ {TARGET_RSS_MIB:g} MiB: {verdict(max(rss) <= TARGET_RSS_MIB)}"
    )
    sampled = [r for r in runs if r.queue_peak]
    if sampled:
        peaks = [r.queue_peak[NETLINK_CONNECTOR] / 2**20 for r in sampled]
        line = f"  socket queue peak:       connector {spread(peaks, '.1f')} MiB"
        if acct:
            peaks = [r.queue_peak[NETLINK_GENERIC] / 2**20 for r in sampled if r.acct_on]
            line += f", taskstats {spread(peaks, '.1f')} MiB"
        say(f"{line} (of {QUEUE_LIMIT >> 20} MiB each, sampled every {SAMPLE_S * 1000:.0f} ms)")
    if not with_fs:
        say(f"  forkstat: not measured ({forkstat_note or 'no run had it'})")
        return
    fs_missed = [100.0 * (r.n - r.forkstat.children) / r.n for r in with_fs if r.forkstat]
    say(f"  forkstat children missed: {spread(fs_missed, '.2f')} %")
    say(
        f"  forkstat CPU µs/event:   {spread([r.forkstat_us for r in with_fs], '.2f')}, "
        f"peak RSS {spread([r.forkstat.maxrss_kb / 1024 for r in with_fs if r.forkstat], '.1f')}"
        " MiB"
    )
    say("  against forkstat, the same storm each run:")
    for r in with_fs:
        fs = r.forkstat
        assert fs is not None
        say(
            f"    run {r.index}: tractui lost {r.lost:,} ({share(r.n - r.children, r.n)} missed, "
            f"{r.acct_lost:,} records) / "
            f"forkstat lost {share(r.n - fs.children, r.n)} ({fs.nobufs} nobufs); "
            f"CPU/event collector {r.collector_us:.2f} µs vs forkstat {r.forkstat_us:.2f} µs "
            f"({ratio(r.collector_us, r.forkstat_us)}); "
            f"RSS collector {mib(r.collector_maxrss_kb)} vs forkstat {mib(fs.maxrss_kb)}"
        )


# ---- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/storm/run.py", description="fork-storm benchmark: tractui vs forkstat"
    )
    parser.add_argument("--n", type=int, default=50_000, help="children per storm (50000)")
    parser.add_argument("--runs", type=int, default=3, help="storms to run (3)")
    parser.add_argument("--mode", choices=("vfork", "fork"), default="vfork")
    parser.add_argument("--no-forkstat", action="store_true", help="measure tractui alone")
    parser.add_argument(
        "--forkstat-opts",
        default=FORKSTAT_OPTS,
        help=f"forkstat's options (default: {FORKSTAT_OPTS!r}; -S is needed for the count)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the JSON reports and forkstat logs in bench/out"
    )
    parser.add_argument("--digest", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.digest is not None:
        json.dump(digest(args.digest), sys.stdout)
        return 0
    if not 1 <= args.n <= MAX_N:
        parser.error(f"--n must be between 1 and {MAX_N:,}")
    if not 1 <= args.runs <= 100:
        parser.error("--runs must be between 1 and 100")
    if os.geteuid() != 0:
        say("note: not root: tractui needs Linux >= 6.6 to listen, forkstat needs root")

    build()
    say(f"tractui: {compile_tractui()} (bytecode compiled)")
    forkstat: str | None = None
    note = "--no-forkstat"
    if not args.no_forkstat:
        forkstat, note = ensure_program("forkstat")
        if forkstat is None:
            say(f"forkstat: skipped: {note}")
    fs_opts = shlex.split(args.forkstat_opts)
    if not {"-S", "-X"} & set(fs_opts):
        fs_opts.append("-S")  # its tally is what we count (-q does not imply it in 0.03)
    say(
        f"storm: {args.runs} run(s) of {args.n:,} children by {args.mode}; "
        f"forkstat {shlex.join(fs_opts) if forkstat else 'skipped'}"
    )
    runs: list[Run] = []
    for i in range(1, args.runs + 1):
        run = run_once(i, args.n, args.mode, forkstat, fs_opts, args.keep)
        print_run(run, args.runs)
        runs.append(run)
    print_summary(runs, note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
