"""``tractui trace -- CMD``: run a command as a group, then report its genealogy and survivors."""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

from tractui import control, guides, perfetto
from tractui.commands.output import Output
from tractui.engine import Counters, Engine, accounting_notice
from tractui.errors import UserError
from tractui.events import ConnectorError, ExitStatus
from tractui.kernel import procfs
from tractui.model.account import Account
from tractui.model.changes import Key
from tractui.model.store import Proc, aligned_exec_times
from tractui.model.tracker import Tracker
from tractui.text import escape, human_bytes, human_kb, shell_join

GROUP = "trace"

# What ``--fail-on-leak`` exits with when survivors remain. A shell reports CMD's own end as
# 0-255, signals as 128+N with N <= 64 (SIGRTMAX), so up to 192; tractui's own statuses are 2, 3,
# 68-70, 77, 126 and 127. 193 is the first status above all of them that no signal can produce;
# a CMD may still exit 193 itself, so the report's last line says which it was.
EXIT_LEAKED = 193
EXIT_USAGE = 2  # as the command line's own usage errors
TOP = 5  # the processes by CPU the text report lists
# a process's accounting fields in the JSON report, null without a record
_NO_ACCOUNT = dict.fromkeys(
    ("cpu_user_s", "cpu_system_s", "peak_rss_kib", "read_bytes", "write_bytes", "ctx_switches")
)
# the JSON report's totals, each null, when accounting is off
_NO_TOTALS = dict.fromkeys(
    ("cpu_user_s", "cpu_system_s", "read_bytes", "write_bytes", "peak_rss_kib", "processes")
)


def run(args: argparse.Namespace, cmd: list[str]) -> int:
    outputs: dict[str, Output] = {}
    try:
        for option, path in (("-o", args.output), ("--perfetto", args.perfetto)):
            if path is not None:
                outputs[option] = Output(option, path)
        if len(outputs) == 2 and outputs["-o"].identity == outputs["--perfetto"].identity:
            # each would empty the other's writing: the report would be lost
            raise UserError("-o and --perfetto name the same file; give each its own")
    except UserError as err:
        for out in outputs.values():
            out.close()
        print(f"tractui trace: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        engine = Engine(keep_exited=math.inf, verbose=args.verbose)
        try:
            engine.start()
        except ConnectorError as err:
            print(f"tractui: {err.message}", file=sys.stderr)
            return err.exit_code
        try:
            return _trace(engine, args, cmd, outputs.get("-o"), outputs.get("--perfetto"))
        finally:
            engine.stop()
    finally:
        for out in outputs.values():
            out.close()


def _spawn(cmd: list[str], as_root: bool, report_on_stdout: bool) -> subprocess.Popen[bytes]:
    """Start CMD on our terminal, as the sudo user unless ``as_root``; its stdout is our stderr
    when the report goes to stdout (``-o -``), which then carries the report alone."""
    env, kwargs = control.run_as(as_root)
    if report_on_stdout:
        kwargs["stdout"] = sys.stderr.fileno()
    control.check_command(control.LaunchSpec(cmd), env)
    try:
        return subprocess.Popen(cmd, env=env, **kwargs)
    except PermissionError:
        raise UserError(f"{cmd[0]}: permission denied") from None
    except OSError as err:
        raise UserError(f"{cmd[0]}: cannot start: {err.strerror}") from None


def _trace(
    engine: Engine,
    args: argparse.Namespace,
    cmd: list[str],
    output: Output | None,
    perfetto_out: Output | None,
) -> int:
    try:
        popen = _spawn(cmd, args.as_root, output is not None and output.stdout)
    except UserError as err:
        print(f"tractui: {escape(str(err))}", file=sys.stderr)
        return 127 if isinstance(err, control.CommandNotFound) else 126
    # CMD gets the terminal's Ctrl-C and Ctrl-\; we stay to see it through. (Ignored only
    # now: a child inherits ignored signals.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    forward = _forward_to(popen)
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGHUP, forward)
    started = time.time()
    root = engine.adopt_child(GROUP, popen.pid)
    tracker = engine.tracker
    waited = _reap(popen)
    while popen.returncode is None:
        engine.poll(0.05)
        waited = _reap(popen)
    # its exit event is at most a batch behind; don't hang if the collector died meanwhile
    deadline = time.monotonic() + 2.0
    while root.alive and time.monotonic() < deadline:
        engine.poll(0.05)
    status = ExitStatus.from_wait_status(_wait_status(popen.returncode))
    engine.drain(quiet=0.1)
    if args.wait_all:
        while tracker.groups[GROUP].live:
            engine.poll(0.1)
    survivors = tracker.members(GROUP, alive_only=True)
    killed: list[Proc] = []
    if args.kill_leftovers and survivors:
        killed = _kill(engine, survivors, args.grace)
    report = Report(
        tracker,
        root,
        cmd,
        status,
        started,
        engine.counters,
        survivors,
        killed,
        fail_on_leak=args.fail_on_leak,
        waited=waited,
    )
    to_file = _write(report, args.json, output)
    if perfetto_out is not None:
        export_perfetto(report, perfetto_out)
    if report.leaked and to_file and output is not None:
        where = "on stdout" if output.stdout else f"in {output.name}"
        print(
            f"tractui trace: {_count(len(survivors), 'survivor')} leaked (--fail-on-leak): "
            f"exit status {EXIT_LEAKED}; the report is {where}",
            file=sys.stderr,
        )
    return report.exit_status


