"""Metrics benchmark: ``tractui daemon --metrics`` against process-exporter, same machine, same run.

    sudo .venv/bin/python bench/metrics/run.py [--groups 100] [--per-group 100] [--scrapes 20]
                                               [--burst 500x3,50x30]

1. Scrape latency. A real daemon launches GROUPS copies of bench/daemon/forker.c (``hold``:
   PER_GROUP sleeping children each), one per group: GROUPS x (PER_GROUP + 1) members. Each copy
   runs under a name of its own (a symlink, so its comm), and process-exporter is configured
   with one group per name (``comm``) over the same processes. Then SCRAPES HTTP GETs of
   /metrics of each exporter, taken in turn, each timed from the request to the last byte.
   process-exporter runs twice: as it comes (``-children=true``; per-thread metrics and smaps
   on, its defaults) and lean (``-threads=false -gather-smaps=false``).
2. CPU accuracy. For each ``NxMS`` of --burst, a group whose root (bench/metrics/burst.c) forks
   N children one after another, each computing ~MS ms and exiting; the truth is getrusage's
   (the root's own and its waited children's). Both process-exporters scrape every second
   meanwhile (a Prometheus at a 1 s interval: its usual 15 s sees less still).

Prints markdown tables, with ratios against process-exporter as it comes. See
bench/metrics/README.md. Bounded: forker and burst end by themselves (their alarms); everything
is killed at the end all the same (members through the daemon, launched programs and the
exporters by process group).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common.daemon import Daemon
from bench.common.machine import kernel_hz, room_for
from bench.common.machine import prometheus_samples as samples
from bench.common.report import ratio, table
from bench.common.stats import percentile
from bench.common.tools import compile_c, ensure_program, say
from tractui.kernel import procfs, pstats

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
HOLD_S = 600  # the sleeping members end by themselves after this
SCRAPE_TIMEOUT = 60.0


def round_cost(names: list[str], repeats: int = 5) -> None:
    """The daemon's metrics round over the members, timed here: pstats.read of each, (1) with
    stat's ticks only (as before schedstat), (2) reading every member's schedstat, (3) as the
    daemon reads: schedstat only of those that ran since the last round (pstats.idle_since),
    in turn, ``repeats`` times each; the medians."""
    wanted = {name[:15].encode() for name in names}
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry.name}/comm", "rb") as f:
                if f.read().rstrip(b"\n") in wanted:
                    pids.append(int(entry.name))
    kinds = ("stat ticks only", "schedstat of each", "schedstat of those that ran")
    took: dict[str, list[float]] = {kind: [] for kind in kinds}
    last: dict[int, pstats.ProcStats | None] = {}
    skipped = 0
    keep = pstats.MAX_THREADS
    try:
        for _ in range(repeats):
            for kind in kinds:
                pstats.MAX_THREADS = -1 if kind == kinds[0] else keep
                t0 = time.perf_counter()
                if kind == kinds[2]:
                    for pid in pids:
                        before = last.get(pid)
                        last[pid] = now = pstats.read(pid, 1024, before)
                        skipped += now is not None and pstats.idle_since(now, before)
                else:
                    for pid in pids:
                        pstats.read(pid, 1024)
                took[kind].append(time.perf_counter() - t0)
    finally:
        pstats.MAX_THREADS = keep
    med = {kind: percentile(t, 50) for kind, t in took.items()}
    say(
        f"  a metrics round's /proc reads of {len(pids):,} members (pstats.read, here, median of"
        f" {repeats}): "
        + ", ".join(f"{k} {v:.3f} s ({ratio(v, med[kinds[0]])})" for k, v in med.items())
        + f"; schedstat not read again: {skipped / max(1, len(pids) * (repeats - 1)):.0%}"
        " of the reads after the first"
    )


def fetch(address: str) -> tuple[str, float]:
    """One GET of /metrics: the text and the seconds it took (request to last byte)."""
    t0 = time.perf_counter()
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=SCRAPE_TIMEOUT) as reply:
        text = reply.read().decode()
    return text, time.perf_counter() - t0


def total(found: dict[str, float], name: str, group: str | None = None) -> float:
    """The sum of a family's series (of ``group`` only, if given)."""
    return sum(
        v
        for series, v in found.items()
        if series.startswith(name + "{") and (group is None or f'groupname="{group}"' in series)
    )


def wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"run.py: timed out waiting for {what}")
        time.sleep(0.2)


def cpu_s(pid: int) -> float:
    """A process's CPU seconds so far, its threads' included (/proc ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    return int(procfs.read_status(pid)["VmRSS"].split()[0]) / 1024


class Exporter:
    """A process-exporter process in a process group of its own."""

    def __init__(self, binary: str, config: Path, port: int, extra: list[str], log: Path):
        self.address = f"127.0.0.1:{port}"
        argv = [binary, "-config.path", str(config), "-web.listen-address", self.address]
        self.proc = subprocess.Popen(
            [*argv, "-children=true", *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(log, "wb"),  # noqa: SIM115 (the child holds it)
            start_new_session=True,
        )

    def ready(self) -> bool:
        try:
            fetch(self.address)
            return True
        except OSError:
            return False

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def parse_bursts(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        found = re.fullmatch(r"(\d+)x(\d+)", part.strip())
        if not found:
            raise SystemExit(f"run.py: --burst {text!r}: give NxMS[,NxMS...], e.g. 500x3")
        n, ms = int(found.group(1)), int(found.group(2))
        if not (1 <= n <= 5000 and 1 <= ms <= 1000):
            raise SystemExit("run.py: --burst: N is 1 to 5000, MS 1 to 1000")
        out.append((n, ms))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--per-group", type=int, default=100, help="sleeping children a group")
    parser.add_argument("--scrapes", type=int, default=20, help="timed GETs per exporter")
    parser.add_argument("--burst", default="500x3,50x30", help="NxMS,...: short-lived children")
    args = parser.parse_args()
    bursts = parse_bursts(args.burst)
    if not 1 <= args.groups <= 200 or not 1 <= args.per_group <= 200:
        raise SystemExit("run.py: --groups and --per-group are 1 to 200")
    if os.geteuid() != 0:
        raise SystemExit("run.py: the daemon needs root (the proc connector): run under sudo")
    exporter_bin, why = ensure_program("prometheus-process-exporter")
    if exporter_bin is None:
        raise SystemExit(f"run.py: {why}")
    members: int = args.groups * (args.per_group + 1)
    ok, need, limits = room_for(members + 2 * max(n for n, _ in bursts), share=0.6)
    if not ok:
        raise SystemExit(f"run.py: {need:,} processes would not fit in 60% of: {limits}")
    load = os.getloadavg()
    say(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    say(f"kernel {os.uname().release}, HZ {kernel_hz() or 'unknown'}; {limits}")

    with tempfile.TemporaryDirectory(prefix="tractui-bench-metrics-") as tmp_name:
        tmp = Path(tmp_name)
        forker = compile_c(REPO / "bench" / "daemon" / "forker.c", tmp / "forker")
        burst = compile_c(HERE / "burst.c", tmp / "burst")
        names = [f"mhold-{i:03d}" for i in range(args.groups)]
        for name in names:
            (tmp / name).symlink_to(forker)
        burst_names = [f"mburst-{i}" for i in range(len(bursts))]
        for name in burst_names:
            (tmp / name).symlink_to(burst)
        config = tmp / "process-exporter.yml"
        config.write_text(
            "process_names:\n"
            + "".join(f"  - name: {n}\n    comm:\n    - {n}\n" for n in names + burst_names)
        )
        daemon = Daemon(tmp / "d", ["--metrics", "127.0.0.1:0"], log=tmp / "daemon.log")
        exporters: dict[str, Exporter] = {}
        try:
            daemon.start()
            with daemon.connect() as conn:
                ours = str(conn.request("stats")["metrics"])
            run(args, bursts, tmp, daemon, ours, exporters, exporter_bin, config, names,
                burst_names)  # fmt: skip
        finally:
            for exporter in exporters.values():
                exporter.stop()
            daemon.cleanup()


def run(
    args: argparse.Namespace,
    bursts: list[tuple[int, int]],
    tmp: Path,
    daemon: Daemon,
    ours: str,
    exporters: dict[str, Exporter],
    exporter_bin: str,
    config: Path,
    names: list[str],
    burst_names: list[str],
) -> None:
    members: int = args.groups * (args.per_group + 1)
    say(f"\n1. scrape latency: {args.groups} groups, {members:,} members")
    t0 = time.monotonic()
    with daemon.connect() as conn:
        for name in names:
            daemon.add(conn, name, [str(tmp / name), "hold", str(args.per_group), str(HOLD_S)])

    def counted() -> bool:
        return total(samples(fetch(ours)[0]), "namedprocess_namegroup_num_procs") >= members

    wait(counted, 300, f"tractui's metrics to count {members:,} members")
    say(f"  {members:,} members up and in tractui's metrics after {time.monotonic() - t0:.1f} s")
    for kind, extra in (("as it comes", []), ("lean", ["-threads=false", "-gather-smaps=false"])):
        exporters[kind] = Exporter(exporter_bin, config, free_port(), extra, tmp / f"pe-{kind}.log")
    for kind, exporter in exporters.items():
        wait(exporter.ready, 300, f"process-exporter ({kind}) to serve")
    counts = {"tractui": total(samples(fetch(ours)[0]), "namedprocess_namegroup_num_procs")}
    for kind, exporter in exporters.items():
        # its first scrape sets up its tracking; a second counts from there
        fetch(exporter.address)
        found = samples(fetch(exporter.address)[0])
        counts[f"process-exporter ({kind})"] = sum(
            total(found, "namedprocess_namegroup_num_procs", n) for n in names
        )
    say(
        "  num_procs summed over the groups: "
        + ", ".join(f"{k} {v:,.0f}" for k, v in counts.items())
    )
    targets = {"tractui": ours} | {
        f"process-exporter ({k})": e.address for k, e in exporters.items()
    }
    pids = {"tractui": daemon.pid} | {
        f"process-exporter ({k})": e.proc.pid for k, e in exporters.items()
    }
    times: dict[str, list[float]] = {name: [] for name in targets}
    sizes: dict[str, int] = {}
    cpu0 = {name: cpu_s(pid) for name, pid in pids.items()}
    w0 = time.monotonic()
    for _ in range(args.scrapes):
        for name, address in targets.items():
            text, took = fetch(address)
            times[name].append(took)
            sizes[name] = len(text)
            time.sleep(0.2)
    window = time.monotonic() - w0
    cpu1 = {name: cpu_s(pid) for name, pid in pids.items()}
    anchor = "process-exporter (as it comes)"
    p50 = {n: percentile(t, 50) * 1e3 for n, t in times.items()}
    p95 = {n: percentile(t, 95) * 1e3 for n, t in times.items()}
    rows = [["exporter", "p50 ms", "p95 ms", "p50 vs PE", "p95 vs PE", "CPU s in window", "RSS MiB",
             "bytes"]]  # fmt: skip
    for name in targets:
        rows.append([
            name, f"{p50[name]:.1f}", f"{p95[name]:.1f}", ratio(p50[name], p50[anchor]),
            ratio(p95[name], p95[anchor]), f"{cpu1[name] - cpu0[name]:.2f}",
            f"{rss_mib(pids[name]):.0f}", f"{sizes[name]:,}",
        ])  # fmt: skip
    say(
        f"  {args.scrapes} GETs each, in turn, over {window:.0f} s (CPU: the whole process in "
        "that window; tractui's includes its event loop and its /proc rounds every 5 s)"
    )
    table(rows)
    round_cost(names)
    # the sleeping members are done with: end them (each forker leads a process group)
    with contextlib.suppress(Exception), daemon.connect(timeout=10) as conn:
        for name in names:
            conn.request("signal", group=name, signal="KILL")

    say("\n2. CPU of short-lived processes against getrusage")
    scraping = threading.Event()

    def scrape_every_second() -> None:
        while not scraping.wait(1.0):
            for exporter in exporters.values():
                with contextlib.suppress(OSError):
                    fetch(exporter.address)

    scraper = threading.Thread(target=scrape_every_second, daemon=True)
    scraper.start()
    hz = kernel_hz() or 0
    rows = [["workload", "truth s", "tractui s", "tractui err", "PE s", "PE err", "PE lean s",
             "PE lean err", "|err| vs PE"]]  # fmt: skip
    try:
        for (n, ms), name in zip(bursts, burst_names, strict=True):
            with daemon.connect() as conn:
                root = daemon.add(conn, name, [str(tmp / name), str(n), str(ms), "60"])
            log = daemon.state / "logs" / f"{name}.log"
            line: list[tuple[float, float]] = []

            def written(log: Path = log, line: list[tuple[float, float]] = line) -> bool:
                if log.exists():
                    found = re.search(r"children ([0-9.]+) self ([0-9.]+)", log.read_text())
                    if found:
                        line.append((float(found.group(1)), float(found.group(2))))
                return bool(line)

            wait(written, 60 + n * (ms + 100) / 1000, f"burst {n}x{ms} to end")
            children, own = line[0]
            truth = children + own

            def settled(name: str = name, n: int = n) -> bool:
                return total(samples(fetch(ours)[0]), "tractui_group_exits_total", name) >= n

            wait(settled, 60, f"tractui to count the {n} exits")
            time.sleep(11)  # two metrics rounds (5 s), and more scrapes of process-exporter
            cpu = {
                "tractui": total(
                    samples(fetch(ours)[0]),
                    "namedprocess_namegroup_cpu_seconds_total",
                    name,
                )
            }
            for kind, exporter in exporters.items():
                cpu[kind] = total(
                    samples(fetch(exporter.address)[0]),
                    "namedprocess_namegroup_cpu_seconds_total",
                    name,
                )
            err = {k: (v - truth) / truth * 100 for k, v in cpu.items()}
            rows.append([
                f"{n} x {ms} ms", f"{truth:.3f}", f"{cpu['tractui']:.3f}",
                f"{err['tractui']:+.2f}%",
                f"{cpu['as it comes']:.3f}", f"{err['as it comes']:+.1f}%", f"{cpu['lean']:.3f}",
                f"{err['lean']:+.1f}%", ratio(abs(err["tractui"]), abs(err["as it comes"])),
            ])  # fmt: skip
            # what the records alone give (before the correction from the reaper), and the
            # root's own CPU apart: its run time (schedstat), and its stat's ticks, cut down
            stat = procfs.read_stat(root)
            ticks = stat.utime_stime / procfs.CLK_TCK if stat is not None else float("nan")
            with daemon.connect() as conn:
                found_g = next(g for g in conn.request("groups") if g["name"] == name)
            ended, unrecorded = found_g["ended"], found_g.get("unrecorded") or {}
            live = float(found_g["live_cpu_s"])
            records = live + ended["cpu_user_s"] + ended["cpu_system_s"]
            added = unrecorded.get("cpu_user_s", 0.0) + unrecorded.get("cpu_system_s", 0.0)
            rest = cpu["tractui"] - live
            say(
                f"  {n} x {ms} ms: the exit records alone (with the root's /proc) {records:.3f} s "
                f"({(records - truth) / truth * 100:+.1f}%); what the root reaped (its cutime, "
                f"cstime) adds {added:.3f} s. The root's own CPU: tractui {live:.4f} s (its run "
                f"time), getrusage {own:.4f} s, its stat's ticks {ticks:.3f} s (of "
                f"{1e3 / procfs.CLK_TCK:.0f} ms, cut down); the rest "
                f"{rest:.3f} s against getrusage's children {children:.3f} s "
                f"({(rest - children) / children * 100:+.2f}%){f'; HZ {hz}' if hz else ''}"
            )
    finally:
        scraping.set()
        scraper.join(timeout=30)
    table(rows)
    load = os.getloadavg()
    say(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
