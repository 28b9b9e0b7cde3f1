"""The CPU the exit records lack, recovered from the reapers (tractui.model.reaped), against the
real kernel: a group's CPU is what getrusage says of its root and everything it waited for.

A record is read in its process's exit, before its last moments (~1 ms each here): 300 short
children lose a third of their CPU in their records, so the records alone miss the truth by
far more than the tolerance, and each test shows it before checking the corrected figure.

The tolerance: 1% of the truth, plus 2 clock ticks (USER_HZ) a mode. /proc gives a process's
own CPU (utime, stime) and its reaped children's (cutime, cstime) in whole ticks, each cut
down: a mode's figure adds two such numbers, so it may be short by up to 2 ticks.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.common.daemon import Daemon
from tests.integration.support import poll_until, wait_until
from tractui.control import LaunchSpec
from tractui.engine import Engine
from tractui.kernel import procfs
from tractui.model.store import Group

pytestmark = pytest.mark.kernel

TICK = 1 / procfs.CLK_TCK

# the group's root: forks N children that exec /bin/true, M that compute ~MS ms and K shells
# that run /bin/true twice (each reaps a child, then execs the last), one after another, each
# waited for (unless SIGCHLD is ignored: then the kernel reaps them); then writes getrusage's
# SELF and CHILDREN, per mode, to OUT and sleeps (or exits at once: "exit")
ROOT = r"""
import json, os, resource, signal, sys, time
out, n, m, ms, ignore, then = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    float(sys.argv[4]), sys.argv[5] == "ignore", sys.argv[6]
if ignore:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
shells = int(sys.argv[7])
go = sys.argv[8] if len(sys.argv) > 8 else ""
if go:  # attached: wait for the test to say so, then count from there
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(go + ".before", "w") as f:
        json.dump([before.ru_utime, before.ru_stime], f)
    while not os.path.exists(go):
        time.sleep(0.01)

def child(kind):
    pid = os.fork()
    if pid == 0:
        if kind == "true":
            os.execv("/bin/true", ["/bin/true"])
        if kind == "sh":
            os.execv("/bin/sh", ["sh", "-c", "/bin/true; /bin/true"])
        t = time.process_time()
        while time.process_time() - t < ms / 1000:
            pass
        os._exit(0)
    if not ignore:
        os.waitpid(pid, 0)

for _ in range(n):
    child("true")
for _ in range(m):
    child("burn")
for _ in range(shells):
    child("sh")
if ignore:
    try:
        while True:
            os.wait()
    except ChildProcessError:
        pass
s = resource.getrusage(resource.RUSAGE_SELF)
c = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(out + ".tmp", "w") as f:
    json.dump({"self": [s.ru_utime, s.ru_stime], "children": [c.ru_utime, c.ru_stime]}, f)
os.rename(out + ".tmp", out)
if then == "exit":
    os._exit(0)
time.sleep(60)
"""


def _truth(out: Path, timeout: float = 60) -> dict[str, list[float]]:
    poll_until(out.exists, "the root's getrusage", timeout)
    return dict(json.loads(out.read_text()))


def _live_ticks(engine: Engine, group: Group) -> tuple[float, float]:
    """The live members' own CPU, from /proc (user, system seconds)."""
    user = system = 0
    for key in group.members:
        proc = engine.tracker.procs.get(key)
        if proc is None or not proc.alive:
            continue
        raw = Path(f"/proc/{proc.pid}/stat").read_bytes()
        rest = raw[raw.rindex(b")") + 2 :].split()
        user += int(rest[11])
        system += int(rest[12])
    return user * TICK, system * TICK


def _cpu(engine: Engine, group: Group) -> tuple[float, float, float]:
    """The group's CPU as tractui counts it (user, system), and the records' part alone
    with the live members' (the sum: what tractui counted before the correction)."""
    live_user, live_system = _live_ticks(engine, group)
    user = live_user + (group.ended.utime_us + group.unrecorded_user_us) / 1e6
    system = live_system + (group.ended.stime_us + group.unrecorded_system_us) / 1e6
    return user, system, live_user + live_system + group.ended.cpu_s


def _within(got: float, truth: float, ticks: int = 2) -> bool:
    return abs(got - truth) <= 0.01 * truth + ticks * TICK


def _launch(engine: Engine, group: str, tmp_path: Path, *args: str) -> Path:
    out = tmp_path / f"{group}.json"
    argv = [sys.executable, "-S", "-c", ROOT, str(out), *args]
    engine.launch(group, LaunchSpec(argv=argv, cwd=str(tmp_path)))
    return out