def _forward_to(popen: subprocess.Popen[bytes]) -> Any:
    def forward(signum: int, _frame: object) -> None:
        if popen.poll() is None:
            popen.send_signal(signum)

    return forward


def _reap(popen: subprocess.Popen[bytes]) -> resource.struct_rusage | None:
    """If CMD has ended, reap it (its status into ``popen``) and return what wait4 says it
    and the descendants it waited for used: what ``/usr/bin/time`` reports."""
    if popen.returncode is not None:
        return None
    try:
        pid, status, usage = os.wait4(popen.pid, os.WNOHANG)
    except ChildProcessError:  # reaped elsewhere: its status is Popen's
        popen.poll()
        return None
    if pid == 0:
        return None
    popen.returncode = os.waitstatus_to_exitcode(status)
    return usage


def _wait_status(returncode: int) -> int:
    """Popen's returncode (negative for a signal) back to a wait status."""
    return -returncode if returncode < 0 else (returncode & 0xFF) << 8


def _kill(engine: Engine, survivors: list[Proc], grace: float) -> list[Proc]:
    """SIGTERM, then SIGKILL after ``grace``; the survivors that ended."""
    engine.signal(survivors, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(p.alive for p in survivors):
        engine.poll(0.05)
    left = [p for p in survivors if p.alive]
    if left:
        engine.signal(left, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and any(p.alive for p in survivors):
        engine.poll(0.05)
    return [p for p in survivors if not p.alive]


class Report:
    def __init__(
        self,
        tracker: Tracker,
        root: Proc,
        cmd: list[str],
        status: ExitStatus,
        started: float,
        counters: Counters,
        survivors: list[Proc],
        killed: list[Proc],
        *,
        fail_on_leak: bool = False,
        waited: resource.struct_rusage | None = None,
    ) -> None:
        self.tracker = tracker
        self.root = root
        self.cmd = cmd
        self.status = status
        self.started = started
        self.counters = counters
        self.lost = counters.lost
        self.survivors = survivors
        self.killed = killed
        self.fail_on_leak = fail_on_leak
        # survivors leaked even if tractui then ended them (--kill-leftovers): CMD left them
        self.leaked = fail_on_leak and bool(survivors)
        self.exit_status = EXIT_LEAKED if self.leaked else status.shell_code()
        self.procs = tracker.members(GROUP)
        # the kernel's exact account of every ended member (taskstats); "" or why there is none
        self.accounting = counters.accounting
        self.totals = tracker.groups[GROUP].ended
        self.waited = waited  # wait4's count of CMD and what it reaped (None: not known)
        # by (pid, start): a PID the storm reused is another process
        self._still_alive = {p.key for p in survivors} - {p.key for p in killed}
        # boot-clock ns -> epoch seconds
        self._epoch_of_boot = time.time() - tracker.now() / 1e9

    def epoch(self, ns: int) -> float:
        return round(self._epoch_of_boot + ns / 1e9, 6)

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root.pid,
            "command": self.cmd,
            "exit": self.status.to_json(),
            "lost_events": self.lost,
            "survivors": [p.pid for p in self.survivors],
            "killed": [p.pid for p in self.killed],
            # null: not checked (no --fail-on-leak); else the survivors that made it fail
            "leaked": [p.pid for p in self.survivors] if self.fail_on_leak else None,
            "status": self.exit_status,
            "accounting": self.accounting,
            # null, not zeros, when the kernel counted nothing: accounting was off
            "totals": _totals_json(self.totals) if not self.accounting else _NO_TOTALS,
            "cmd_rusage": _rusage_json(self.waited),
            "processes": [self._proc_json(p) for p in self.procs],
            "engine": self._engine_json(),
        }

    def _engine_json(self) -> dict[str, Any]:
        c = self.counters
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "events": c.datagrams,
            "malformed": c.malformed,
            "collector_cpu_s": round(c.collector_cpu_ns / 1e9, 6),
            "collector_maxrss_kb": c.collector_maxrss_kb,
            "tractui_cpu_s": round(usage.ru_utime + usage.ru_stime, 6),
            "tractui_maxrss_kb": procfs.peak_rss_kb(),
            "acct_records": c.acct_records,
            "acct_lost": c.acct_lost,
        }

    def account(self, p: Proc) -> Account | None:
        """An ended process's account (a survivor's would miss its running threads)."""
        return p.account if p.ended is not None else None

    def _proc_json(self, p: Proc) -> dict[str, Any]:
        return {
            "pid": p.pid,
            "parent": p.parent[0] if p.parent is not None else None,
            "ppid": p.ppid,
            "start": self.epoch(p.start),
            "end": self.epoch(p.ended) if p.ended is not None else None,
            "argv": list(p.argv),
            "execs": [list(argv) for argv in p.execs],
            "exec_times": [
                self.epoch(t) if t is not None else None
                for t in aligned_exec_times(p.exec_times, len(p.execs))
            ],
            "comm": p.comm,
            "exe": p.exe,
            "uid": p.uid,
            "threads": p.peak_threads,
            "exit": p.exit.to_json() if p.exit is not None else None,
            "alive": p.key in self._still_alive,
            **_account_json(self.account(p)),
        }

    def processes_json(self) -> Iterator[dict[str, Any]]:
        """Each process as in :meth:`to_json`, in tree order, one at a time."""
        return (self._proc_json(p) for p in self.procs)

    def lines(self) -> Iterator[str]:
        n = len(self.procs)
        yield (
            f"tractui trace: {shell_join(self.cmd)} ended with {self.status.describe()}; "
            f"{n} process{'es' if n != 1 else ''}, {len(self.survivors)} survivor"
            f"{'s' if len(self.survivors) != 1 else ''}, {self.lost} events lost"
        )
        if self.accounting:
            yield accounting_notice(self.accounting)
        yield (
            f"{'PID':>7}  {'START':>8}  {'LIFETIME':>8}  {'CPU':>8}  {'PEAK RSS':>8}  {'THR':>3}  "
            f"{'STATUS':<13} COMMAND"
        )
        t0 = self.root.start
        for p, guide in _with_guides(self.tracker, self.procs):
            life = f"{(p.ended - p.start) / 1e9:.3f}s" if p.ended is not None else "-"
            account = self.account(p)
            cpu = f"{account.cpu_s:.3f}s" if account is not None else "-"
            rss = human_kb(account.peak_rss_kib) if account is not None else "-"
            note = ""
            if p.reparented:
                note = f"  [reparented to {p.ppid}]"
            yield (
                f"{p.pid:>7}  {'+%.3fs' % ((p.start - t0) / 1e9):>8}  {life:>8}  {cpu:>8}  "
                f"{rss:>8}  {p.peak_threads:>3}  {p.status_text():<13} {guide}{_shown(p)}{note}"
            )
        yield from self._account_lines()
        if self.survivors:
            yield "survivors:"
            for p in self.survivors:
                state = "still running" if p.key in self._still_alive else "ended by tractui"
                yield f"{p.pid:>7}  {_shown(p)}  ({state})"
        else:
            yield "survivors: none"
        if self.leaked:
            yield (
                f"--fail-on-leak: {_count(len(self.survivors), 'survivor')} leaked: "
                f"exit status {EXIT_LEAKED} (the command's own: {self.status.describe()})"
            )

    def _account_lines(self) -> Iterator[str]:
        """The totals line and the top processes by CPU (none without accounting), and wait4's
        CPU of CMD (which needs no capability)."""
        t = self.totals
        if t.processes:  # else no process has ended, or accounting is off (said above)
            yield (
                f"total of {t.processes} ended process{'es' if t.processes != 1 else ''} "
                f"(kernel accounting): CPU "
                f"{t.cpu_s:.3f}s (user {t.cpu_user_s:.3f}s, system {t.cpu_system_s:.3f}s), "
                f"largest peak RSS {human_kb(t.peak_rss_kib)}, "
                f"storage read {human_bytes(t.read_bytes)}, written {human_bytes(t.write_bytes)}"
            )
        if self.waited is not None:
            w = self.waited
            yield (
                "wait4 of CMD (what /usr/bin/time shows, each process's last moments "
                f"included): CPU {w.ru_utime + w.ru_stime:.3f}s (user {w.ru_utime:.3f}s, system "
                f"{w.ru_stime:.3f}s)"
            )
        ranked = [(a.cpu_s, p) for p in self.procs if (a := self.account(p)) is not None]
        ranked.sort(key=lambda item: (-item[0], item[1].start))
        if ranked:
            yield f"top {min(TOP, len(ranked))} by CPU:"
        for cpu, p in ranked[:TOP]:
            yield f"{p.pid:>7}  {cpu:>8.3f}s  {_shown(p)}"


