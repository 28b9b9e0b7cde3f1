"""``tractui daemon --metrics``: a real Prometheus scrapes a real daemon on loopback, and the
counters survive a kill -9 of the daemon."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.common.daemon import Daemon
from bench.common.machine import prometheus_samples
from tests.integration.support import free_port, poll_until, start_server

PROMETHEUS = shutil.which("prometheus")

# a group's program: 20 children that each burn ~40 ms of CPU and end, waited for; then it
# writes getrusage's count of them (what /usr/bin/time would say) and its own, and sleeps
WORKLOAD = r"""
import resource, subprocess, sys, time
for _ in range(20):
    subprocess.run([sys.executable, "-S", "-c",
        "import time\nt=time.process_time()\nwhile time.process_time()-t<0.04: pass"])
c = resource.getrusage(resource.RUSAGE_CHILDREN)
print("children", c.ru_utime + c.ru_stime, flush=True)
time.sleep(120)
"""


def _metrics_address(daemon: Daemon) -> str:
    with daemon.connect() as conn:
        return str(conn.request("stats")["metrics"])


def _scrape(address: str) -> dict[str, float]:
    """The samples of one scrape of /metrics, by series (name and labels as written)."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as reply:
        return prometheus_samples(reply.read().decode())


def _children_cpu(daemon: Daemon, group: str) -> float:
    log = daemon.state / "logs" / f"{group}.log"
    found: list[float] = []

    def written() -> bool:
        if log.exists():
            found[:] = [float(m) for m in re.findall(r"children ([0-9.]+)", log.read_text())]
        return bool(found)

    poll_until(written, "the workload's getrusage line", 60)
    return found[0]


@pytest.fixture
def prometheus(
    tmp_path: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> Callable[[str], str]:
    """Start a real Prometheus scraping the given ``HOST:PORT`` every second; returns its
    own address. Killed (its process group) at teardown."""
    if PROMETHEUS is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus)")

    def start(target: str) -> str:
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: tractui\n"
            f"    static_configs:\n      - targets: ['{target}']\n"
        )
        address = f"127.0.0.1:{free_port()}"
        argv = [
            str(PROMETHEUS),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address={address}",
        ]
        start_server(spawn, argv, tmp_path / "prometheus.log", f"http://{address}/-/ready", 30)
        return address

    return start


def _query(address: str, promql: str) -> list[dict[str, object]]:
    url = f"http://{address}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as reply:
        doc = json.load(reply)
    assert doc["status"] == "success", doc
    return list(doc["data"]["result"])


def test_prometheus_scrapes_live_count_and_exact_cpu(
    make_daemon: Callable[..., Daemon], prometheus: Callable[[str], str]
) -> None:
    daemon = make_daemon("--metrics", "127.0.0.1:0", "--metrics-interval", "0.5")
    target = _metrics_address(daemon)
    prom = prometheus(target)
    with daemon.connect() as conn:
        daemon.add(conn, "work", [sys.executable, "-S", "-c", WORKLOAD])
    children = _children_cpu(daemon, "work")
    time.sleep(1.5)  # a metrics round after the last child's record, then a scrape
    expr = 'sum(namedprocess_namegroup_cpu_seconds_total{groupname="work"})'

    def settled() -> bool:
        live = _query(prom, 'namedprocess_namegroup_num_procs{groupname="work"}')
        cpu = _query(prom, expr)
        return bool(live and cpu and float(str(live[0]["value"][1])) == 1)  # type: ignore[index]

    poll_until(settled, "prometheus to have scraped the group", 30)
    time.sleep(2.5)
    cpu = float(_query(prom, expr)[0]["value"][1])  # type: ignore[index]
    script = float(
        _scrape(target)['namedprocess_namegroup_cpu_seconds_total{groupname="work",mode="user"}']
    )
    assert script > 0
    # the group's CPU: the 20 children (exact, from their exit records) and the workload
    # itself, alive (its /proc ticks); getrusage's count of the children is the truth for them
    # (each record misses its process's last moments, which what the workload reaped adds)
    assert children - 0.02 * 20 <= cpu, (cpu, children)
    assert cpu <= children + 1.0, (cpu, children)  # + the workload's own (python: < 1 s)
    forks = _query(prom, 'tractui_group_forks_total{groupname="work"}')
    assert float(str(forks[0]["value"][1])) >= 20  # type: ignore[index]


