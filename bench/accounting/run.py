"""CPU accounting of short processes: tractui's totals against a 1 Hz /proc sampler, both
against the kernel's own count of the same run.

    .venv/bin/python bench/accounting/run.py [--n 900] [--burn-ms 3] [--jobs 2] [--runs 3]
    .venv/bin/python bench/accounting/run.py --quick      (60 processes, one run)

The workload is ``acctload`` (bench/accounting/acctload.c, built into bench/out/): N short
children, at most ``--jobs`` at a time, each burning ``--burn-ms`` of its own CPU time; every
other one then execs ``/bin/true`` (fork, burn, exec).

**The ground truth** is the kernel's own account, written by the runner to a file once it has
reaped every child: ``getrusage(RUSAGE_CHILDREN)`` (every child, exec'd program included) plus
``getrusage(RUSAGE_SELF)`` (the runner). The runner is itself a member of the traced group (it
is the command ``tractui trace`` starts), and tractui counts it as every other member: so its own
CPU is part of the truth, not subtracted, and both are printed apart. Nothing runs in the runner
after the two calls but writing one small file (microseconds).

Measured in the same run, on the same workload:

- **tractui**: ``tractui trace --json -o FILE --as-root -- acctload ...``; its figure is the
  report's top-level ``totals`` (``cpu_user_s + cpu_system_s``), and a process is *named* when
  its ``comm`` or its ``argv`` is not empty. A tractui whose report has no ``totals`` (kernel
  accounting not in it yet) prints "n/a" and the rest is measured all the same.
- **the anchor, a 1 Hz /proc sampler**: what htop and process-exporter do. Every second it
  reads /proc/PID/stat of every process, keeps those in the runner's tree (the runner, found as
  the child of ``tractui trace`` named ``acctload``, and its descendants by PPid), remembers the
  last ``utime + stime`` seen of each (pid, starttime), and sums those last values. A process
  that starts and ends between two samples is never seen; one that is seen is counted only up
  to its last sample.

- **what exit records can give at best**: the bench's own taskstats socket hears the same exit
  records tractui's collector does (per task, sent from do_exit); summed over the runner's tree
  (ac_pid or ac_ppid is the runner): ``ac_utime + ac_stime``, and ``cpu_run_virtual_total``
  (the scheduler's se.sum_exec_runtime). Both are taken when the record is sent, before the
  rest of the exit runs; and ac_utime/ac_stime are tick samples where the kernel accounts CPU
  by ticks (CONFIG_TICK_CPU_ACCOUNTING), where getrusage scales them to sum_exec_runtime.
  These rows say how close any reader of the records can come to the truth on this kernel.

Error = (figure - ground truth) / ground truth. Targets (issue 12): tractui within 1 %, and
every process named. Run it as root (taskstats and, on Linux < 6.6, the proc connector).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common.report import ratio, table
from bench.common.tools import add_report_options, compile_c, say, tractui_command
from tractui.kernel.taskstats import AccountingUnavailable, TaskstatsSocket

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT = REPO / "bench" / "out"
SOURCE = HERE / "acctload.c"
LOAD = OUT / "acctload"
RUNNER_COMM = "acctload"

MAX_N = 20_000  # acctload itself takes up to 100,000
MAX_BURN_MS = 100.0
MAX_JOBS = 8
TARGET_ERROR_PCT = 1.0
TRACE_TIMEOUT = 180.0  # acctload stops itself after 120 s (alarm)
CLK_TCK = os.sysconf("SC_CLK_TCK")
NO_TOTALS = "n/a (this tractui's trace report has no totals)"


# ---- the anchor: a 1 Hz /proc sampler --------------------------------------------------------


def read_stat(pid: str) -> tuple[int, str, int, int] | None:
    """(ppid, comm, starttime, utime + stime in ticks) of /proc/PID/stat; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    head, _, tail = raw.rpartition(b")")
    comm = head.split(b"(", 1)[1].decode(errors="replace") if b"(" in head else ""
    fields = tail.split()  # fields[0] is state (field 3): field k is fields[k - 3]
    try:
        return int(fields[1]), comm, int(fields[19]), int(fields[11]) + int(fields[12])
    except (IndexError, ValueError):
        return None