def _account_json(account: Account | None) -> dict[str, Any]:
    if account is None:
        return _NO_ACCOUNT
    return {
        "cpu_user_s": round(account.cpu_user_s, 6),
        "cpu_system_s": round(account.cpu_system_s, 6),
        "peak_rss_kib": account.peak_rss_kib,
        "read_bytes": account.read_bytes,
        "write_bytes": account.write_bytes,
        "ctx_switches": account.ctx_switches,
    }


def _totals_json(t: Account) -> dict[str, Any]:
    """The kernel's totals of the ended processes (:data:`_NO_TOTALS` has the same keys)."""
    return {
        "cpu_user_s": round(t.cpu_user_s, 6),
        "cpu_system_s": round(t.cpu_system_s, 6),
        "read_bytes": t.read_bytes,
        "write_bytes": t.write_bytes,
        "peak_rss_kib": t.peak_rss_kib,
        "processes": t.processes,
    }


def _rusage_json(usage: resource.struct_rusage | None) -> dict[str, Any] | None:
    """wait4's CPU of CMD. Not its ru_maxrss: Linux keeps the largest RSS a process had before
    its exec in that figure, and CMD was forked from tractui: it would be tractui's own size."""
    if usage is None:
        return None
    return {
        "cpu_user_s": round(usage.ru_utime, 6),
        "cpu_system_s": round(usage.ru_stime, 6),
    }


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _shown(p: Proc) -> str:
    """The command line quoted on one line, its controls escaped: a descendant may have
    changed it (or its comm) to anything. Without argv, what the store shows (``[comm]``)."""
    return shell_join(p.argv) if p.argv else escape(p.command())