def test_counters_survive_kill9(make_daemon: Callable[..., Daemon], tmp_path: Path) -> None:
    """A member burns CPU, the daemon is killed -9, the member ends while it is down (its
    record is lost): after the restart no counter is lower than it was."""
    root = tmp_path / "d"
    daemon = make_daemon("--metrics", "127.0.0.1:0", "--metrics-interval", "0.3", root=root)
    burn = (
        "import time\nt=time.process_time()\nwhile time.process_time()-t<0.3: pass\ntime.sleep(6)"
    )
    with daemon.connect() as conn:
        pid = daemon.add(conn, "burn", [sys.executable, "-S", "-c", burn])
    address = _metrics_address(daemon)
    key = 'namedprocess_namegroup_cpu_seconds_total{groupname="burn",mode="user"}'
    system = key.replace('"user"', '"system"')

    def burned() -> bool:
        scraped = _scrape(address)
        return scraped.get(key, 0.0) + scraped.get(system, 0.0) >= 0.25

    poll_until(burned, "the member's CPU in the metrics", 20)
    time.sleep(0.8)  # one more round: saved before served
    before = {k: v for k, v in _scrape(address).items() if "_total" in k and "python_" not in k}
    daemon.kill9()
    poll_until(lambda: not os.path.exists(f"/proc/{pid}"), "the member to end", 20)
    again = Daemon(root, ["--metrics", "127.0.0.1:0", "--metrics-interval", "0.3"])
    again.roots = daemon.roots
    try:
        again.start()
        address = _metrics_address(again)
        poll_until(lambda: key in _scrape(address), "the first round after the restart", 20)
        after = _scrape(address)
        lower = {k: (v, after.get(k)) for k, v in before.items() if after.get(k, -1.0) < v}
        assert not lower, f"counters fell across the kill -9: {lower}"
    finally:
        again.cleanup()


# computes until its CPU is 5 ms past a multiple of 10 ms, at least 25 ms in (stat's ticks of
# 10 ms cut that 5 ms off at least), then writes getrusage's count of itself and sleeps
LIVE = r"""
import math, resource, time
target = math.ceil((time.process_time() + 0.025) * 100) / 100 + 0.005
while time.process_time() < target:
    pass
u = resource.getrusage(resource.RUSAGE_SELF)
print("self", repr(u.ru_utime + u.ru_stime), flush=True)
time.sleep(60)
"""


def test_a_live_members_cpu_is_exact_not_its_ticks(make_daemon: Callable[..., Daemon]) -> None:
    """A live member that computed ~25 ms and sleeps: its group's CPU counter is its own
    getrusage to 1 ms, where /proc's ticks alone are 5 ms short or more. The 1 ms: getrusage
    rounds to the µs, and the member runs on a little after it (its print and the call to
    sleep: tens of µs); a sleeping task's run time is brought up to date when it sleeps."""
    if not os.path.exists("/proc/self/schedstat"):
        pytest.skip("no /proc/PID/schedstat (a kernel without CONFIG_SCHED_INFO): ticks only")
    daemon = make_daemon("--metrics", "127.0.0.1:0", "--metrics-interval", "0.3")
    with daemon.connect() as conn:
        pid = daemon.add(conn, "live", [sys.executable, "-S", "-c", LIVE])
    address = _metrics_address(daemon)
    log = daemon.state / "logs" / "live.log"
    found: list[float] = []

    def written() -> bool:
        if log.exists():
            found[:] = [float(m) for m in re.findall(r"self ([0-9.e-]+)", log.read_text())]
        return bool(found)

    poll_until(written, "the member's getrusage line", 60)
    truth = found[0]
    user = 'namedprocess_namegroup_cpu_seconds_total{groupname="live",mode="user"}'
    system = user.replace('"user"', '"system"')
    got: list[float] = []

    def settled() -> bool:
        scraped = _scrape(address)
        got[:] = [scraped.get(user, 0.0) + scraped.get(system, 0.0)]
        return got[0] >= truth - 0.001

    try:
        poll_until(settled, "the metrics' CPU to reach the member's getrusage", 20)
    finally:
        print("metrics:", got, "getrusage:", truth)
    time.sleep(1)  # more rounds: it stays there
    scraped = _scrape(address)
    cpu = scraped[user] + scraped[system]
    assert abs(cpu - truth) <= 0.001, (cpu, truth)
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read()
    rest = raw[raw.rindex(b")") + 2 :].split()
    ticks = (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")
    assert truth - ticks > 0.004, (ticks, truth)  # what the ticks alone would have given