class Sampler(threading.Thread):
    """Every ``interval`` s: read every process's stat, keep the runner's tree (see the module),
    remember the last utime + stime of each (pid, starttime). :attr:`total_s` is their sum."""

    def __init__(self, parent: int, comm: str, interval: float = 1.0) -> None:
        super().__init__(name="sampler", daemon=True)
        self.parent = parent  # tractui trace: the runner is its child named ``comm``
        self.comm = comm
        self.interval = interval
        self.last: dict[tuple[int, int], int] = {}
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        next_tick = time.monotonic()
        while not self._stop_event.is_set():
            self.sample()
            next_tick += self.interval
            self._stop_event.wait(max(0.0, next_tick - time.monotonic()))

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def sample(self) -> None:
        stats: dict[int, tuple[int, str, int, int]] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                stat = read_stat(name)
                if stat is not None:
                    stats[int(name)] = stat
        children: dict[int, list[int]] = {}
        for pid, (ppid, _comm, _start, _cpu) in stats.items():
            children.setdefault(ppid, []).append(pid)
        tree = [p for p in children.get(self.parent, []) if stats[p][1] == self.comm]
        while tree:
            pid = tree.pop()
            _ppid, _comm, start, cpu = stats[pid]
            self.last[(pid, start)] = cpu
            tree.extend(children.get(pid, []))
        self.samples += 1

    @property
    def total_s(self) -> float:
        return sum(self.last.values()) / CLK_TCK


# ---- what the kernel's exit records can give at best ---------------------------------------


class ExitRecords(threading.Thread):
    """The taskstats exit records of the run, heard on a socket of our own (as tractui's
    collector hears them) and decoded afterwards with pyroute2: the best any reader of exit
    records can do. Per process of the runner's tree (the runner and its children, by ac_pid
    and ac_ppid), two sums: ``ac_utime + ac_stime`` (what the record calls the task's CPU time)
    and ``cpu_run_virtual_total`` (the scheduler's own ns, se.sum_exec_runtime)."""

    MAX_DATAGRAMS = 500_000  # bound: a machine busy with storms sends one per exiting task

    def __init__(self) -> None:
        super().__init__(name="taskstats", daemon=True)
        self.problem = ""
        self.datagrams: list[bytes] = []
        self.lost = 0
        self._stop_event = threading.Event()
        self.socket: TaskstatsSocket | None = None
        try:
            self.socket = TaskstatsSocket(rcvbuf=16 << 20).open()
        except AccountingUnavailable as err:
            self.problem = str(err)

    def run(self) -> None:
        sock = self.socket.sock if self.socket is not None else None
        if sock is None:
            return
        while not self._stop_event.is_set() or select.select([sock], [], [], 0)[0]:
            if not select.select([sock], [], [], 0.05)[0]:
                continue
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:  # ENOBUFS: the kernel dropped some
                self.lost += 1
                continue
            if len(self.datagrams) < self.MAX_DATAGRAMS:
                self.datagrams.append(data)

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join()
        if self.socket is not None:
            with contextlib.suppress(OSError):
                self.socket.close()

    def sums(self, runner: int) -> tuple[int, float, float]:
        """(records, ac_utime + ac_stime s, cpu_run_virtual_total s) of ``runner``'s tree."""
        from pyroute2.netlink.taskstats import taskstatsmsg

        seen: dict[int, tuple[int, int]] = {}
        for data in self.datagrams:
            msg = taskstatsmsg(data)
            with contextlib.suppress(Exception):
                msg.decode()
            for name, value in msg.get("attrs", []):
                if name != "TASKSTATS_TYPE_AGGR_PID":
                    continue
                stats = value.get_attr("TASKSTATS_TYPE_STATS")
                if stats and runner in (stats["ac_pid"], stats["ac_ppid"]):
                    tid = value.get_attr("TASKSTATS_TYPE_PID")
                    seen[tid] = (
                        stats["ac_utime"] + stats["ac_stime"],
                        stats["cpu_run_virtual_total"],
                    )
        tick_us = sum(t for t, _v in seen.values())
        virtual_ns = sum(v for _t, v in seen.values())
        return len(seen), tick_us / 1e6, virtual_ns / 1e9


