"""Taskstats decode rate: our decoder against pyroute2's marshal, on the same datagrams.

    python bench/accounting/decode.py [--count 10000] [--rounds 5]

The datagrams are the real ones the unit tests keep (Linux 6.18, struct taskstats version 16),
cycled with a fresh pid each: two of three carry one record, one carries a thread's record and
its thread group's aggregate. Prints records per second, best of ``--rounds``.
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from pyroute2.netlink.taskstats import taskstatsmsg

from tests.unit.taskstats_datagrams import (
    EXIT_3_SH,
    FAMILY,
    THREAD_MAIN_EXIT_5,
    THREAD_WITH_TGID_AGGREGATE,
)
from tractui.kernel.taskstats import DecodeStats, TaskRecord, decode

PID_OFFSET = 28  # nlmsghdr 16 + genlmsghdr 4 + AGGR_PID header 4 + PID header 4


def datagrams(count: int) -> list[bytes]:
    real = [EXIT_3_SH, THREAD_MAIN_EXIT_5, THREAD_WITH_TGID_AGGREGATE]
    out = []
    for i in range(count):
        raw = bytearray(real[i % len(real)])
        struct.pack_into("=I", raw, PID_OFFSET, 100_000 + i)
        out.append(bytes(raw))
    return out


def ours(data: list[bytes]) -> int:
    records: list[TaskRecord] = []
    stats = DecodeStats()
    for raw in data:
        decode(raw, len(raw), FAMILY, records, stats)
    assert stats.malformed == 0
    return len(records)


def pyroute2(data: list[bytes]) -> int:
    found = 0
    for raw in data:
        msg = taskstatsmsg(raw)
        msg.decode()
        for name, value in msg["attrs"]:
            if name in ("TASKSTATS_TYPE_AGGR_PID", "TASKSTATS_TYPE_AGGR_TGID"):
                stats = value.get_attr("TASKSTATS_TYPE_STATS")
                found += stats["version"] > 0
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="datagrams")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    data = datagrams(args.count)
    rates = {}
    for name, run in (("tractui", ours), ("pyroute2", pyroute2)):
        best = float("inf")
        for _ in range(args.rounds):
            start = time.perf_counter()
            records = run(data)
            best = min(best, time.perf_counter() - start)
        rates[name] = records / best
        print(
            f"{name:9} {records} records from {len(data)} datagrams in {best * 1e3:8.1f} ms: "
            f"{rates[name]:>12,.0f} records/s, {best / len(data) * 1e6:6.2f} µs/datagram"
        )
    print(f"tractui/pyroute2: {rates['tractui'] / rates['pyroute2']:.1f}x")


if __name__ == "__main__":
    main()