def _with_guides(tracker: Tracker, procs: list[Proc]) -> Iterator[tuple[Proc, str]]:
    """Each process with its tree guide (``├─``, ``└─``, ``│``), in tree order."""
    wanted = {p.key for p in procs}

    def children(key: Key) -> list[Key]:
        return [k for k in tracker.procs[key].children if k in wanted]

    roots = [p.key for p in procs if p.parent is None]
    for row in guides.rows(roots, children, guides.WIDE):
        yield tracker.procs[row.key], row.guide


def _write_json(document: dict[str, Any], out: TextIO) -> None:
    """Indented at the top, one compact line per process: readable, and fast for 50k of them
    (json's indenting encoder is pure Python: 0.9 s for a 50k-process storm)."""
    processes = document.pop("processes")
    head = json.dumps(document, indent=2)[:-2]  # without the closing "\n}"
    out.write(head + ',\n  "processes": [')
    for i, proc in enumerate(processes):
        out.write(("\n    " if i == 0 else ",\n    ") + json.dumps(proc))
    out.write("\n  ]\n}\n")


def _write(report: Report, as_json: bool, output: Output | None) -> bool:
    """Write the report to ``-o FILE`` (opened before CMD ran; ``-`` is stdout), else (or if
    writing FILE fails) to stderr; whether it went to FILE."""
    if output is not None:
        try:
            _write_report(report, as_json, output.begin())
            return True
        except OSError as err:
            if output.stdout and isinstance(err, BrokenPipeError):
                # its reader left (| head), as it wished: no report on stderr, no noise at exit
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return True
            print(
                f"tractui trace: cannot write the report to {output.name}: "
                f"{err.strerror or err}; the report follows",
                file=sys.stderr,
            )
    _write_report(report, as_json, sys.stderr)
    return False


def _write_report(report: Report, as_json: bool, out: TextIO) -> None:
    if as_json:
        _write_json(report.to_json(), out)
    else:
        for line in report.lines():
            out.write(line + "\n")
    out.flush()


def export_perfetto(report: Report, output: Output) -> bool:
    """Write the processes to ``output`` (opened before CMD ran) for ui.perfetto.dev
    (:mod:`tractui.perfetto`); the live ones end at the time of writing. A failure (a full disk)
    is one line on stderr, and the half-written file is removed: the report is written anyway.
    Whether it was written."""
    try:
        out = output.begin()
        perfetto.write(
            report.processes_json(),
            out,
            end=time.time(),
            meta={"command": report.cmd, "root": report.root.pid},
        )
        out.flush()
        return True
    except OSError as err:
        output.discard()
        print(
            f"tractui trace: cannot write the Perfetto export to {output.name}: "
            f"{err.strerror or err}; give --perfetto a file with room to write it "
            "(the report is complete)",
            file=sys.stderr,
        )
        return False