# ---- one run ---------------------------------------------------------------------------------


@dataclass
class Run:
    index: int
    n: int
    burn_ms: float
    jobs: int
    elapsed_s: float = 0.0
    truth_self_s: float = 0.0  # the runner's RUSAGE_SELF
    truth_children_s: float = 0.0  # its RUSAGE_CHILDREN
    children: int = 0  # the runner's own count of children it ran
    failed: int = 0
    sampler_s: float = 0.0
    sampler_seen: int = 0  # (pid, starttime) the sampler ever saw
    sampler_samples: int = 0
    tractui_s: float | None = None  # None: the report has no totals
    tractui_processes: int | None = None  # totals.processes
    accounting: str | None = None  # the report's "accounting" ("" when on)
    accounted: int = 0  # processes with a cpu figure of their own
    processes: int = 0  # in the report
    named: int = 0  # with a comm or an argv
    lost_events: int = 0
    unnamed: list[dict[str, Any]] = field(default_factory=list)  # a few, for the note
    records: int = 0  # exit records of the runner's tree, heard on our own taskstats socket
    records_ticks_s: float = 0.0  # their ac_utime + ac_stime
    records_virtual_s: float = 0.0  # their cpu_run_virtual_total
    records_lost: int = 0
    records_problem: str = ""  # why there are none: no taskstats here

    @property
    def truth_s(self) -> float:
        return self.truth_self_s + self.truth_children_s

    def error_pct(self, figure: float | None) -> float | None:
        if figure is None or self.truth_s <= 0:
            return None
        return 100.0 * (figure - self.truth_s) / self.truth_s


def read_truth(path: Path, run: Run) -> None:
    values = dict(line.split() for line in path.read_text().splitlines() if line.strip())
    run.children = int(values["children"])
    run.failed = int(values["failed"])
    run.truth_self_s = (int(values["self_user_us"]) + int(values["self_system_us"])) / 1e6
    run.truth_children_s = (
        int(values["children_user_us"]) + int(values["children_system_us"])
    ) / 1e6


def read_report(path: Path, run: Run) -> int:
    """Fill in tractui's figures; the report's root (the runner's PID)."""
    data = json.loads(path.read_text())
    procs = data["processes"]
    run.processes = len(procs)
    run.lost_events = int(data.get("lost_events", 0))
    run.accounting = data.get("accounting")
    named = [p for p in procs if p.get("comm") or p.get("argv")]
    run.named = len(named)
    run.unnamed = [
        {k: p.get(k) for k in ("pid", "parent", "execs", "exit")}
        for p in procs
        if not (p.get("comm") or p.get("argv"))
    ][:5]
    run.accounted = sum(1 for p in procs if p.get("cpu_user_s") is not None)
    totals = data.get("totals")
    if isinstance(totals, dict):
        run.tractui_s = float(totals["cpu_user_s"]) + float(totals["cpu_system_s"])
        run.tractui_processes = totals.get("processes")
    return int(data["root"])


