"""Daemon benchmark: ``list`` latency on a 5,000-member group with 10 clients, and fork-to-delta.

    sudo .venv/bin/python bench/daemon/run.py [--members 5000] [--clients 10] [--requests 30]
                                              [--rate 200] [--seconds 10] [--burst 2000]

Starts a real ``tractui daemon`` on a socket and state directory of its own (a temporary
directory), builds bench/daemon/forker.c there, and measures, in one run:

1. Request latency. ``tractui add big -- forker hold N LIFETIME``: N sleeping children. Then K
   client processes (each with its own connection) send R ``list big`` requests each, all at once.
   Anchors, measured the same way in the same run: a ``groups`` request (the protocol's floor)
   and what a user does without the daemon: read /proc/PID/stat and /proc/PID/cmdline of those N
   PIDs (the least that ps/pgrep read), and ``ps -eo pid,ppid,args``.
2. Fork to delta. A subscriber process (``subscribe`` to the group, then deltas) and a bare
   proc-connector listener process (tractui.events.ProcConnector, no daemon) receive the same
   forks: ``forker forks RATE COUNT`` (steady) and ``forker forks 0 BURST`` (as fast as it can),
   both launched into a tracked group. Delay = receipt time - the kernel's event time.

See bench/daemon/README.md. Everything it starts ends by itself (forker's timers) and is
killed at the end all the same: members through the daemon (SIGKILL), launched programs by
process group, the daemon by SIGTERM (SIGKILL after a timeout).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common import daemon as harness
from bench.common.machine import room_for
from bench.common.report import ratio, table
from bench.common.stats import percentile
from bench.common.tools import compile_c, say
from tractui.daemon.client import Connection
from tractui.daemon.protocol import JsonObject
from tractui.events import Fork, ProcConnector
from tractui.kernel import procfs

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SOURCE = HERE / "forker.c"

BIG = "big"  # the group of N sleeping members
FORKS = "forks"  # the group the fork generators are launched into
MAX_MEMBERS = 20_000  # forker.c refuses more
START_TIMEOUT = 20.0  # the daemon answers, a worker says ready
BUILD_TIMEOUT = 90.0  # the N members are all listed
DRAIN_S = 1.0  # after a generator ends: 20x the collector's 50 ms batch interval
MAX_RECORDS = 200_000  # fork records a receiver keeps
SIGUSR1_BIT = 1 << (signal.SIGUSR1 - 1)
NS = 1_000_000_000


def boot_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


# ---- set-up ----------------------------------------------------------------------------------


def build(directory: Path) -> Path:
    """Compile forker.c into ``directory`` (a fresh temporary directory each run)."""
    return compile_c(SOURCE, directory / "forker")


def check_room(members: int, burst: int) -> None:
    """Refuse sizes the machine's limits on processes would not allow (with a 10 % margin)."""
    ok, need, limits = room_for(members + burst + 100, share=0.9)
    if not ok:
        sys.exit(f"run.py: {need:,} processes at once would not fit: {limits}")


def cpu_ns(pid: int) -> int:
    """utime + stime of a process (all its threads), in ns; 0 if it is gone."""
    stat = procfs.read_stat(pid)
    return stat.utime_stime * procfs.NS_PER_TICK if stat is not None else 0


def finished(pid: int) -> bool:
    """Gone, or a zombie (its parent, the daemon, reaps it within half a second)."""
    stat = procfs.read_stat(pid)
    return stat is None or stat.state in ("Z", "X")


def catches_sigusr1(pid: int) -> bool:
    caught = procfs.read_status(pid).get("SigCgt", "0")
    return bool(int(caught, 16) & SIGUSR1_BIT)