def test_group_cpu_is_its_roots_getrusage(engine: Engine, tmp_path: Path) -> None:
    """300 children of /bin/true, 20 of ~20 ms and 20 shells that each reap one /bin/true,
    waited for by a root that then sleeps: its group's CPU (the root's /proc, the records,
    the corrections) is getrusage's; once the engine reaps the root, with wait4, still."""
    out = _launch(engine, "burst", tmp_path, "300", "20", "20", "wait", "sleep", "20")
    truth = _truth(out)
    group = engine.tracker.groups["burst"]
    true_user = truth["self"][0] + truth["children"][0]
    true_system = truth["self"][1] + truth["children"][1]
    wait_until(engine, lambda: group.exits >= 360, "the 360 exits", 30)
    got: list[tuple[float, float, float]] = []

    def settled() -> bool:
        got[:] = [_cpu(engine, group)]
        user, system, _ = got[0]
        return _within(user, true_user) and _within(system, true_system)

    try:
        wait_until(engine, settled, "the group's CPU to reach getrusage's, each mode", 10)
    finally:
        print("user, system, records:", got, "truth:", true_user, true_system)
    user, system, records = got[0]
    truth_sum = true_user + true_system
    # the records alone miss it by far: the correction does the work
    assert records < truth_sum - (0.01 * truth_sum + 4 * TICK), (records, truth_sum)
    # the root ends: the engine reaps it with wait4, whose rusage is its whole (its CPU after
    # the getrusage above too: its exit, a python's teardown, under ~50 ms)
    root = engine.tracker.procs[group.roots[0]]
    os.kill(root.pid, signal.SIGTERM)
    wait_until(engine, lambda: not root.alive, "the root's end", 10)

    def final() -> bool:
        got[:] = [_cpu(engine, group)]
        return got[0][0] + got[0][1] >= truth_sum - 2 * TICK and not engine.launched

    wait_until(engine, final, "the wait4 of the root", 10)
    time.sleep(1.2)
    engine.poll(0.05)
    user, system, _ = _cpu(engine, group)
    assert truth_sum - 2 * TICK <= user + system <= truth_sum * 1.01 + 0.05, (
        user + system,
        truth_sum,
    )


def test_sigchld_ignored_no_negative_correction(engine: Engine, tmp_path: Path) -> None:
    """A root that ignores SIGCHLD: the kernel reaps its children, its cutime never grows.
    No correction goes below 0, and the group's CPU is at least its records'."""
    out = _launch(engine, "autoreap", tmp_path, "100", "0", "0", "ignore", "sleep", "0")
    _truth(out)
    group = engine.tracker.groups["autoreap"]
    wait_until(engine, lambda: group.exits >= 100, "the 100 exits", 30)
    deadline = time.monotonic() + 2.5  # readings settle after a second
    while time.monotonic() < deadline:
        engine.poll(0.05)
    assert group.unrecorded_user_us >= 0 and group.unrecorded_system_us >= 0
    for proc in engine.tracker.procs.values():
        if proc.fix is not None:
            assert proc.fix.user_us >= 0 and proc.fix.system_us >= 0, proc.fix
    user, system, records = _cpu(engine, group)
    assert user + system >= records


