"""UI benchmark: the real tractui TUI against htop, on the same churning processes.

    sudo .venv/bin/python bench/ui/run.py [--sizes 2000,5000,10000] [--duration 30]

Per size N: builds bench/ui/churn.c into bench/out/, starts ``churn N ...`` (N sleeping children
plus ~2,000 fork/exit events a second), starts ``tractui`` and ``htop -d 10`` in tmux sessions of
their own, attaches the churn's PID to a tractui group by typing into the attach dialog, lets the
churn run, and measures over the same window: tractui's refresh times (from the opt-in
TRACTUI_BENCH_TIMINGS hook), the CPU of tractui's UI process, of its collector and of htop, and
then key-to-screen latencies. See bench/ui/README.md.
"""

from __future__ import annotations

import argparse
import io
import itertools
import math
import os
import pstats
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common.daemon import Daemon
from bench.common.machine import busy_ticks, room_for
from bench.common.report import quotient, ratio, table
from bench.common.stats import percentile
from bench.common.tmux import COLS, ROWS, Tmux
from bench.common.tools import compile_c, ensure_program, say, tractui_command
from tractui.kernel import procfs
from tractui.kernel.procfs import CLK_TCK

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT = REPO / "bench" / "out"
SOURCE = HERE / "churn.c"
CHURN = OUT / "churn"

TARGET_REFRESH_P95_MS = 50.0  # at 10,000 processes and more
TARGET_SIZE = 10_000  # where the refresh and CPU targets apply
# key-to-screen p95 targets: up to each size (ms)
TARGET_KEY_P95_MS = ((TARGET_SIZE, 50.0), (30_000, 80.0))
MAX_LIVE = 30_000  # churn.c refuses more
PID_MAX = Path("/proc/sys/kernel/pid_max")
PID_MAX_CEILING = 65_536  # the most the bench raises kernel.pid_max to (and it restores it)
PID_MAX_SHARE = 0.75  # raised when a run would need more than this share of the PID space
GROUP = "uibench"
# the collector's module: before the layout of issue 11, tractui.collector (for --pythonpath)
COLLECTOR = re.compile(r"\btractui(\.kernel)?\.collector\b")
KEY_TIMEOUT = 5.0  # a key whose effect is not on screen by then counts as missed
NOISY_OTHERS = 100.0  # CPU% of other work (the churn's children: ~0.5-0.7 CPU here) to warn at
POLL = 0.005  # between two captures of the screen while waiting for a key's effect


# ---- set-up ----------------------------------------------------------------------------------


def build() -> Path:
    return compile_c(SOURCE, CHURN)


def key_target(size: int) -> float:
    """The key-to-screen p95 target at ``size`` processes (ms)."""
    for upto, ms in TARGET_KEY_P95_MS:
        if size <= upto:
            return ms
    return TARGET_KEY_P95_MS[-1][1]


def need_of(biggest: int, rate: float, life_ms: int) -> int:
    """Processes at once the biggest run adds: its live ones, the churning, tractui, htop."""
    return biggest + int(rate * life_ms / 1000) + 64