def wait_for(what: str, check: Callable[[], bool], timeout: float, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"run.py: gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(step)


# ---- the daemon ------------------------------------------------------------------------------


class Daemon(harness.Daemon):
    """The harness's daemon (bench.common.daemon), its output in ``daemon.log``, run from
    ``root`` with this checkout's tractui, unless PYTHONPATH names another (to measure a patched
    copy); it keeps how long each add request took."""

    start_timeout = START_TIMEOUT

    def __init__(self, root: Path) -> None:
        socket = root / "run" / "tractui.sock"
        # run from root, not the checkout: its tractui would shadow PYTHONPATH's
        super().__init__(root, ["--socket", str(socket)], log=root / "daemon.log", cwd=root)
        self.env["PYTHONPATH"] = os.pathsep.join(
            p for p in (os.environ.get("PYTHONPATH", ""), str(REPO)) if p
        )
        self.add_ns: list[tuple[str, int]] = []  # how long each add request took

    def add(self, conn: Connection, group: str, argv: list[str]) -> int:
        t0 = time.monotonic_ns()
        pid = super().add(conn, group, argv)
        self.add_ns.append((f"{group}: {' '.join(argv[1:])}", time.monotonic_ns() - t0))
        return pid


# ---- workers: client, subscriber and listener processes --------------------------------------


def worker_name(proc: subprocess.Popen[str]) -> str:
    args = proc.args if isinstance(proc.args, list) else [proc.args]
    return " ".join(map(str, args[2:]))  # the role and its options


class Workers:
    """Child processes running this script in a ``--role``; each says 'ready', then works."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), *args],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return proc

    @staticmethod
    def ready(proc: subprocess.Popen[str], timeout: float = START_TIMEOUT) -> None:
        assert proc.stdout is not None
        readable, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if readable else ""
        if line.strip() != "ready":
            proc.kill()
            raise SystemExit(f"run.py: worker {worker_name(proc)} did not start: {line!r}")

    @staticmethod
    def go(proc: subprocess.Popen[str]) -> None:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()

    @staticmethod
    def result(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
        """Close its stdin (its cue to stop, if it waits for one) and read its JSON line."""
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise SystemExit(f"run.py: worker {worker_name(proc)} overran") from None
        if proc.returncode != 0 or not out.strip():
            raise SystemExit(f"run.py: worker {worker_name(proc)} failed ({proc.returncode})")
        data: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return data

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(Exception):
                proc.communicate(timeout=5)


def role_client(socket_path: str, op: str, group: str, count: int, pid_file: str) -> int:
    """Time ``count`` operations, back to back: a request to the daemon, or a /proc scan."""
    do: Callable[[], int]
    if op == "procscan":
        pids = [int(p) for p in Path(pid_file).read_text().split()]

        def do() -> int:
            return scan_proc(pids)

    elif op == "ps":

        def do() -> int:
            done = subprocess.run(
                ["ps", "-eo", "pid,ppid,args"], capture_output=True, check=True, timeout=60
            )
            return done.stdout.count(b"\n") - 1

    else:
        conn = Connection(Path(socket_path), timeout=120)
        sock = conn.sock
        fields = {"group": group} if op == "list" else {}

        def do() -> int:
            # Connection.request, taken apart to time its parts: the one reply is one line
            t0 = time.monotonic_ns()
            conn.send(op, **fields)
            chunks: list[bytes] = []
            first = 0
            while not chunks or not chunks[-1].endswith(b"\n"):
                data = sock.recv(1 << 20)
                if not data:
                    raise SystemExit("client: the daemon closed the connection")
                first = first or time.monotonic_ns()
                chunks.append(data)
            last = time.monotonic_ns()
            reply = json.loads(b"".join(chunks))
            done = time.monotonic_ns()
            if not reply.get("ok"):
                raise SystemExit(f"client: {op} failed: {reply.get('error')}")
            parts.append((first - t0, last - first, done - last))
            result = reply["result"]
            return len(result["members"]) if op == "list" else len(result)

    parts: list[tuple[int, int, int]] = []  # per request: first byte, the rest, decoding
    for _ in range(2):  # warm-up: imports, caches, the first connection's buffers
        do()
    parts.clear()
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1
    latencies: list[int] = []
    items = 0
    first = time.monotonic_ns()
    for _ in range(count):
        t0 = time.monotonic_ns()
        items = do()
        latencies.append(time.monotonic_ns() - t0)
    last = time.monotonic_ns()
    result = {"lat": latencies, "parts": parts, "start": first, "end": last, "items": items}
    print(json.dumps(result))
    return 0


def scan_proc(pids: list[int]) -> int:
    """What ps and pgrep read at the least: each PID's stat and cmdline. Returns those alive."""
    alive = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                f.read()
        except OSError:
            continue
        alive += 1
    return alive


def stop_requested(fd: int) -> bool:
    """stdin said stop, or was closed."""
    data = os.read(fd, 4096)
    return not data or b"stop" in data


def role_subscriber(socket_path: str, group: str) -> int:
    """Subscribe to ``group``; record every fork in the deltas' logs with its receipt time."""
    conn = Connection(Path(socket_path), timeout=30)
    conn.request("subscribe", group=group)
    while conn.receive().get("t") != "snapshot":
        pass
    records: list[tuple[int, int, int, int, int]] = []  # child, forker, ts, received, message
    messages = 0
    deltas = 0
    nbytes = 0

    def take(message: JsonObject, received: int) -> None:
        nonlocal messages, deltas
        messages += 1
        if message.get("t") != "delta":
            return
        deltas += 1
        for ev in message.get("log", ()):
            if ev.get("tractui.event") == "fork" and len(records) < MAX_RECORDS:
                records.append(
                    (
                        ev["process.pid"],
                        int(ev["tractui.detail"]),
                        ev["tractui.ts"],
                        received,
                        messages,
                    )
                )

    while conn.pending:
        take(conn.pending.popleft(), boot_ns())
    print("ready", flush=True)
    stdin = sys.stdin.fileno()
    sock = conn.sock
    while True:
        readable, _, _ = select.select([sock, stdin], [], [], 1.0)
        if sock in readable:
            data = sock.recv(1 << 20)
            received = boot_ns()  # before parsing: the moment the bytes are here
            if not data:
                break
            nbytes += len(data)
            for message in conn.reader.feed(data):
                if isinstance(message, dict):
                    take(message, received)
        if stdin in readable and stop_requested(stdin):
            break
    print(json.dumps({"records": records, "deltas": deltas, "bytes": nbytes}))
    return 0


def role_listener() -> int:
    """A bare proc-connector listener: every process fork, stamped as each datagram is read."""
    connector = ProcConnector().open()
    records: list[tuple[int, int, int, int]] = []  # child, parent, ts, received (monotonic ns)
    events: list[Any] = []
    print("ready", flush=True)
    stdin = sys.stdin.fileno()
    fd = connector.fileno()
    read_into = connector.read_into
    try:
        while True:
            readable, _, _ = select.select([fd, stdin], [], [], 1.0)
            if fd in readable:
                while read_into(events, 1):
                    received = time.monotonic_ns()
                    for ev in events:
                        if type(ev) is Fork and not ev.is_thread and len(records) < MAX_RECORDS:
                            records.append((ev.child_tgid, ev.parent_tgid, ev.ts, received))
                    events.clear()
            if stdin in readable and stop_requested(stdin):
                break
    finally:
        lost = connector.lost
        connector.close()
    print(json.dumps({"records": records, "lost": lost}))
    return 0


# ---- statistics ------------------------------------------------------------------------------


def ms(ns: float) -> str:
    return "-" if math.isnan(ns) else f"{ns / 1e6:.2f}"


@dataclass
class Latency:
    what: str
    clients: int
    lat: list[int] = field(default_factory=list)
    elapsed_ns: int = 0
    items: int = 0
    daemon_cpu_ns: int = 0
    parts: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return percentile(self.lat, 50)

    @property
    def p95(self) -> float:
        return percentile(self.lat, 95)

    @property
    def worst(self) -> float:
        return float(max(self.lat)) if self.lat else math.nan

    @property
    def rate(self) -> float:
        return len(self.lat) * NS / self.elapsed_ns if self.elapsed_ns else math.nan


@dataclass
class Delays:
    """Fork-to-receipt delays of one phase, per child PID."""

    bare: dict[int, int] = field(default_factory=dict)
    daemon: dict[int, int] = field(default_factory=dict)
    newest: list[int] = field(default_factory=list)  # per delta: its smallest delay
    per_delta: list[int] = field(default_factory=list)  # forks in each delta
    daemon_cpu_ns: int = 0
    collector_cpu_ns: int = 0
    generator_line: str = ""
    other_forks_per_s: float = 0.0  # forks elsewhere on the machine, during the phase


# ---- the measurements ------------------------------------------------------------------------


def build_big(daemon: Daemon, conn: Connection, forker: Path, n: int, lifetime: int) -> int:
    """``add big -- forker hold N LIFETIME``; wait until all N are listed. Returns its PID."""
    pid = daemon.add(conn, BIG, [str(forker), "hold", str(n), str(lifetime)])

    def full() -> bool:
        return any(g["name"] == BIG and g["live"] >= n + 1 for g in conn.request("groups"))

    wait_for(f"{n:,} members in group {BIG!r}", full, BUILD_TIMEOUT, step=0.1)
    return pid


def run_clients(
    workers: Workers,
    daemon: Daemon,
    what: str,
    op: str,
    clients: int,
    requests: int,
    pid_file: Path,
) -> Latency:
    procs = [
        workers.spawn(
            "--role",
            "client",
            "--socket",
            str(daemon.socket),
            "--op",
            op,
            "--group",
            BIG,
            "--count",
            str(requests),
            "--pid-file",
            str(pid_file),
        )
        for _ in range(clients)
    ]
    for proc in procs:
        Workers.ready(proc)
    cpu0 = cpu_ns(daemon.pid)
    for proc in procs:
        Workers.go(proc)
    results = [Workers.result(proc, timeout=600) for proc in procs]
    sample = Latency(what, clients, daemon_cpu_ns=cpu_ns(daemon.pid) - cpu0)
    for r in results:
        sample.lat.extend(r["lat"])
        sample.parts.extend(tuple(p) for p in r["parts"])
    sample.elapsed_ns = max(r["end"] for r in results) - min(r["start"] for r in results)
    sample.items = min(r["items"] for r in results)
    return sample


@contextlib.contextmanager
def receivers(workers: Workers, daemon: Daemon) -> Iterator[list[dict[str, Any]]]:
    """A subscriber to FORKS and a bare listener, both ready; their results after the block."""
    subscriber = workers.spawn(
        "--role", "subscriber", "--socket", str(daemon.socket), "--group", FORKS
    )
    listener = workers.spawn("--role", "listener")
    Workers.ready(subscriber)
    Workers.ready(listener)
    results: list[dict[str, Any]] = []
    yield results
    results.append(Workers.result(subscriber, timeout=60))
    results.append(Workers.result(listener, timeout=60))


def fork_phase(daemon: Daemon, pid: int, timeout: float) -> tuple[int, int]:
    """Start a waiting generator; return when it has ended and the deltas have come.
    Returns the daemon's and the collector's CPU (ns) over the phase."""
    wait_for(f"forker {pid} to wait for SIGUSR1", lambda: catches_sigusr1(pid), START_TIMEOUT)
    cpu_d, cpu_c = cpu_ns(daemon.pid), cpu_ns(daemon.collector)
    os.kill(pid, signal.SIGUSR1)
    wait_for(f"forker {pid} to end", lambda: finished(pid), timeout)
    time.sleep(DRAIN_S)
    return cpu_ns(daemon.pid) - cpu_d, cpu_ns(daemon.collector) - cpu_c


def delays_of(generator: int, subscriber: dict[str, Any], listener: dict[str, Any]) -> Delays:
    """The forks of ``generator``: per child, the delay at each receiver.

    The subscriber's times are CLOCK_BOOTTIME (the daemon moved the kernel's time there); the
    listener's are CLOCK_MONOTONIC (the kernel's own): each receiver reads the matching clock."""
    d = Delays()
    stamps: list[int] = []
    for child, parent, ts, received in listener["records"]:
        if parent == generator:
            d.bare[child] = received - ts
            stamps.append(ts)
    if len(stamps) > 1:
        first, last = min(stamps), max(stamps)
        others = sum(
            1
            for _c, parent, ts, _r in listener["records"]
            if parent != generator and first <= ts <= last
        )
        d.other_forks_per_s = others * NS / (last - first)
    by_message: dict[int, list[int]] = {}
    for child, forker, ts, received, message in subscriber["records"]:
        if forker == generator:
            d.daemon[child] = received - ts
            by_message.setdefault(message, []).append(received - ts)
    d.newest = [min(v) for v in by_message.values()]
    d.per_delta = [len(v) for v in by_message.values()]
    return d


# ---- reporting -------------------------------------------------------------------------------


def print_latency(samples: list[Latency], n: int, reply_bytes: int, decode_ns: int) -> None:
    say()
    say(
        f"request latency: each client is a process of its own with its own connection; "
        f"all start together (list reply: {reply_bytes / 1e6:.2f} MB for {n:,} members, "
        f"json.loads of it in one client: {decode_ns / 1e6:.1f} ms)"
    )
    rows: list[tuple[str, ...]] = [
        ("what", "clients", "requests", "p50 ms", "p95 ms", "max ms", "req/s", "daemon CPU/req")
    ]
    for s in samples:
        cpu = f"{s.daemon_cpu_ns / len(s.lat) / 1e6:.2f} ms" if s.daemon_cpu_ns >= 0 else "-"
        rows.append(
            (
                s.what,
                str(s.clients),
                f"{len(s.lat):,}",
                ms(s.p50),
                ms(s.p95),
                ms(s.worst),
                f"{s.rate:,.1f}",
                cpu,
            )
        )
    table(rows)
    say()
    say(
        "  where a request's time goes (p50 of each part; the client waits for the first byte "
        "while the daemon serves the requests ahead of it and builds this one)"
    )
    rows = [("what", "to first byte ms", "first to last byte ms", "client decode ms")]
    for s in samples:
        if s.parts:
            rows.append(
                (
                    s.what,
                    *(ms(percentile([p[i] for p in s.parts], 50)) for i in range(3)),
                )
            )
    table(rows)


def print_latency_ratios(samples: dict[str, Latency], clients: int) -> None:
    say()
    say("  ratios (p50 and p95 against an anchor of the same run; < 1: the daemon is faster)")
    pairs = [
        (f"list, {clients} clients", f"/proc scan, {clients} clients"),
        ("list, 1 client", "/proc scan, 1 client"),
        ("list, 1 client", "ps -eo pid,ppid,args, 1 client"),
        (f"list, {clients} clients", f"groups, {clients} clients"),
        (f"list, {clients} clients", "list, 1 client"),
    ]
    rows: list[tuple[str, ...]] = [("", "against", "p50", "p95", "req/s")]
    for a, b in pairs:
        if a in samples and b in samples:
            sa, sb = samples[a], samples[b]
            rows.append(
                (a, b, ratio(sa.p50, sb.p50), ratio(sa.p95, sb.p95), ratio(sa.rate, sb.rate))
            )
    table(rows, left=2)


def print_delays(phases: list[tuple[str, int, Delays]]) -> None:
    say()
    say(
        "fork to delta: delay = receipt - the kernel's fork time, per forked child "
        "(bare: a ProcConnector in a process of its own, no daemon)"
    )
    rows: list[tuple[str, ...]] = [
        ("phase", "receiver", "forks", "seen", "p50 ms", "p95 ms", "max ms", "p50 ratio", "p95")
    ]
    for name, expected, d in phases:
        bare = list(d.bare.values())
        daemon = list(d.daemon.values())
        for who, values in (("bare listener", bare), ("daemon subscriber", daemon)):
            p50, p95 = percentile(values, 50), percentile(values, 95)
            rows.append(
                (
                    name if who == "bare listener" else "",
                    who,
                    f"{expected:,}",
                    f"{len(values):,}",
                    ms(p50),
                    ms(p95),
                    ms(float(max(values)) if values else math.nan),
                    "1.00x" if who == "bare listener" else ratio(p50, percentile(bare, 50)),
                    "1.00x" if who == "bare listener" else ratio(p95, percentile(bare, 95)),
                )
            )
    table(rows, left=2)
    say()
    say("  where the subscriber's delay goes")
    rows = [
        (
            "phase",
            "deltas",
            "forks/delta",
            "newest fork's delay p50",
            "p95",
            "daemon CPU/fork",
            "collector CPU/fork",
            "other forks/s",
        )
    ]
    for name, _expected, d in phases:
        forks = max(1, len(d.daemon))
        rows.append(
            (
                name,
                f"{len(d.per_delta):,}",
                f"{statistics.mean(d.per_delta):.1f}" if d.per_delta else "-",
                f"{ms(percentile(d.newest, 50))} ms",
                f"{ms(percentile(d.newest, 95))} ms",
                f"{d.daemon_cpu_ns / forks / 1e3:.0f} µs",
                f"{d.collector_cpu_ns / forks / 1e3:.0f} µs",
                f"{d.other_forks_per_s:,.0f}",
            )
        )
    table(rows)
    for name, _expected, d in phases:
        if d.generator_line:
            say(f"  {name}: forker said: {d.generator_line}")


# ---- main ------------------------------------------------------------------------------------


def measure(args: argparse.Namespace, tmp: Path, daemon: Daemon, workers: Workers) -> None:
    forker = build(tmp)
    try:
        daemon.start()
    except harness.DaemonFailed as err:
        raise SystemExit(f"run.py: {err}") from None
    say(
        f"daemon: PID {daemon.pid} (collector {daemon.collector}) on {daemon.socket}; "
        f"Linux {os.uname().release}, {os.cpu_count()} CPUs"
    )
    conn = daemon.connect(timeout=60)
    # the members outlive every phase, and still end by themselves
    lifetime = args.lifetime
    t0 = time.monotonic()
    big = build_big(daemon, conn, forker, args.members, lifetime)
    listed = conn.request("list", group=BIG)
    pids = [m["pid"] for m in listed["members"] if m["alive"] and m["pid"] != big]
    say(
        f"group {BIG!r}: forker {big} and {len(pids):,} sleeping children, all listed after "
        f"{time.monotonic() - t0:.2f} s (they end by themselves after {lifetime} s)"
    )
    pid_file = tmp / "pids.txt"
    pid_file.write_text("".join(f"{p}\n" for p in pids))
    encoded = json.dumps(listed, separators=(",", ":"))
    decode_ns = min(_timed(lambda: json.loads(encoded)) for _ in range(5))

    # ---- 1. request latency
    k, r, a = args.clients, args.requests, args.anchor_requests
    plan = [
        ("list, 1 client", "list", 1, r),
        (f"list, {k} clients", "list", k, r),
        (f"groups, {k} clients", "groups", k, r),
        ("/proc scan, 1 client", "procscan", 1, a),
        (f"/proc scan, {k} clients", "procscan", k, a),
    ]
    if shutil.which("ps"):
        plan.append(("ps -eo pid,ppid,args, 1 client", "ps", 1, a))
    samples: list[Latency] = []
    for what, op, clients, count in plan:
        sample = run_clients(workers, daemon, what, op, clients, count, pid_file)
        if op not in ("list", "groups"):
            sample.daemon_cpu_ns = -1  # not the daemon's work
        say(f"  measured {what}: p50 {ms(sample.p50)} ms ({sample.items:,} items)")
        samples.append(sample)
    print_latency(samples, len(listed["members"]), len(encoded), decode_ns)
    print_latency_ratios({s.what: s for s in samples}, k)

    # ---- 2. fork to delta
    say()
    steady_pid = daemon.add(conn, FORKS, [str(forker), "forks", str(args.rate), str(args.count)])
    phases: list[tuple[str, int, int, tuple[int, int]]] = []
    with receivers(workers, daemon) as results:
        cpu = fork_phase(daemon, steady_pid, args.count / args.rate + 60)
        phases.append((f"steady {args.rate}/s x {args.seconds:g} s", args.count, steady_pid, cpu))
        say(f"  measured steady forks: forker {steady_pid}")
        if args.burst:
            burst_pid = daemon.add(conn, FORKS, [str(forker), "forks", "0", str(args.burst)])
            cpu = fork_phase(daemon, burst_pid, 60)
            phases.append((f"burst of {args.burst:,}", args.burst, burst_pid, cpu))
            say(f"  measured burst: forker {burst_pid}")
    subscriber, listener = results
    logs = (daemon.state / "logs" / f"{FORKS}.log").read_text(errors="replace").splitlines()
    gen_lines = [line for line in logs if line.startswith("forks:")]
    table_rows: list[tuple[str, int, Delays]] = []
    for i, (name, expected, gen, (cpu_d, cpu_c)) in enumerate(phases):
        d = delays_of(gen, subscriber, listener)
        d.daemon_cpu_ns, d.collector_cpu_ns = cpu_d, cpu_c
        d.generator_line = gen_lines[i] if i < len(gen_lines) else ""
        table_rows.append((name, expected, d))
    print_delays(table_rows)
    if listener["lost"]:
        say(f"  the bare listener lost {listener['lost']:,} events (kernel drops)")
    processes = sum(1 for name in os.listdir("/proc") if name.isdigit())
    say()
    say(f"add requests ({processes:,} processes on the machine now):")
    for what, took in daemon.add_ns:
        say(f"  add {what}: {ms(took)} ms")
    conn.close()


def _timed(fn: Callable[[], object]) -> int:
    t0 = time.perf_counter_ns()
    fn()
    return time.perf_counter_ns() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/daemon/run.py",
        description="daemon benchmark: list latency with many clients, fork-to-delta delay",
    )
    parser.add_argument("--members", type=int, default=5000, help="sleeping members (5000)")
    parser.add_argument("--clients", type=int, default=10, help="concurrent clients (10)")
    parser.add_argument("--requests", type=int, default=30, help="requests per client (30)")
    parser.add_argument(
        "--anchor-requests",
        type=int,
        default=10,
        help="scans per client for the /proc and ps anchors (10)",
    )
    parser.add_argument("--rate", type=int, default=200, help="steady forks per second (200)")
    parser.add_argument("--seconds", type=float, default=10.0, help="steady phase length (10)")
    parser.add_argument("--burst", type=int, default=2000, help="forks in the burst; 0: none")
    parser.add_argument(
        "--lifetime",
        type=int,
        default=300,
        help="seconds after which the members end by themselves (300)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    # the workers: this script again, in a role
    parser.add_argument(
        "--role", choices=("client", "subscriber", "listener"), help=argparse.SUPPRESS
    )
    parser.add_argument("--socket", help=argparse.SUPPRESS)
    parser.add_argument("--op", help=argparse.SUPPRESS)
    parser.add_argument("--group", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pid-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "client":
        return role_client(args.socket, args.op, args.group, args.count, args.pid_file)
    if args.role == "subscriber":
        return role_subscriber(args.socket, args.group)
    if args.role == "listener":
        return role_listener()

    if not 1 <= args.members <= MAX_MEMBERS:
        parser.error(f"--members must be between 1 and {MAX_MEMBERS:,}")
    if not 1 <= args.clients <= 64:
        parser.error("--clients must be between 1 and 64")
    if not 1 <= args.requests <= 10_000 or not 1 <= args.anchor_requests <= 10_000:
        parser.error("--requests and --anchor-requests must be between 1 and 10,000")
    if not 1 <= args.rate <= 10_000 or not 0 < args.seconds <= 600:
        parser.error("--rate must be 1..10,000 and --seconds 0..600")
    args.count = max(1, round(args.rate * args.seconds))
    if args.count > MAX_MEMBERS or not 0 <= args.burst <= MAX_MEMBERS:
        parser.error(f"--rate x --seconds and --burst must be at most {MAX_MEMBERS:,} forks")
    if not 10 <= args.lifetime <= 3600:
        parser.error("--lifetime must be between 10 and 3600 seconds")
    if os.geteuid() != 0:
        say("note: not root: the proc connector needs Linux >= 6.6 for any other user")
    check_room(args.members, args.burst)
    say(
        f"daemon benchmark: {args.members:,} members, {args.clients} clients x "
        f"{args.requests} requests; forks {args.rate}/s x {args.seconds:g} s, "
        f"burst {args.burst:,}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="tractui-bench-daemon-"))
    daemon = Daemon(tmp)
    workers = Workers()
    started = time.monotonic()
    try:
        measure(args, tmp, daemon, workers)
    except BaseException:
        if daemon.proc is not None and daemon.proc.poll() is not None:
            say(f"the daemon exited with status {daemon.proc.returncode}; its log ends:")
            say(daemon.log_tail())
        raise
    finally:
        workers.kill_all()
        if daemon.cleanup():
            say(f"the daemon did not stop within {harness.STOP_TIMEOUT:.0f} s of SIGTERM: SIGKILL")
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    say()
    say(f"done in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
