"""Our hot-path decoder against pyroute2's ProcEventMarshal, on the same bytes."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroute2.netlink.connector.cn_proc import ProcEventMarshal

from tractui.events import (
    DATAGRAM,
    Comm,
    DecodeStats,
    Exec,
    Exit,
    ExitStatus,
    Fork,
    decode,
)

FORK, EXEC, UID, COMM, EXIT = 0x1, 0x2, 0x4, 0x200, 0x80000000


def datagram(what: int, data: tuple[int, ...] = (0,) * 6, comm: bytes | None = None) -> bytes:
    raw = DATAGRAM.pack(76, 3, 0, 7, 0, 1, 1, 7, 0, 40, 0, what, 1, 123_456_789, *data)
    if comm is not None:
        raw = raw[:60] + comm.ljust(16, b"\0")
    return raw


def pyroute2_parse(raw: bytes) -> dict[str, object]:
    (msg,) = list(ProcEventMarshal().parse(raw))
    return dict(msg)


def test_fork_matches_pyroute2() -> None:
    raw = datagram(FORK, (100, 100, 4242, 4242, 0, 0))
    ours = decode(raw, len(raw), DecodeStats())
    theirs = pyroute2_parse(raw)
    assert ours == Fork(123_456_789, 100, 100, 4242, 4242)
    assert (ours.ts, ours.parent_pid, ours.parent_tgid, ours.child_pid, ours.child_tgid) == (
        theirs["timestamp_ns"],
        theirs["parent_pid"],
        theirs["parent_tgid"],
        theirs["child_pid"],
        theirs["child_tgid"],
    )
    assert not ours.is_thread


def test_thread_fork_is_flagged() -> None:
    raw = datagram(FORK, (100, 100, 4243, 4242, 0, 0))
    ours = decode(raw, len(raw), DecodeStats())
    assert isinstance(ours, Fork) and ours.is_thread
    assert pyroute2_parse(raw)["child_tgid"] == ours.child_tgid == 4242


def test_exec_matches_pyroute2() -> None:
    raw = datagram(EXEC, (555, 555, 0, 0, 0, 0))
    ours = decode(raw, len(raw), DecodeStats())
    theirs = pyroute2_parse(raw)
    assert ours == Exec(123_456_789, 555, 555)
    assert (ours.pid, ours.tgid) == (theirs["process_pid"], theirs["process_tgid"])


def test_exit_matches_pyroute2() -> None:
    raw = datagram(EXIT, (77, 77, 768, 17, 1, 1))
    ours = decode(raw, len(raw), DecodeStats())
    theirs = pyroute2_parse(raw)
    assert isinstance(ours, Exit)
    assert (ours.pid, ours.tgid, ours.status, ours.parent_pid, ours.parent_tgid) == (
        theirs["process_pid"],
        theirs["process_tgid"],
        theirs["exit_code"],
        theirs["parent_pid"],
        theirs["parent_tgid"],
    )
    assert ours.decoded() == ExitStatus(code=3)


def test_thread_exit_is_flagged() -> None:
    raw = datagram(EXIT, (78, 77, 0, 17, 1, 1))
    ours = decode(raw, len(raw), DecodeStats())
    assert isinstance(ours, Exit) and ours.is_thread


def test_comm_matches_pyroute2() -> None:
    raw = datagram(COMM, (9, 9, 0, 0, 0, 0), comm=b"worker-1")
    ours = decode(raw, len(raw), DecodeStats())
    theirs = pyroute2_parse(raw)
    assert ours == Comm(123_456_789, 9, 9, "worker-1")
    assert ours.comm == theirs["comm"]


def test_events_we_did_not_ask_for_are_counted_as_other() -> None:
    stats = DecodeStats()
    raw = datagram(UID, (9, 9, 1000, 1000, 0, 0))
    assert decode(raw, len(raw), stats) is None
    assert pyroute2_parse(raw)["event"] == "PROC_EVENT_UID"
    ack = datagram(0)
    assert decode(ack, len(ack), stats) is None
    assert (stats.other, stats.malformed) == (2, 0)


@pytest.mark.parametrize(
    ("status", "expected", "text", "shell"),
    [
        (768, ExitStatus(code=3), "exit 3", 3),
        (0, ExitStatus(code=0), "exit 0", 0),
        (15, ExitStatus(signal=15), "SIGTERM", 143),
        (9, ExitStatus(signal=9), "SIGKILL", 137),
        (134, ExitStatus(signal=6, core=True), "SIGABRT (core)", 134),
    ],
)
def test_wait_status_decoding(status: int, expected: ExitStatus, text: str, shell: int) -> None:
    decoded = ExitStatus.from_wait_status(status)
    assert decoded == expected
    assert decoded.describe() == text
    assert decoded.shell_code() == shell
    assert decoded.failed == (shell != 0)


def test_short_datagram_is_malformed() -> None:
    stats = DecodeStats()
    raw = datagram(FORK)[:50]
    assert decode(raw, len(raw), stats) is None
    assert stats.malformed == 1


def test_other_connector_is_malformed() -> None:
    stats = DecodeStats()
    raw = bytearray(datagram(FORK, (1, 1, 2, 2, 0, 0)))
    struct.pack_into("=I", raw, 16, 9)  # cn_msg.idx of another connector
    assert decode(raw, len(raw), stats) is None
    assert stats.malformed == 1


@settings(max_examples=400, deadline=None)
@given(st.binary(min_size=0, max_size=200))
def test_arbitrary_datagrams_never_escape(raw: bytes) -> None:
    stats = DecodeStats()
    buf = bytearray(256)
    buf[: len(raw)] = raw
    event = decode(memoryview(buf), len(raw), stats)
    assert event is None or isinstance(event, (Fork, Exec, Exit, Comm))
    if event is None:
        assert stats.malformed + stats.other == 1
    if len(raw) < 76:
        assert stats.malformed == 1


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([FORK, EXEC, EXIT, COMM, UID]),
    st.tuples(*[st.integers(0, 2**32 - 1)] * 6),
)
def test_well_formed_datagrams_agree_with_pyroute2(what: int, data: tuple[int, ...]) -> None:
    if what == COMM:
        data = (*data[:2], 0x41424344, 0, 0, 0)  # pyroute2 cannot parse a non-UTF-8 comm
    raw = datagram(what, data)
    ours = decode(raw, len(raw), DecodeStats())
    theirs = pyroute2_parse(raw)
    if what == FORK:
        assert isinstance(ours, Fork)
        assert ours.child_pid == theirs["child_pid"]
        assert ours.parent_tgid == theirs["parent_tgid"]
    elif what == EXEC:
        assert isinstance(ours, Exec) and ours.pid == theirs["process_pid"]
    elif what == EXIT:
        assert isinstance(ours, Exit) and ours.status == theirs["exit_code"]
        assert ours.parent_tgid == theirs["parent_tgid"]
    elif what == COMM:
        assert isinstance(ours, Comm) and ours.pid == theirs["process_pid"]
        assert ours.comm == theirs["comm"] == "DCBA"
    else:
        assert ours is None


def test_kernel_constants_agree_with_pyroute2() -> None:
    from pyroute2.netlink import NETLINK_CONNECTOR, NLMSG_DONE
    from pyroute2.netlink.connector import cn_proc

    from tractui import events

    assert (events.NETLINK_CONNECTOR, events.NLMSG_DONE) == (NETLINK_CONNECTOR, NLMSG_DONE)
    for name in [
        "CN_IDX_PROC",
        "CN_VAL_PROC",
        "PROC_CN_MCAST_LISTEN",
        "PROC_CN_MCAST_IGNORE",
        "PROC_EVENT_NONE",
        "PROC_EVENT_FORK",
        "PROC_EVENT_EXEC",
        "PROC_EVENT_COMM",
        "PROC_EVENT_EXIT",
    ]:
        assert getattr(events, name) == getattr(cn_proc, name), name