def run_once(index: int, n: int, burn_ms: float, jobs: int, keep: bool, out: Path) -> Run:
    run = Run(index, n, burn_ms, jobs)
    report = out / f"accounting-{index}.json"
    truth = out / f"accounting-{index}.truth"
    for stale in (report, truth):
        stale.unlink(missing_ok=True)
    load = [str(LOAD), str(n), str(round(burn_ms * 1000)), str(jobs), str(truth)]
    cmd = [*tractui_command(), "trace", "--json", "-o", str(report), "--as-root", "--", *load]
    records = ExitRecords()
    records.start()
    t0 = time.monotonic()
    # in our own process group: whoever stops us (a test's fixture) stops all of it
    trace = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    sampler = Sampler(trace.pid, RUNNER_COMM)
    sampler.start()
    try:
        _out, err = trace.communicate(timeout=TRACE_TIMEOUT)
    except subprocess.TimeoutExpired:
        trace.kill()
        trace.communicate()
        raise SystemExit(
            f"run.py: tractui trace did not end within {TRACE_TIMEOUT:.0f} s"
        ) from None
    finally:
        sampler.stop()
        run.elapsed_s = time.monotonic() - t0
        time.sleep(0.1)  # the runner's own record is queued before its exit is reported
        records.stop()
    run.sampler_s = sampler.total_s
    run.sampler_seen = len(sampler.last)
    run.sampler_samples = sampler.samples
    if trace.returncode != 0 or not report.exists() or not truth.exists():
        said = err.decode(errors="replace").strip()
        raise SystemExit(f"run.py: tractui trace -- acctload exited {trace.returncode}: {said}")
    read_truth(truth, run)
    root = read_report(report, run)
    run.records_problem = records.problem
    run.records_lost = records.lost
    if not records.problem:
        run.records, run.records_ticks_s, run.records_virtual_s = records.sums(root)
    if not keep:
        report.unlink(missing_ok=True)
        truth.unlink(missing_ok=True)
    return run


# ---- reporting -------------------------------------------------------------------------------


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}%"


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_run(run: Run, total: int) -> None:
    say()
    say(
        f"run {run.index}/{total}: {run.children:,} children ({run.failed} failed), "
        f"{run.burn_ms:g} ms CPU each, every other one then exec'd /bin/true; "
        f"{run.jobs} at a time; trace took {run.elapsed_s:.2f} s"
    )
    if run.accounting:
        say(f"  tractui's kernel accounting is off: {run.accounting}")
    rows: list[tuple[str, str, str, str, str]] = [
        ("", "CPU s", "vs ground truth", "error", "target")
    ]
    rows.append(
        (
            f"ground truth (runner self {run.truth_self_s:.3f} + children "
            f"{run.truth_children_s:.3f})",
            f"{run.truth_s:.3f}",
            "1.00x",
            "",
            "",
        )
    )
    if run.tractui_s is None:
        rows.append(("tractui totals", NO_TOTALS, "-", "-", f"≤ {TARGET_ERROR_PCT:g}%"))
    else:
        error = run.error_pct(run.tractui_s)
        rows.append(
            (
                "tractui totals",
                f"{run.tractui_s:.3f}",
                ratio(run.tractui_s, run.truth_s),
                pct(error),
                f"≤ {TARGET_ERROR_PCT:g}%: "
                f"{verdict(error is not None and abs(error) <= TARGET_ERROR_PCT)}",
            )
        )
    rows.append(
        (
            f"1 Hz /proc sampler ({run.sampler_samples} samples, saw {run.sampler_seen:,} "
            "processes)",
            f"{run.sampler_s:.3f}",
            ratio(run.sampler_s, run.truth_s),
            pct(run.error_pct(run.sampler_s)),
            "",
        )
    )
    if run.records_problem:
        rows.append(("exit records, our own socket", f"n/a ({run.records_problem})", "", "", ""))
    else:
        for label, figure in (
            ("ac_utime + ac_stime", run.records_ticks_s),
            ("cpu_run_virtual_total", run.records_virtual_s),
        ):
            rows.append(
                (
                    f"exit records' {label} ({run.records:,} records, our own socket)",
                    f"{figure:.3f}",
                    ratio(figure, run.truth_s),
                    pct(run.error_pct(figure)),
                    "",
                )
            )
    expected = run.children + 1  # and the runner
    rows.append(
        (
            f"processes named, tractui (report has {run.processes:,}, ran {expected:,})",
            f"{run.named:,}/{run.processes:,}",
            "",
            "",
            f"all: {verdict(run.named == run.processes == expected)}",
        )
    )
    if run.tractui_s is not None:
        rows.append(
            (
                f"processes with an account, tractui (totals.processes {run.tractui_processes})",
                f"{run.accounted:,}/{run.processes:,}",
                "",
                "",
                "",
            )
        )
    table(rows)
    if run.records_lost:
        say(f"  our taskstats socket overflowed {run.records_lost} time(s): its sums are low")
    if run.lost_events:
        say(f"  tractui lost {run.lost_events:,} events (system-wide)")
    for p in run.unnamed:
        say(f"  unnamed: {json.dumps(p)}")


