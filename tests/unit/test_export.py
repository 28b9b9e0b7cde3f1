"""tractui.commands.export: a daemon's member in the trace report's form, whatever its age."""

from __future__ import annotations

import time
from typing import Any

from tractui.commands.export import boot_epoch, member_as_report

BOOT = 1_700_000_000.0  # the epoch at which the boot clock read 0
S = 1_000_000_000  # ns


def _member(**kw: Any) -> dict[str, Any]:
    """As members_wire gives one on the base branch: no ended, exit, comm, execs, account."""
    member = {
        "pid": 42,
        "start": 100 * S,
        "parent": 7,
        "ppid": 7,
        "depth": 1,
        "uid": 0,
        "command": "[kworker]",
        "argv": [],
        "alive": False,
        "status": "exit 2",
        "reparented": False,
    }
    member.update(kw)
    return member


def test_an_older_daemons_member_says_what_it_knows() -> None:
    proc = member_as_report(_member(), BOOT)
    assert proc["start"] == BOOT + 100 and proc["end"] is None
    assert proc["comm"] == "kworker", "from '[comm]' when there is no argv"
    assert (proc["parent"], proc["alive"], proc["status"]) == (7, False, "exit 2")
    assert "exec_times" not in proc and "cpu_user_s" not in proc


def test_the_contract_fields_are_converted() -> None:
    member = _member(
        ended=100 * S + 250_000_000,
        exit={"code": 2},
        comm="cc",
        argv=["cc", "-c", "x.c"],
        command="cc -c x.c",
        execs=[["sh"], ["cc", "-c", "x.c"]],
        exec_times=[100 * S + 1_000_000, 100 * S + 2_000_000],
        account={"cpu_user_s": 0.5, "cpu_system_s": 0.25, "peak_rss_kib": 900, "processes": 1},
    )
    proc = member_as_report(member, BOOT)
    assert proc["end"] == round(BOOT + 100.25, 6)
    assert proc["exec_times"] == [round(BOOT + 100.001, 6), round(BOOT + 100.002, 6)]
    assert (proc["comm"], proc["exit"], proc["execs"][1]) == (
        "cc",
        {"code": 2},
        ["cc", "-c", "x.c"],
    )
    assert (proc["cpu_user_s"], proc["cpu_system_s"], proc["peak_rss_kib"]) == (0.5, 0.25, 900)
    assert proc["read_bytes"] is None, "not in that account: unknown"


def test_a_history_member_of_an_earlier_boot_keeps_its_wall_times() -> None:
    # rebased onto this boot's clock (negative: before it), with its own epoch times
    member = _member(
        start=-5000 * S,
        ended=-4999 * S,
        start_wall=1_600_000_000.5,
        ended_wall=1_600_000_001.5,
        execs=[["sleep", "1"]],
        exec_times=[-5000 * S + 500_000_000],
        history=True,
    )
    proc = member_as_report(member, BOOT)
    assert (proc["start"], proc["end"]) == (1_600_000_000.5, 1_600_000_001.5)
    assert proc["exec_times"] == [1_600_000_001.0]


def test_boot_epoch_is_this_hosts() -> None:
    boot_ns = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    assert abs(boot_epoch() + boot_ns / 1e9 - time.time()) < 0.05