def test_attached_reaper_counts_only_what_it_reaped_since(
    engine: Engine, tmp_path: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    """A process attached after it reaped 10 children of ~30 ms: its base is its cutime then,
    so what it reaps after (100 of /bin/true, 10 of ~20 ms) is counted once, and what it reaped
    before not at all."""
    out = tmp_path / "attached.json"
    go = tmp_path / "go"
    program = tmp_path / "root.py"
    program.write_text(ROOT)
    python = [sys.executable, "-S", str(program)]
    pre = [*python, str(tmp_path / "pre.json"), "0", "10", "30", "wait", "exit", "0"]
    # the pre-attach children: a first program of the same shape, its children reaped by a
    # shell that then execs the root (the shell's cutime carries over the exec)
    script = (
        f"{shlex.join(pre)}; exec {shlex.join(python)} {shlex.quote(str(out))} "
        f"100 10 20 wait sleep 0 {shlex.quote(str(go))}"
    )
    proc = spawn(["sh", "-c", script])
    # (the engine applies the events meanwhile: none of them is left to apply after the attach)
    wait_until(engine, Path(str(go) + ".before").exists, "the root to wait for the go", 30)
    before = json.loads(Path(str(go) + ".before").read_text())
    assert sum(before) >= 0.25, before  # it reaped the pre-attach children's CPU
    engine.attach("attached", [proc.pid])
    go.write_text("")
    truth = _truth(out)
    group = engine.tracker.groups["attached"]
    wait_until(engine, lambda: group.exits >= 110, "the 110 exits", 30)
    deadline = time.monotonic() + 3  # readings settle after a second
    while time.monotonic() < deadline:
        engine.poll(0.05)
    user, system, records = _cpu(engine, group)
    # its own CPU (all its life: /proc's) and its children's since the attach
    upper = sum(truth["self"]) + sum(truth["children"]) - sum(before)
    assert user + system <= upper * 1.01 + 4 * TICK, (user + system, upper, before)
    # and the correction did its work (what the records lack of 100 /bin/true's)
    assert user + system > records + 0.01 * upper + 4 * TICK, (user + system, records)


def _scrape_cpu(address: str, group: str) -> tuple[float, float]:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    found = {"user": 0.0, "system": 0.0}
    for mode in found:
        series = f'namedprocess_namegroup_cpu_seconds_total{{groupname="{group}",mode="{mode}"}}'
        for line in text.splitlines():
            if line.startswith(series + " "):
                found[mode] = float(line.rpartition(" ")[2])
    return found["user"], found["system"]


def _groups_cpu(daemon: Daemon, group: str) -> tuple[float, float]:
    """``groups``' CPU of the group, and the records' part with the live members' alone."""
    with daemon.connect() as conn:
        for g in conn.request("groups"):
            if g["name"] == group:
                ended = g["ended"]
                records = g["live_cpu_s"] + ended["cpu_user_s"] + ended["cpu_system_s"]
                return float(g["cpu_s"]), float(records)
    raise AssertionError(f"no group {group!r}")


def test_metrics_and_groups_cpu_survive_kill9(
    make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    """Through a daemon: the metrics' CPU counter and ``groups``' CPU_S of the group of the
    first test are getrusage's; after a kill -9 and a restart, the counter has not fallen and
    is still getrusage's (the corrections were saved with the members, the counters' base in
    metrics.json)."""
    root = tmp_path / "d"
    args = ["--metrics", "127.0.0.1:0", "--metrics-interval", "0.3"]
    daemon = make_daemon(*args, root=root)
    out = tmp_path / "burst.json"
    with daemon.connect() as conn:
        daemon.add(conn, "burst", [sys.executable, "-S", "-c", ROOT, str(out), "300", "20", "20",
                                   "wait", "sleep", "20"])  # fmt: skip
        address = str(conn.request("stats")["metrics"])
    truth = _truth(out)
    true_user = truth["self"][0] + truth["children"][0]
    true_system = truth["self"][1] + truth["children"][1]
    truth_sum = true_user + true_system
    got: list[tuple[float, float]] = []

    def settled() -> bool:
        got[:] = [_scrape_cpu(address, "burst")]
        return _within(got[0][0], true_user) and _within(got[0][1], true_system)

    try:
        poll_until(settled, "the metrics' CPU to reach getrusage's, each mode", 20)
    finally:
        print("metrics user, system:", got, "truth:", true_user, true_system)
    cpu_s, records = _groups_cpu(daemon, "burst")
    assert _within(cpu_s, truth_sum, 4), (cpu_s, truth_sum)
    assert records < truth_sum - (0.01 * truth_sum + 4 * TICK), (records, truth_sum)
    time.sleep(1)  # the journal has the corrections (appended at the poll that made them)
    before = _scrape_cpu(address, "burst")
    daemon.kill9()
    again = Daemon(root, args)
    again.roots = daemon.roots
    try:
        again.start()
        with again.connect() as conn:
            address = str(conn.request("stats")["metrics"])
        poll_until(lambda: _scrape_cpu(address, "burst") != (0.0, 0.0), "a round", 20)
        time.sleep(2.5)  # the reaper read again, its reading settled, a round after it
        after = _scrape_cpu(address, "burst")
        assert after[0] >= before[0] and after[1] >= before[1], (before, after)
        assert _within(after[0] + after[1], truth_sum, 4), (after, truth_sum)
        cpu_s, _ = _groups_cpu(again, "burst")
        assert _within(cpu_s, truth_sum, 4), (cpu_s, truth_sum)
    finally:
        again.cleanup()