def spread(values: list[float], fmt: str) -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    return (
        f"median {format(statistics.median(values), fmt)} "
        f"(min {format(min(values), fmt)}, max {format(max(values), fmt)})"
    )


def print_summary(runs: list[Run]) -> None:
    say()
    first = runs[0]
    say(f"summary: {len(runs)} run(s) of {first.n:,} processes, {first.burn_ms:g} ms CPU each")
    say(f"  ground truth CPU s:       {spread([r.truth_s for r in runs], '.3f')}")
    errors = [r.error_pct(r.tractui_s) for r in runs]
    known = [e for e in errors if e is not None]
    if not known:
        say(f"  tractui: {NO_TOTALS}")
    else:
        worst = max(abs(e) for e in known)
        say(
            f"  tractui error:            {spread(known, '+.2f')} %  "
            f"target ≤ {TARGET_ERROR_PCT:g}%: {verdict(worst <= TARGET_ERROR_PCT)}"
        )
    if not runs[0].records_problem:
        ticks = [r.error_pct(r.records_ticks_s) or 0.0 for r in runs]
        virtual = [r.error_pct(r.records_virtual_s) or 0.0 for r in runs]
        say(f"  exit records, ac_u+stime: {spread(ticks, '+.2f')} %")
        say(f"  exit records, virtual:    {spread(virtual, '+.2f')} %")
    sampled = [r.error_pct(r.sampler_s) for r in runs]
    say(f"  1 Hz sampler error:       {spread([e for e in sampled if e is not None], '+.2f')} %")
    named = sum(r.named for r in runs)
    procs = sum(r.processes for r in runs)
    say(
        f"  processes named:          {named:,}/{procs:,}  "
        f"target all: {verdict(all(r.named == r.processes == r.children + 1 for r in runs))}"
    )


# ---- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/accounting/run.py",
        description="CPU of short processes: tractui vs a 1 Hz /proc sampler vs the kernel",
    )
    parser.add_argument("--n", type=int, default=900, help="short processes per run (900)")
    parser.add_argument("--burn-ms", type=float, default=3.0, help="CPU ms each burns (3)")
    parser.add_argument("--jobs", type=int, default=2, help="running at once (2)")
    parser.add_argument("--runs", type=int, default=3, help="runs (3)")
    parser.add_argument("--quick", action="store_true", help="60 processes, one run")
    add_report_options(parser, OUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.runs = min(args.n, 60), 1
    if not 1 <= args.n <= MAX_N:
        parser.error(f"--n must be between 1 and {MAX_N:,}")
    if not 0 <= args.burn_ms <= MAX_BURN_MS:
        parser.error(f"--burn-ms must be between 0 and {MAX_BURN_MS:g}")
    if not 1 <= args.jobs <= MAX_JOBS:
        parser.error(f"--jobs must be between 1 and {MAX_JOBS}")
    if not 1 <= args.runs <= 20:
        parser.error("--runs must be between 1 and 20")
    if os.geteuid() != 0:
        say("note: not root: tractui's kernel accounting (taskstats) needs CAP_NET_ADMIN")
    compile_c(SOURCE, LOAD)
    say(
        f"accounting: {args.runs} run(s) of {args.n:,} processes, {args.burn_ms:g} ms CPU each, "
        f"{args.jobs} at a time"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    runs: list[Run] = []
    for i in range(1, args.runs + 1):
        run = run_once(i, args.n, args.burn_ms, args.jobs, args.keep, args.out)
        print_run(run, args.runs)
        runs.append(run)
    print_summary(runs)
    if args.json is not None:
        figures = [
            {
                **asdict(r),
                "truth_s": r.truth_s,
                "tractui_error_pct": r.error_pct(r.tractui_s),
                "sampler_error_pct": r.error_pct(r.sampler_s),
            }
            for r in runs
        ]
        args.json.write_text(json.dumps({"runs": figures}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