@contextmanager
def pid_max_for(need: int) -> Iterator[None]:
    """Raise kernel.pid_max (within PID_MAX_CEILING) if ``need`` more processes would take
    over PID_MAX_SHARE of it, and put the old value back afterwards: on return, on an error,
    on Ctrl-C, and on SIGTERM or SIGHUP (turned into SystemExit here, so that the ``finally``
    runs). Not root, or at the ceiling already: left as it is (check_limits says so)."""
    old = read_pid_max()
    total = len(procfs.pids()) + need
    if old is None or total <= old * PID_MAX_SHARE or old >= PID_MAX_CEILING:
        yield
        return
    new = PID_MAX_CEILING
    try:
        PID_MAX.write_text(f"{new}\n")
    except OSError as err:
        say(f"kernel.pid_max stays {old:,}: cannot raise it ({err.strerror}); run as root")
        yield
        return
    say(f"kernel.pid_max raised {old:,} -> {new:,} for ~{total:,} processes; restored at the end")

    def on_signal(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    handlers = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        restore_pid_max(old)


def read_pid_max() -> int | None:
    try:
        return int(PID_MAX.read_text())
    except (OSError, ValueError):
        return None


def restore_pid_max(old: int) -> None:
    """Write ``old`` back (retried: a write can fail with EINTR); say so if it cannot."""
    for _ in range(3):
        try:
            PID_MAX.write_text(f"{old}\n")
        except OSError:
            time.sleep(0.1)
            continue
        if read_pid_max() == old:
            say(f"kernel.pid_max restored to {old:,}")
            return
    say(f"WARNING: could not restore kernel.pid_max to {old:,}: echo {old} > {PID_MAX}")


def check_limits(biggest: int, rate: float, life_ms: int) -> bool:
    """Say whether pid_max, threads-max, RLIMIT_NPROC and the pids cgroup allow the run."""
    ok, need, limits = room_for(need_of(biggest, rate, life_ms))
    verdict = "enough" if ok else "NOT ENOUGH"
    say(f"limits: {limits}; need ~{need:,} processes at once: {verdict}")
    return ok


# ---- /proc, through tractui's own reader -----------------------------------------------------


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of the whole process (every thread), in clock ticks."""
    stat = procfs.read_stat(pid)
    return stat.utime_stime if stat is not None else None


def thread_ticks(pid: int) -> dict[int, int]:
    """utime + stime of each thread of a process, by thread ID (clock ticks)."""
    return {tid: stat.utime_stime for tid, stat in procfs.read_task_stats(pid).items()}


def status_kb(pid: int, key: str) -> int:
    """A memory figure of /proc/PID/status (VmRSS, VmHWM), in kB; 0 if gone."""
    value = procfs.read_status(pid).get(key, "0 kB").split()
    return int(value[0]) if value and value[0].isdigit() else 0


def collectors_of(pid: int) -> list[int]:
    """The children of ``pid`` that run tractui's collector."""
    return [
        child
        for child, stat in procfs.scan().items()
        if stat.ppid == pid and COLLECTOR.search(" ".join(procfs.read_argv(child)))
    ]


# ---- what tractui shows ----------------------------------------------------------------------

HEADER = re.compile(rf"([▾▸]) {GROUP}\s+(\d+)/(\d+) live .*forks (\d+)\s+execs (\d+)\s+exits (\d+)")


@dataclass
class GroupLine:
    fold: str
    live: int
    total: int
    forks: int
    exits: int


def group_line(screen: str) -> GroupLine | None:
    match = HEADER.search(screen)
    if match is None:
        return None
    fold, live, total, forks, _execs, exits = match.groups()
    return GroupLine(fold, int(live), int(total), int(forks), int(exits))


def tree_top(screen: str) -> str:
    """The first line of the tree (below the status line and the column titles)."""
    lines = screen.splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("PID USER"):
            return lines[i + 1] if i + 1 < len(lines) else ""
    return ""


def header_on_top(screen: str) -> bool:
    return f" {GROUP} " in tree_top(screen) + " "


def group_folded(screen: str) -> bool:
    return tree_top(screen).startswith(f"▸ {GROUP}")


# ---- the churn -------------------------------------------------------------------------------


class Churn:
    """bench/out/churn in a process group of its own, which we end by its PGID."""

    def __init__(self, live: int, rate: int, duration: int, life_ms: int, log: Path) -> None:
        self.log = log
        self.err = log.with_suffix(".err")
        with open(log, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [str(CHURN), str(live), str(rate), str(duration), str(life_ms)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group: PGID = its PID
            )
        self.pid = self.proc.pid

    def go(self) -> None:
        os.kill(self.pid, signal.SIGUSR1)

    def forks_at(self, t: float) -> float | None:
        """Short-lived children forked by monotonic time ``t`` (interpolated from its log)."""
        points: list[tuple[float, int]] = []
        for line in self.log.read_text().splitlines():
            parts = line.split()
            if len(parts) == 6 and parts[0] == "churn":
                points.append((float(parts[1]), int(parts[5])))
        for (t0, f0), (t1, f1) in itertools.pairwise(points):
            if t0 <= t <= t1:
                return f0 + (f1 - f0) * (t - t0) / (t1 - t0) if t1 > t0 else float(f1)
        return None

    def stop(self) -> None:
        """SIGKILL the whole process group we started (its children too), then reap it."""
        if self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def errors(self) -> str:
        try:
            return self.err.read_text().strip()
        except OSError:
            return ""


# ---- one size --------------------------------------------------------------------------------


@dataclass
class Result:
    size: int
    live: int = 0  # the group's live count on screen at the window's end
    seconds: float = 0.0
    gen_events_s: float = float("nan")  # churn's forks (x2: fork + exit) in the window
    seen_events_s: float = float("nan")  # forks + exits the group header counted
    timings: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # % of one CPU over the window
    ui_rss_kb: int = 0
    ui_hwm_kb: int = 0
    htop_tasks: str = ""
    nav_ms: list[float] = field(default_factory=list)
    fold_ms: list[float] = field(default_factory=list)
    floor_ms: list[float] = field(default_factory=list)  # the same presses to FLOOR_PROGRAM
    htop_ms: list[float] = field(default_factory=list)  # End/Home in htop's list
    in_app_ms: list[float] = field(default_factory=list)  # tractui's own part of its presses
    missed_keys: int = 0
    htop_missed: int = 0
    load: float = float("nan")  # the machine's 1-minute load average at the window's end
    others: float = float("nan")  # CPU% of everything else (the churn's children included)

    def t(self, kind: str, q: float) -> float:
        return percentile(self.timings.get(kind, []), q)

    def ratio(self, part: str) -> float:
        """The CPU of ``part`` against htop's (nan without htop)."""
        return quotient(self.cpu.get(part, math.nan), self.cpu.get("htop", math.nan))

    def vs_htop(self, part: str) -> str:
        return ratio(self.cpu.get(part, math.nan), self.cpu.get("htop", math.nan))


@contextmanager
def temp_dir(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tractui-ui-bench-"))
    try:
        yield path
    finally:
        if keep:
            say(f"  kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def read_timings(path: Path, t0: float, t1: float) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and t0 <= float(parts[0]) <= t1:
            out.setdefault(parts[1], []).append(float(parts[2]))
    return out


# the anchor of the key latencies: a program that redraws one line at each key (a counter),
# pressed the same way, in the same tmux, under the same load: what any program's key-to-screen
# time is through tmux and its measure here
FLOOR_PROGRAM = (
    "import os, sys, tty\n"
    "tty.setraw(0)\n"
    "n = 0\n"
    "while os.read(0, 64):\n"
    "    n += 1\n"
    "    os.write(1, b'\\rkeys %d ' % n)\n"
)


def floor_count(screen: str) -> int:
    match = re.search(r"keys (\d+)", screen)
    return int(match.group(1)) if match else 0


def floor_latency(tmux: Tmux, presses: int, rng: random.Random) -> list[float]:
    """Key-to-screen times of FLOOR_PROGRAM, End and Home alternately (ms)."""
    name, _pid = tmux.start("floor", [sys.executable, "-c", FLOOR_PROGRAM], {})
    out: list[float] = []
    try:
        for i in range(presses):
            time.sleep(rng.uniform(0.15, 0.35))
            before = floor_count(tmux.screen(name))
            started = time.monotonic()
            tmux.keys(name, "End" if i % 2 else "Home")
            while time.monotonic() - started < KEY_TIMEOUT:
                if floor_count(tmux.screen(name)) > before:
                    out.append((time.monotonic() - started) * 1e3)
                    break
                time.sleep(POLL)
    finally:
        tmux.kill(name)
    return out


HTOP_TITLES = re.compile(r"^\s*PID\W?\s*USER\b")  # "PID△USER": the sort column is marked


def htop_on_top(screen: str) -> bool:
    """htop's list (sorted by PID) shows PID 1 on its first row: the view is at its top."""
    lines = screen.splitlines()
    for i, line in enumerate(lines[:-1]):
        if HTOP_TITLES.match(line):
            first = lines[i + 1].split()
            return bool(first) and first[0] == "1"
    return False


def key_latency(
    tmux: Tmux,
    name: str,
    keys: tuple[str, str],
    state: Callable[[str], bool],
    presses: int,
    rng: random.Random,
    log: Path,
) -> tuple[list[float], int]:
    """Press whichever of keys[0] (makes ``state`` of the screen true) and keys[1] (false)
    flips it; time each press from send-keys to the screen showing the flip. Returns the
    latencies (ms) and how many presses showed nothing within KEY_TIMEOUT. Each press is
    also appended to ``log`` ("MONOTONIC KEY MS", the clock of the app's timings) to line
    it up with them (``--keep``)."""
    out: list[float] = []
    missed = 0
    for _ in range(presses):
        time.sleep(rng.uniform(0.15, 0.35))  # land anywhere in the 200 ms refresh cycle
        want = not state(tmux.screen(name))
        started = time.monotonic()
        tmux.keys(name, keys[0] if want else keys[1])
        while True:
            if state(tmux.screen(name)) == want:
                out.append((time.monotonic() - started) * 1e3)
                with log.open("a") as f:
                    f.write(f"{started:.3f} {keys[0] if want else keys[1]} {out[-1]:.1f}\n")
                break
            if time.monotonic() - started > KEY_TIMEOUT:
                missed += 1
                break
            time.sleep(POLL)
    return out, missed


def run_size(args: argparse.Namespace, size: int, htop: str | None) -> Result:
    result = Result(size)
    rng = random.Random(size)
    churn: Churn | None = None
    daemon: Daemon | None = None
    budget = 60 + args.settle + args.duration + 3 * args.presses * (KEY_TIMEOUT / 5 + 0.5)
    with temp_dir(args.keep) as tmp:
        tmux = Tmux(tmp / "tmux.sock", control=True)
        timings = tmp / "timings.txt"
        profile = tmp / "ui.prof"
        try:
            churn = Churn(size, args.churn // 2, int(budget), args.life_ms, tmp / "churn.log")
            env = {
                "TRACTUI_STATE_DIR": str(tmp / "state"),
                "TRACTUI_SOCKET": str(tmp / "no-daemon.sock"),  # its own engine, never a daemon's
                "TRACTUI_BENCH_TIMINGS": str(timings),
            }
            if args.pythonpath:  # another copy of the tractui package (a before/after)
                env["PYTHONPATH"] = args.pythonpath
            if args.daemon:  # the UI over a daemon of its own: the engine in another process
                daemon = Daemon(tmp / "daemon", log=tmp / "daemon.log", cwd=tmp)
                if args.pythonpath:
                    daemon.env["PYTHONPATH"] = args.pythonpath
                daemon.start()
                env["TRACTUI_SOCKET"] = str(daemon.socket)
                env["TRACTUI_STATE_DIR"] = str(daemon.state)
            ui_argv = tractui_command()
            if args.profile:  # the UI thread under cProfile, written when tractui quits
                ui_argv = [sys.executable, "-m", "cProfile", "-o", str(profile), *ui_argv]
            # in its temp directory: `python -m` puts the working directory first on sys.path,
            # so the collector of a checkout's own tractui would shadow --pythonpath's
            ui, ui_pid = tmux.start("tractui-ui", ui_argv, env, cwd=tmp)
            tmux.wait_for(ui, lambda s: " running " in s and " groups " in s, "tractui to start")
            engine_pid = daemon.pid if daemon is not None else ui_pid
            collectors = collectors_of(engine_pid)
            if len(collectors) != 1:
                raise RuntimeError(f"cannot find tractui's collector among {engine_pid}'s children")
            collector_pid = collectors[0]
            htop_session = htop_pid = None
            if htop is not None:
                htop_env = {"XDG_CONFIG_HOME": str(tmp / "htop-config"), "HOME": str(tmp)}
                # sorted by PID: Home shows PID 1 on top, whatever the CPU% (the key anchor)
                htop_argv = [htop, *shlex.split(args.htop_args), "--sort-key", "PID"]
                htop_session, htop_pid = tmux.start("htop", htop_argv, htop_env)
            # attach the churn's PID the way a user does: a, the PID, Tab, the group, Enter,
            # y to the confirm that lists what is attached
            tmux.keys(ui, "a")
            tmux.wait_for(ui, lambda s: "Attach running processes" in s, "the attach dialog")
            typed = (str(churn.pid), "Tab", GROUP, "Enter", "y")
            for i, key in enumerate(typed):  # as a person types: tmux would merge a burst
                tmux.keys(ui, key, literal=i % 2 == 0)
                time.sleep(0.3)
                if i == 0:
                    tmux.wait_for(ui, lambda s: f"{churn.pid} root:" in s, "the PID's preview")
            tmux.wait_for(ui, lambda s: group_line(s) is not None, "the group on screen")
            churn.go()
            say(f"  {size:,}: attached churn PID {churn.pid}; forking {size:,} children")
            tmux.wait_for(
                ui,
                lambda s: (g := group_line(s)) is not None and g.live >= size,
                f"{size:,} live processes on screen",
                timeout=120,
            )
            say(f"  {size:,}: settling {args.settle} s, then measuring {args.duration} s")
            time.sleep(args.settle)

            pids = {"ui": ui_pid, "collector": collector_pid, "churn": churn.pid}
            if daemon is not None:
                pids["daemon"] = daemon.pid
            if htop_pid is not None:
                pids["htop"] = htop_pid
            before = {k: cpu_ticks(p) for k, p in pids.items()}
            threads_before = thread_ticks(ui_pid)
            machine = busy_ticks()
            first = group_line(tmux.screen(ui))
            t0 = time.monotonic()
            time.sleep(args.duration)
            t1 = time.monotonic()
            after = {k: cpu_ticks(p) for k, p in pids.items()}
            threads_after = thread_ticks(ui_pid)
            machine = busy_ticks() - machine
            last_screen = tmux.screen(ui)
            last = group_line(last_screen)
            result.seconds = t1 - t0
            for k in pids:
                b, a = before[k], after[k]
                if a is not None and b is not None:
                    result.cpu[k] = 100.0 * (a - b) / CLK_TCK / result.seconds
            # the UI process split: its main thread (Textual) and the others (the session's)
            spent = {
                tid: ticks - threads_before[tid]
                for tid, ticks in threads_after.items()
                if tid in threads_before
            }
            result.cpu["ui-main"] = 100.0 * spent.get(ui_pid, 0) / CLK_TCK / result.seconds
            result.cpu["ui-others"] = (
                100.0 * (sum(spent.values()) - spent.get(ui_pid, 0)) / CLK_TCK / result.seconds
            )
            if "ui" in result.cpu and "collector" in result.cpu:
                result.cpu["sum"] = (
                    result.cpu["ui"] + result.cpu["collector"] + result.cpu.get("daemon", 0.0)
                )
            result.load = os.getloadavg()[0]
            ours = sum(v for k, v in result.cpu.items() if k in pids)
            result.others = 100.0 * machine / CLK_TCK / result.seconds - ours
            result.ui_rss_kb = status_kb(ui_pid, "VmRSS")
            result.ui_hwm_kb = status_kb(ui_pid, "VmHWM")
            if first is not None and last is not None:
                seen = last.forks + last.exits - first.forks - first.exits
                result.seen_events_s = seen / result.seconds
                result.live = last.live
            if htop_session is not None:
                match = re.search(r"Tasks: (\d+)", tmux.screen(htop_session))
                result.htop_tasks = match.group(1) if match else "?"

            # keys, still under load: the view jumps (End / Home), the group folds (← / →)
            say(f"  {size:,}: {args.presses} presses of End/Home, then of ←/→; the floor's")
            result.floor_ms = floor_latency(tmux, args.presses, rng)
            if htop_session is not None:  # the anchor: htop's own, the same keys, the same way
                tmux.keys(htop_session, "Home")
                tmux.wait_for(htop_session, htop_on_top, "htop's list at its top")
                result.htop_ms, missed = key_latency(
                    tmux,
                    htop_session,
                    ("Home", "End"),
                    htop_on_top,
                    args.presses,
                    rng,
                    tmp / "htop-presses.txt",
                )
                result.htop_missed = missed
            k0 = time.monotonic()
            tmux.keys(ui, "Home")
            tmux.wait_for(ui, header_on_top, "the group header on top")
            result.nav_ms, missed = key_latency(
                tmux, ui, ("Home", "End"), header_on_top, args.presses, rng, tmp / "presses.txt"
            )
            result.missed_keys += missed
            tmux.keys(ui, "Home")
            tmux.wait_for(ui, header_on_top, "the group header on top")
            result.fold_ms, missed = key_latency(
                tmux, ui, ("Left", "Right"), group_folded, args.presses, rng, tmp / "presses.txt"
            )
            result.missed_keys += missed
            k1 = time.monotonic()
            tmux.keys(ui, "Right")
            # the churn logs once a second: by now its log covers the window
            f0, f1 = churn.forks_at(t0), churn.forks_at(t1)
            if f0 is not None and f1 is not None:
                result.gen_events_s = 2 * (f1 - f0) / result.seconds
            if churn.errors():
                say(f"  churn said: {churn.errors()}")
            # tractui writes its timings as it quits (q, the way a user quits)
            if not quit_ui(tmux, ui, 30):
                raise RuntimeError("tractui did not quit on q within 30 s")
            result.timings = read_timings(timings, t0, t1)
            # each key is noted once per time it reached the app (named by its event's
            # time): the last is after the focused widget handled it
            noted = read_timings(timings, k0, k1)
            result.in_app_ms = [max(v) for k, v in noted.items() if k.startswith("key@")]
        finally:
            for name in tmux.sessions:
                if name.startswith("tractui-ui"):
                    quit_ui(tmux, name, 5)
            if churn is not None:
                churn.stop()
            tmux.kill_all()
            if daemon is not None:
                daemon.stop()
        if args.profile:
            show_profile(profile, size)
    return result


def quit_ui(tmux: Tmux, name: str, timeout: float) -> bool:
    """Press q in tractui's session; True once it has ended."""
    if not tmux.alive(name):
        return True
    with suppress(RuntimeError):
        tmux.keys(name, "q")
    deadline = time.monotonic() + timeout
    while tmux.alive(name):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def show_profile(path: Path, size: int) -> None:
    """The UI thread's hottest functions (cProfile: the main thread only, not the session's)."""
    if not path.exists():
        say(f"  {size:,}: no profile (tractui did not quit cleanly)")
        return
    say(f"  {size:,}: the UI thread under cProfile, by own time (the figures above are slowed):")
    out = io.StringIO()
    pstats.Stats(str(path), stream=out).sort_stats("tottime").print_stats(25)
    for line in out.getvalue().splitlines():
        if line.strip():
            say("    " + line)


# ---- reporting -------------------------------------------------------------------------------


def f1(value: float) -> str:
    return "-" if value != value else f"{value:.1f}"  # nan


def pair(values: list[float]) -> str:
    return f"{f1(percentile(values, 50))} / {f1(percentile(values, 95))}"


def rounds(ms: list[float]) -> str:
    """The sampler's rounds, each from the end of the one before: p50 / p95, in s."""
    if not ms:
        return "-"
    return f"{percentile(ms, 50) / 1e3:.2f} / {percentile(ms, 95) / 1e3:.2f}"


def report(results: list[Result], htop_note: str) -> None:
    say()
    say("tractui UI vs htop (CPU: % of one CPU over the same window; ms: p50 / p95)")
    rows = [
        [
            "procs",
            "live",
            "ev/s gen",
            "refresh ms",
            "UI CPU%",
            "collector%",
            "UI+coll%",
            "htop%",
            "UI/htop",
            "sum/htop",
            "key End/Home ms",
            "key ←/→ ms",
            "key floor ms",
            "key htop ms",
            "UI RSS",
        ]
    ]
    for r in results:
        rows.append(
            [
                f"{r.size:,}",
                f"{r.live:,}",
                f"{r.gen_events_s:,.0f}" if r.gen_events_s == r.gen_events_s else "-",
                pair(r.timings.get("refresh", [])),
                f1(r.cpu.get("ui", float("nan"))),
                f1(r.cpu.get("collector", float("nan"))),
                f1(r.cpu.get("sum", float("nan"))),
                f1(r.cpu.get("htop", float("nan"))),
                r.vs_htop("ui"),
                r.vs_htop("sum"),
                pair(r.nav_ms),
                pair(r.fold_ms),
                pair(r.floor_ms),
                pair(r.htop_ms),
                f"{r.ui_rss_kb / 1024:.0f} MiB",
            ]
        )
    table(rows, left=0)
    say()
    say("details (ms: p50 / p95 over the window)")
    rows = [
        [
            "procs",
            "rebuild ms",
            "snapshot ms",
            "sample ms",
            "round s",
            "refreshes/snapshots",
            "UI main/other threads CPU%",
            "ev/s seen",
            "churn CPU%",
            "UI peak RSS",
            "htop tasks",
            "key in-app ms",
            "GC pauses gen0 (n) / gen1 (n) ms",
            "keys missed (htop)",
            "daemon CPU%",
            "load avg",
            "others CPU%",
        ]
    ]
    for r in results:
        rows.append(
            [
                f"{r.size:,}",
                pair(r.timings.get("rebuild", [])),
                pair(r.timings.get("snapshot", [])),
                pair(r.timings.get("sample", [])),
                rounds(r.timings.get("round", [])),
                f"{len(r.timings.get('refresh', []))}/{len(r.timings.get('snapshot', []))}",
                f"{f1(r.cpu.get('ui-main', float('nan')))} / "
                f"{f1(r.cpu.get('ui-others', float('nan')))}",
                f"{r.seen_events_s:,.0f}" if r.seen_events_s == r.seen_events_s else "-",
                f1(r.cpu.get("churn", float("nan"))),
                f"{r.ui_hwm_kb / 1024:.0f} MiB",
                r.htop_tasks or "-",
                pair(r.in_app_ms),
                f"{pair(r.timings.get('gc0', []))} ({len(r.timings.get('gc0', []))}) / "
                f"{pair(r.timings.get('gc1', []))} ({len(r.timings.get('gc1', []))})",
                f"{r.missed_keys} ({r.htop_missed})",
                f1(r.cpu.get("daemon", float("nan"))),
                f"{r.load:.1f}",
                f1(r.others),
            ]
        )
    table(rows, left=0)
    if htop_note:
        say(f"  htop: {htop_note}")
    busy = [r for r in results if r.others > NOISY_OTHERS]
    if busy:
        sizes = ", ".join(f"{r.size:,}" for r in busy)
        say(
            f"  WARNING: other work used > {NOISY_OTHERS:g}% of a CPU during the window at "
            f"{sizes} (others CPU%: the churn's short-lived children and whatever else runs): "
            "refresh and key times are inflated; rerun on an idle machine"
        )
    say()
    big = [r for r in results if r.size >= TARGET_SIZE]
    for r in big:
        p95 = r.t("refresh", 95)
        ok = p95 <= TARGET_REFRESH_P95_MS
        say(
            f"target at {r.size:,}: refresh p95 {f1(p95)} ms ≤ {TARGET_REFRESH_P95_MS:g} ms: "
            f"{'ok' if ok else 'MISSED'}"
        )
        for part, label in (("ui", "UI process"), ("sum", "UI + collector")):
            value = r.ratio(part)
            verdict = "-" if value != value else ("ok" if value <= 1.0 else "MISSED")
            say(f"target at {r.size:,}: {label} CPU ≤ htop's: {r.vs_htop(part)}: {verdict}")
    if not big:
        say(f"(the refresh and CPU targets are for {TARGET_SIZE:,} processes: not run)")
    for r in results:
        worst = max(percentile(r.nav_ms, 95), percentile(r.fold_ms, 95))
        target = key_target(r.size)
        ok = worst <= target and not r.missed_keys
        say(
            f"target at {r.size:,}: key-to-screen p95 {f1(worst)} ms ≤ {target:g} ms: "
            f"{'ok' if ok else 'MISSED'} (same run: htop's p95 {f1(percentile(r.htop_ms, 95))} "
            f"ms, the floor through tmux p95 {f1(percentile(r.floor_ms, 95))} ms; tractui's own "
            f"part: p95 {f1(percentile(r.in_app_ms, 95))} ms)"
        )


# ---- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/ui/run.py", description="the tractui TUI vs htop on churning process groups"
    )
    parser.add_argument(
        "--sizes", default="2000,5000,10000", help="live processes per run (2000,5000,10000)"
    )
    parser.add_argument("--duration", type=int, default=30, help="measuring window, s (30)")
    parser.add_argument("--settle", type=int, default=12, help="wait before it, s (12)")
    parser.add_argument("--churn", type=int, default=2000, help="fork+exit events/s (2000)")
    parser.add_argument("--life-ms", type=int, default=100, help="churned child's life (100)")
    parser.add_argument("--presses", type=int, default=60, help="key presses per key pair (60)")
    parser.add_argument("--htop-args", default="-d 10", help="htop's options ('-d 10')")
    parser.add_argument("--no-htop", action="store_true", help="measure tractui alone")
    parser.add_argument(
        "--daemon",
        action="store_true",
        help="run the UI over a tractui daemon of its own (the engine in another process)",
    )
    parser.add_argument("--keep", action="store_true", help="keep each run's temp directory")
    parser.add_argument(
        "--profile", action="store_true", help="run the UI under cProfile; print its hot spots"
    )
    parser.add_argument(
        "--pythonpath",
        metavar="DIR",
        help="run the tractui package found in DIR (PYTHONPATH), e.g. a copy of another version",
    )
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes takes numbers separated by commas, e.g. 2000,5000,10000")
    if not sizes or not all(1 <= s <= MAX_LIVE for s in sizes):
        parser.error(f"each size must be between 1 and {MAX_LIVE:,}")
    if not 5 <= args.duration <= 600 or not 0 <= args.settle <= 120:
        parser.error("--duration takes 5..600 s, --settle 0..120 s")
    if not 2 <= args.churn <= 20_000 or not 0 <= args.life_ms <= 10_000:
        parser.error("--churn takes 2..20000 events/s, --life-ms 0..10000")
    if not 2 <= args.presses <= 1000:
        parser.error("--presses takes 2..1000")
    if os.geteuid() != 0:
        say("note: not root: tractui needs Linux >= 6.6 to listen")
    if ensure_program("tmux")[0] is None:
        sys.exit("run.py: tmux is not installed (apt-get install tmux)")
    htop: str | None = None
    htop_note = ""
    if args.no_htop:
        htop_note = "not run (--no-htop)"
    else:
        htop, why = ensure_program("htop")
        if htop is None:
            htop_note = f"{why}: tractui alone"
            say(f"htop: {htop_note}")
    with pid_max_for(need_of(max(sizes), args.churn / 2, args.life_ms)):
        return run_all(args, sizes, htop, htop_note)


def run_all(args: argparse.Namespace, sizes: list[int], htop: str | None, htop_note: str) -> int:
    if not check_limits(max(sizes), args.churn / 2, args.life_ms):
        say("run.py: the limits above are too low for the biggest size: it may fail to fork")
    build()
    say(
        f"ui bench: sizes {', '.join(f'{s:,}' for s in sizes)}; churn {args.churn:,} events/s "
        f"({args.churn // 2:,} children/s living {args.life_ms} ms); settle {args.settle} s, "
        f"window {args.duration} s; htop {args.htop_args if htop else '-'}; tmux {COLS}x{ROWS}; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (nothing else should run)"
    )
    results = []
    for size in sizes:
        try:
            results.append(run_size(args, size, htop))
        except RuntimeError as err:
            say(f"  {size:,}: failed: {err}")
    if not results:
        return 1
    report(results, htop_note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
