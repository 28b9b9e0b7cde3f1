"""Our taskstats decoder against pyroute2's TaskStats marshal, on the same bytes."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from pyroute2.netlink.taskstats import (
    TASKSTATS_CMD_GET,
    TASKSTATS_CMD_NEW,
    taskstatsmsg,
    tcmd,
)

from tractui.kernel import taskstats
from tractui.kernel.taskstats import (
    LAYOUT_V10,
    DecodeStats,
    TaskRecord,
    cpu_mask,
    decode,
    decode_raw,
    exit_key,
    exit_record,
)

from .taskstats_datagrams import (
    EXIT_3_SH,
    FAMILY,
    STRUCT_SIZE,
    THREAD_MAIN_EXIT_5,
    THREAD_WITH_TGID_AGGREGATE,
    datagram,
    pack_stats,
    reference,
)

REAL = [EXIT_3_SH, THREAD_MAIN_EXIT_5, THREAD_WITH_TGID_AGGREGATE]
VERSIONS = [10, 11, 12, 13, 14, 15, 16, 17]


def ours(data: bytes, family: int = FAMILY) -> tuple[list[TaskRecord], DecodeStats]:
    out: list[TaskRecord] = []
    stats = DecodeStats()
    assert decode(data, len(data), family, out, stats) == len(out)
    return out, stats


def test_constants_match_pyroute2() -> None:
    assert taskstats.TASKSTATS_CMD_GET == TASKSTATS_CMD_GET
    assert taskstats.TASKSTATS_CMD_NEW == TASKSTATS_CMD_NEW
    types = [name for name, _ in taskstatsmsg.nla_map]
    for name in ("PID", "TGID", "STATS", "AGGR_PID", "AGGR_TGID"):
        assert types.index(f"TASKSTATS_TYPE_{name}") == getattr(taskstats, f"TASKSTATS_TYPE_{name}")
    attrs = [name for name, _ in tcmd.nla_map]
    for name in ("REGISTER_CPUMASK", "DEREGISTER_CPUMASK"):
        full = f"TASKSTATS_CMD_ATTR_{name}"
        assert attrs.index(full) == getattr(taskstats, full)


def test_real_datagrams_match_pyroute2() -> None:
    for data in REAL:
        records, stats = ours(data)
        assert records == reference(data, FAMILY)
        assert stats.malformed == stats.unsupported == 0


def test_real_exit_3() -> None:
    (record,) = ours(EXIT_3_SH)[0]
    assert (record.comm, record.status >> 8, record.aggregate, record.version) == (
        "sh",
        3,
        False,
        16,
    )
    assert record.tgid == record.pid


def test_real_thread_and_its_group() -> None:
    (main,) = ours(THREAD_MAIN_EXIT_5)[0]
    thread, group = ours(THREAD_WITH_TGID_AGGREGATE)[0]
    assert not thread.aggregate and thread.pid != thread.tgid == main.pid
    assert group.aggregate and group.pid == group.tgid == main.pid
    # the group's sums include both threads
    assert group.nvcsw == main.nvcsw + thread.nvcsw
    # each task's record has its own page faults; the aggregate has none (the kernel does
    # not sum them into it)
    assert main.minflt > 1000 and thread.minflt > 0 and group.minflt == group.majflt == 0
    assert group.utime_us + group.stime_us >= main.utime_us + main.stime_us


def test_synthesized_match_pyroute2_in_every_layout() -> None:
    for version in VERSIONS:
        values: dict[str, int | bytes] = {
            "ac_exitcode": 9,
            "ac_comm": b"worker-a",
            "ac_pid": 77,
            "ac_ppid": 1,
            "ac_btime": 1_700_000_000,
            "ac_etime": 123_456,
            "ac_utime": 50_000,
            "ac_stime": 7_000,
            "ac_minflt": 321,
            "ac_majflt": 5,
            "hiwater_rss": 2048,
            "read_bytes": 4096,
            "write_bytes": 8192,
            "nvcsw": 3,
            "nivcsw": 4,
            "ac_tgid": 70,
        }
        data = datagram(FAMILY, [(False, 77, pack_stats(version, values, tgid=70))])
        (record,) = ours(data)[0]
        assert [record] == reference(data, FAMILY), version
        assert record == TaskRecord(
            77, False, 70 if version >= 13 else 0, 1, "worker-a", 9, 1_700_000_000,
            123_456, 50_000, 7_000, 2048, 4096, 8192, 3, 4, version, 0, 321, 5,
        )  # fmt: skip


def key_agrees(data: bytes) -> tuple[int, int] | None:
    """exit_key, checked against the full decode: when it names a task, the datagram's first
    record is that task's own (not an aggregate), with that tgid (the task's when none)."""
    key = exit_key(data)
    out: list[TaskRecord] = []
    decode_raw(data, out, DecodeStats())
    if key is not None:
        assert out and not out[0].aggregate
        assert key == (out[0].pid, out[0].tgid or out[0].pid)
        # the engine's fast read of a member's record, when it applies, reads the same
        fast = exit_record(data)
        assert fast is None or fast == out[0]
    return key


def test_exit_key_reads_the_task_of_every_real_datagram() -> None:
    for data in REAL:
        records, _ = ours(data)
        assert key_agrees(data) == (records[0].pid, records[0].tgid)
        assert exit_record(data) == records[0]  # version 16: read fast
        out: list[TaskRecord] = []
        assert decode_raw(data, out, DecodeStats()) == len(records) and out == records


def test_exit_key_in_every_layout() -> None:
    for version in VERSIONS:
        data = datagram(
            FAMILY, [(False, 77, pack_stats(version, {"ac_pid": 77, "ac_tgid": 70}, tgid=70))]
        )
        assert key_agrees(data) == (77, 70 if version >= 13 else 77), version
        assert (exit_record(data) is None) == (version < 13 or version == 15)
        # an aggregate first is not the kernel's shape: decoded in full instead
        data = datagram(FAMILY, [(True, 70, pack_stats(version, {}, tgid=70))])
        assert key_agrees(data) is None


def test_the_ack_and_other_families_are_not_records() -> None:
    ack = struct.pack("=IHHIIi", 36, 2, 0x100, 1, 0, 0) + b"\0" * 16
    records, stats = ours(ack)
    assert records == [] and stats.other == 1 and stats.malformed == 0
    records, stats = ours(EXIT_3_SH, family=FAMILY + 1)
    assert records == [] and stats.other == 1


def test_old_versions_are_counted_unsupported() -> None:
    data = datagram(FAMILY, [(False, 5, pack_stats(9, {}))])
    records, stats = ours(data)
    assert records == [] and stats.unsupported == 1 and stats.malformed == 0


def test_truncated_stats_are_malformed() -> None:
    stats_bytes = pack_stats(16, {"ac_pid": 5})[: LAYOUT_V10.size]  # v16 needs ac_tgid too
    records, stats = ours(datagram(FAMILY, [(False, 5, stats_bytes)]))
    assert records == [] and stats.malformed == 1


def test_cpu_mask() -> None:
    assert cpu_mask(1) == "0"
    assert cpu_mask(2) == "0-1"
    assert cpu_mask(64) == "0-63"


# ---- fuzz ------------------------------------------------------------------------------------

u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
values = st.fixed_dictionaries(
    {
        "ac_exitcode": u32,
        "ac_comm": st.binary(max_size=32),
        "ac_ppid": u32,
        "ac_btime": u32,
        "ac_etime": u64,
        "ac_utime": u64,
        "ac_stime": u64,
        "ac_minflt": u64,
        "ac_majflt": u64,
        "hiwater_rss": u64,
        "read_bytes": u64,
        "write_bytes": u64,
        "nvcsw": u64,
        "nivcsw": u64,
        "ac_tgid": u32,
    }
)
part = st.tuples(st.booleans(), u32, st.sampled_from(VERSIONS), values)


def _build(parts: list[tuple[bool, int, int, dict[str, int | bytes]]]) -> bytes:
    built = [(agg, task, pack_stats(v, vals, int(vals["ac_tgid"]))) for agg, task, v, vals in parts]
    return datagram(FAMILY, built)


@settings(max_examples=300, deadline=None)
@given(st.lists(part, min_size=1, max_size=2))
def test_valid_datagrams_decode_as_pyroute2_does(
    parts: list[tuple[bool, int, int, dict[str, int | bytes]]],
) -> None:
    data = _build(parts)
    records, stats = ours(data)
    assert records == reference(data, FAMILY)
    assert len(records) == len(parts) and stats.malformed == 0
    # the kernel's shape (its task's record first) is always read by exit_key
    assert (key_agrees(data) is not None) == (not parts[0][0])


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=1400))
def test_random_bytes_never_raise(data: bytes) -> None:
    out: list[TaskRecord] = []
    stats = DecodeStats()
    decode(data, len(data), FAMILY, out, stats)
    decode(data, len(data) + 100, FAMILY, out, stats)  # a lying length is clipped to the buffer
    key_agrees(data)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(REAL), st.data())
def test_truncated_and_mutated_real_datagrams_never_raise(data: bytes, draw: st.DataObject) -> None:
    cut = draw.draw(st.integers(0, len(data)))
    ours(data[:cut])
    raw = bytearray(data)
    for _ in range(draw.draw(st.integers(1, 8))):
        at = draw.draw(st.integers(0, len(raw) - 1))
        raw[at] = draw.draw(st.integers(0, 255))
    records, _ = ours(bytes(raw))
    key_agrees(bytes(raw))
    key_agrees(data[:cut])
    # the fast path for the kernel's own shape reads what the general walk reads
    walked: list[TaskRecord] = []
    taskstats._decode(bytes(raw), len(raw), FAMILY, walked, DecodeStats())
    assert records == walked


def test_struct_sizes_cover_the_fields_we_read() -> None:
    assert LAYOUT_V10.size == 288  # ac_comm .. nivcsw
    assert taskstats.LAYOUT_V13.size <= STRUCT_SIZE[13]
    assert taskstats.LAYOUT_V15.size <= len(pack_stats(15, {}))
