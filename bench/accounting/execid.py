"""Exec identification under load: a name for every short-lived program, its argv where it was
readable, and never a wrong argv.

    .venv/bin/python bench/accounting/execid.py [--n 2000] [--hogs 2] [--runs 1]
    .venv/bin/python bench/accounting/execid.py --quick      (200 processes)

The workload is ``execstorm`` (bench/accounting/execstorm.c, built into bench/out/): N children
started by vfork one after the other, child i exec'ing ``/bin/true ID-i``, an argv no other
process of the run has. It reaps them as they end, as shells and make do (a zombie's comm stays
readable in /proc: keeping them would flatter the naming), then writes the PID and argv of each,
in launch order: the ground truth.

It runs under ``tractui trace --json -o FILE --as-root -- execstorm N TRUTH`` while ``--hogs``
CPU hogs (busy loops, started here, outside the traced group, each ending by itself after
``--hog-s`` seconds) keep both CPUs busy: the exec'd program is often gone before /proc can be
read, which is the case this measures. Per launched PID, in the report:

- *named*: its ``comm`` (or argv) is not empty; *named right*: its ``comm`` is ``true``;
- *argv right*: its ``argv`` is ``["/bin/true", "ID-i"]``; *argv unknown*: it is empty;
- *WRONG argv*: its ``argv``, or an entry of its ``execs``, is not empty and is not what that
  PID launched (the runner's own command line, another child's ID...). Target 0.
- *wrong name*: a ``comm`` that is neither empty nor ``true``.

Targets (issue 12): named 100 %, argv where readable, 0 wrong. Run it as root.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common.machine import room_for
from bench.common.report import table
from bench.common.tools import add_report_options, compile_c, say, tractui_command

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT = REPO / "bench" / "out"
SOURCE = HERE / "execstorm.c"
STORM = OUT / "execstorm"
PROGRAM = "/bin/true"
COMM = "true"

MAX_N = 10_000  # execstorm refuses more; at most N zombies at once
MAX_HOGS = 8
MAX_HOG_S = 300.0
TRACE_TIMEOUT = 180.0  # execstorm stops itself after 120 s (alarm)

# a busy loop that ends by itself after argv[1] seconds
HOG = (
    "import sys, time\n"
    "end = time.monotonic() + float(sys.argv[1])\n"
    "while time.monotonic() < end: pass"
)


class Hogs:
    """``count`` CPU hogs, each ending by itself after ``seconds``; :meth:`stop` ends them
    sooner (by PID), and reaps them."""

    def __init__(self, count: int, seconds: float) -> None:
        # in our own process group: whoever stops us (a test's fixture) stops them too
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-c", HOG, str(seconds)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
            for _ in range(count)
        ]

    @property
    def pids(self) -> set[int]:
        return {p.pid for p in self.procs}

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
        for p in self.procs:
            p.wait(timeout=10)


@dataclass
class Run:
    index: int
    n: int
    hogs: int
    elapsed_s: float = 0.0
    launched: int = 0  # by the runner's own account
    found: int = 0  # launched PIDs the report has, as the runner's children
    named: int = 0
    named_right: int = 0
    argv_right: int = 0
    argv_unknown: int = 0
    wrong_argv: int = 0
    wrong_name: int = 0
    hogs_in_report: int = 0
    pids_reused: int = 0  # launches under a PID the run had used already
    lost_events: int = 0
    load: float = 0.0  # 1-minute load average at the end

    def share(self, part: int) -> str:
        return f"{100.0 * part / self.launched:.1f}%" if self.launched else "-"


def read_truth(path: Path) -> list[tuple[int, list[str]]]:
    """(PID, argv) of each child the runner launched, in launch order."""
    truth = []
    for line in path.read_text().splitlines():
        pid, ident = line.split()
        truth.append((int(pid), [PROGRAM, ident]))
    return truth


def count(
    run: Run, report: dict[str, Any], truth: list[tuple[int, list[str]]], hogs: set[int]
) -> list[str]:
    """Fill in ``run``'s counts; a few examples of wrong argvs, for the note.

    The k-th launch under a PID is the k-th of the runner's children with that PID in the
    report, by start time (a PID serves twice only if the machine's PIDs wrapped meanwhile).
    """
    root = int(report["root"])
    procs = report["processes"]
    run.hogs_in_report = sum(1 for p in procs if p["pid"] in hogs)
    children: dict[int, list[dict[str, Any]]] = {}
    for p in sorted(procs, key=lambda p: p["start"]):
        if p["parent"] == root:
            children.setdefault(p["pid"], []).append(p)
    run.launched = len(truth)
    run.pids_reused = len(truth) - len({pid for pid, _argv in truth})
    seen: dict[int, int] = {}
    examples: list[str] = []
    for pid, expected in truth:
        k = seen.get(pid, 0)
        seen[pid] = k + 1
        found = children.get(pid, [])
        if k >= len(found):
            continue
        p = found[k]
        run.found += 1
        comm, argv = p.get("comm") or "", p.get("argv") or []
        run.named += bool(comm or argv)
        run.named_right += comm == COMM
        run.wrong_name += bool(comm) and comm != COMM
        run.argv_right += argv == expected
        run.argv_unknown += not argv
        recorded = [argv, *(p.get("execs") or [])]
        if any(a and a != expected for a in recorded):
            run.wrong_argv += 1
            if len(examples) < 5:
                examples.append(
                    f"pid {pid} launched {json.dumps(expected)}, report: argv "
                    f"{json.dumps(argv)}, execs {json.dumps(p.get('execs'))}, comm {comm!r}"
                )
    return examples


def run_once(index: int, n: int, hogs: int, hog_s: float, keep: bool, out: Path) -> Run:
    run = Run(index, n, hogs)
    report_path = out / f"execid-{index}.json"
    truth_path = out / f"execid-{index}.truth"
    for stale in (report_path, truth_path):
        stale.unlink(missing_ok=True)
    cmd = [*tractui_command(), "trace", "--json", "-o", str(report_path), "--as-root", "--"]
    cmd += [str(STORM), str(n), str(truth_path)]
    hog = Hogs(hogs, hog_s)
    try:
        time.sleep(0.5)  # the hogs are spinning
        t0 = time.monotonic()
        done = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=TRACE_TIMEOUT, check=False
        )
        run.elapsed_s = time.monotonic() - t0
        run.load = os.getloadavg()[0]
    except subprocess.TimeoutExpired:
        raise SystemExit(
            f"execid.py: tractui trace did not end within {TRACE_TIMEOUT:.0f} s"
        ) from None
    finally:
        hog.stop()
    if done.returncode != 0 or not report_path.exists() or not truth_path.exists():
        said = done.stderr.decode(errors="replace").strip()
        raise SystemExit(f"execid.py: tractui trace -- execstorm exited {done.returncode}: {said}")
    report = json.loads(report_path.read_text())
    run.lost_events = int(report.get("lost_events", 0))
    examples = count(run, report, read_truth(truth_path), hog.pids)
    print_run(run, examples)
    if not keep:
        report_path.unlink(missing_ok=True)
        truth_path.unlink(missing_ok=True)
    return run


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_run(run: Run, examples: list[str]) -> None:
    say()
    say(
        f"run {run.index}: {run.launched:,} {PROGRAM} execs by vfork under {run.hogs} CPU hog(s); "
        f"trace took {run.elapsed_s:.2f} s; load average {run.load:.2f}; "
        f"tractui lost {run.lost_events:,} events"
    )
    rows = [("", "processes", "share", "target")]
    rows.append(("launched (ground truth)", f"{run.launched:,}", "100%", ""))
    rows.append(("in the report", f"{run.found:,}", run.share(run.found), "100%"))
    rows.append(
        (
            "named (comm or argv)",
            f"{run.named:,}",
            run.share(run.named),
            f"100%: {verdict(run.named == run.launched)}",
        )
    )
    rows.append((f"  named {COMM!r}", f"{run.named_right:,}", run.share(run.named_right), ""))
    rows.append(("argv right", f"{run.argv_right:,}", run.share(run.argv_right), "where readable"))
    rows.append(("argv unknown", f"{run.argv_unknown:,}", run.share(run.argv_unknown), ""))
    rows.append(
        (
            "WRONG argv",
            f"{run.wrong_argv:,}",
            run.share(run.wrong_argv),
            f"0: {verdict(run.wrong_argv == 0)}",
        )
    )
    rows.append(
        (
            "wrong name",
            f"{run.wrong_name:,}",
            run.share(run.wrong_name),
            f"0: {verdict(run.wrong_name == 0)}",
        )
    )
    table(rows)
    if run.pids_reused:
        say(f"  {run.pids_reused} launch(es) reused a PID of the run (told apart by start)")
    if run.hogs_in_report:
        say(f"  {run.hogs_in_report} hog(s) in the traced group: they were not counted")
    for line in examples:
        say(f"  wrong: {line}")


def print_summary(runs: list[Run]) -> None:
    def spread(values: list[float]) -> str:
        if len(values) == 1:
            return f"{values[0]:.1f}%"
        return (
            f"median {statistics.median(values):.1f}% "
            f"(min {min(values):.1f}%, max {max(values):.1f}%)"
        )

    def shares(attr: str) -> str:
        return spread([100.0 * getattr(r, attr) / r.launched for r in runs if r.launched])

    say()
    say(f"summary: {len(runs)} run(s) of {runs[0].n:,} execs under {runs[0].hogs} hog(s)")
    say(f"  named:       {shares('named')}  target 100%")
    say(f"  argv right:  {shares('argv_right')}")
    wrong = sum(r.wrong_argv for r in runs)
    say(f"  WRONG argv:  {wrong}  target 0: {verdict(wrong == 0)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/accounting/execid.py",
        description="exec identification: names and argvs of short programs under load",
    )
    parser.add_argument("--n", type=int, default=2000, help="/bin/true execs per run (2000)")
    parser.add_argument("--hogs", type=int, default=2, help="CPU hogs beside the storm (2)")
    parser.add_argument("--hog-s", type=float, default=60.0, help="each hog's life, s (60)")
    parser.add_argument("--runs", type=int, default=1, help="runs (1)")
    parser.add_argument("--quick", action="store_true", help="200 execs, hogs of 20 s, one run")
    add_report_options(parser, OUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.hog_s, args.runs = min(args.n, 200), min(args.hog_s, 20.0), 1
    if not 1 <= args.n <= MAX_N:
        parser.error(f"--n must be between 1 and {MAX_N:,}")
    if not 0 <= args.hogs <= MAX_HOGS:
        parser.error(f"--hogs must be between 0 and {MAX_HOGS}")
    if not 1 <= args.hog_s <= MAX_HOG_S:
        parser.error(f"--hog-s must be between 1 and {MAX_HOG_S:g}")
    if not 1 <= args.runs <= 20:
        parser.error("--runs must be between 1 and 20")
    ok, need, limits = room_for(args.n, share=0.5)
    if not ok:
        parser.error(f"{args.n:,} more processes ({need:,} in all) exceed half of: {limits}")
    if os.geteuid() != 0:
        say("note: not root: tractui needs root (or Linux >= 6.6) for the proc connector")
    compile_c(SOURCE, STORM)
    say(f"execid: {args.runs} run(s) of {args.n:,} execs of {PROGRAM} under {args.hogs} hog(s)")
    args.out.mkdir(parents=True, exist_ok=True)
    runs = [
        run_once(i, args.n, args.hogs, args.hog_s, args.keep, args.out)
        for i in range(1, args.runs + 1)
    ]
    print_summary(runs)
    if args.json is not None:
        args.json.write_text(json.dumps({"runs": [asdict(r) for r in runs]}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
