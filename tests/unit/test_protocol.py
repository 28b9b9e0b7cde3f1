"""The daemon protocol without a daemon: line framing, and a client's mirror of a tracker.

The mirror test drives a real Tracker with random histories (forks, execs, exits, renames,
removals, pruning) and checks that a Mirror fed only the snapshot and delta messages the daemon
would send, through JSON, equals the tracker after every step.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tractui.daemon.client import Connection
from tractui.daemon.protocol import (
    MAX_DEPTH,
    MAX_MESSAGE,
    PROTOCOL,
    BadRequest,
    LineReader,
    Mirror,
    ProtocolError,
    Request,
    delta_message,
    encode,
    snapshot_message,
    too_deep,
)
from tractui.errors import UserError
from tractui.events import ProcInfo
from tractui.model.store import Group
from tractui.model.tracker import Tracker
from tractui.model.wire import event_to_wire, group_to_wire

from .fakeproc import FakeProc
from .histories import SEC, History, op


def test_lines_split_across_reads_and_several_per_read() -> None:
    reader = LineReader()
    assert list(reader.feed(b'{"a": 1}\n{"b"')) == [{"a": 1}]
    assert list(reader.feed(b": 2}\n\n{}\n")) == [{"b": 2}, {}]


def test_bad_lines_are_errors_and_the_stream_goes_on() -> None:
    out = list(LineReader().feed(b'nope\n[1]\n\xff\n{"ok": true}\n'))
    assert [type(m) for m in out] == [ProtocolError, ProtocolError, ProtocolError, dict]
    assert "malformed JSON" in str(out[0]) and "JSON object" in str(out[1])


def test_an_oversize_line_is_reported_once_and_skipped_without_being_kept() -> None:
    reader = LineReader(limit=100)
    out = list(reader.feed(b"x" * 150))
    assert len(out) == 1 and "longer than" in str(out[0])
    assert list(reader.feed(b"y" * 1000)) == []  # still the same line: no second error
    assert reader._buffer is not None and len(reader._buffer) == 0
    assert list(reader.feed(b'tail"}\n{"n": 1}\n')) == [{"n": 1}]
    # exactly at the limit is fine; one past it is not
    ok = b'{"p": "' + b"z" * (100 - 9) + b'"}'
    assert len(ok) == 100 and list(reader.feed(ok + b"\n")) == [json.loads(ok)]
    assert isinstance(next(iter(reader.feed(ok[:-1] + b" }\n"))), ProtocolError)


def test_the_default_limit_is_one_mib() -> None:
    assert MAX_MESSAGE == 1 << 20
    assert encode({"a": "é"}) == '{"a":"é"}\n'.encode()


# ---- hostile lines ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}",:\\ab'),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=40,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(0, 6))
def test_too_deep_counts_only_the_brackets_outside_strings(value: Any, limit: int) -> None:
    assert too_deep(json.dumps(value).encode(), limit) == (_depth(value) > limit)


def test_a_line_nested_past_the_limit_is_an_error_before_json_reads_it() -> None:
    deep = b'{"op":"groups","x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    unclosed = b'{"op":"groups","x":' + b"[{" * 5000
    out = list(LineReader().feed(deep + b"\n" + unclosed + b"\n"))
    assert [f"nested deeper than {MAX_DEPTH} levels" in str(m) for m in out] == [True, True]
    at_limit = b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1)
    assert list(LineReader().feed(b'{"x":' + at_limit + b"}\n")) == [{"x": json.loads(at_limit)}]
    # a reader's own limit; and json's recursion is caught even with no limit before it
    assert "nested" in str(next(iter(LineReader(depth=2).feed(b'{"a":[[1]]}\n'))))
    assert "malformed JSON" in str(next(iter(LineReader(depth=None).feed(deep + b"\n"))))


def test_the_depth_scan_is_linear_in_escaped_quotes() -> None:
    # a regex for strings tried each escaped quote as a string's start: 16,000 took 6 s
    line = b'{"a":' + b"[" * 40 + b'"' + b'\\"' * 50_000
    started = time.monotonic()
    assert too_deep(line, MAX_DEPTH)
    assert not too_deep(b'{"a":"' + b'\\"[' * 50_000 + b'"}', MAX_DEPTH)
    assert time.monotonic() - started < 1.0


surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(), st.text() | st.text(alphabet=surrogates)))
def test_every_message_encodes_and_decodes_to_itself(message: dict[str, Any]) -> None:
    message = {"t": "reply", "id": None, **message}
    line = encode(message)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    # what JSON's escapes carry: all, but that a high and a low surrogate in a row are one
    # character on the other side (as with any JSON encoder)
    assert json.loads(line) == json.loads(json.dumps(message))


def test_a_lone_surrogate_is_sent_escaped_and_the_rest_stays_utf8() -> None:
    assert encode({"id": "\ud800"}) == b'{"id":"\\ud800"}\n'
    assert encode({"a": "é"}) == '{"a":"é"}\n'.encode()


def test_request_fields_are_read_by_type_and_the_error_names_the_field() -> None:
    r = Request(
        {
            "t": True,
            "s": "false",
            "one": 1,
            "f": 1.0,
            "nan": math.nan,
            "big": 10**40,
            "argv": ["a", "b\x00"],
            "sur": "\ud800",
            "env": {"A": "1", "B=C": "2"},
            "vars": {"A": "1", "B": 1},
            "user": {"uid": "0"},
            "pids": [3, True],
        }
    )
    assert r.flag("t") is True and r.flag("absent") is False and r.flag("absent", True) is True
    assert r.integer("one", 0, 5) == 1 and r.integer("absent", 0, 5) is None
    for call, text in (
        (lambda: r.flag("s"), "'s' must be true or false, not a string"),
        (lambda: r.flag("one"), "'one' must be true or false, not 1"),
        (lambda: r.integer("t", 0, 5), "'t' must be an integer from 0 to 5, not true"),
        (lambda: r.integer("f", 0, 5), "'f' must be an integer from 0 to 5, not 1.0"),
        (lambda: r.integer("nan", 0, 5), "'nan' must be an integer from 0 to 5, not nan"),
        (
            lambda: r.integer("big", 0, 5),
            "'big' must be an integer from 0 to 5, not a huge integer",
        ),
        (lambda: r.texts("argv"), "'argv[1]' contains a NUL character"),
        (lambda: r.text("sur"), "'sur' contains a lone surrogate"),
        (lambda: r.text_map("env"), "'env' has a bad variable name 'B=C'"),
        (
            lambda: r.text_map("vars"),
            "'vars' must be an object of strings, not an object holding 1",
        ),
        (
            lambda: r.integers("pids", 1, 9, "PIDs"),
            "'pids' must be a list of PIDs (integers from 1 to 9)",
        ),
        (lambda: r.group("one"), "'one' must be a string: the group's name"),
        (lambda: r.group("absent"), "no group name given"),
    ):
        with pytest.raises(BadRequest) as err:
            call()
        assert text in str(err.value)
    user = r.record("user")
    assert user is not None
    with pytest.raises(BadRequest, match=r"'user\.uid' must be an integer"):
        user.integer("uid", 0, 9)


# ---- the mirror ------------------------------------------------------------------------------


def _wire(group: Group) -> dict[str, Any]:
    return group_to_wire(group, group.name == "web", f"/logs/{group.name}.log")


def _roundtrip(message: dict[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(encode(message))
    return decoded


def view(t: Tracker) -> dict[str, Any]:
    """Everything a client reads from a tracker, in comparable form."""
    return {
        "procs": {
            k: (
                p.group,
                p.parent,
                p.ppid,
                p.argv,
                p.comm,
                p.threads,
                tuple(p.execs),
                p.ended,
                p.exit,
                p.lost_exit,
                tuple(p.children),
            )
            for k, p in t.procs.items()
        },
        "live": {pid: p.key for pid, p in t.live.items()},
        "exited": sorted(t.exited),
        "groups": {
            n: (tuple(g.roots), g.live, g.forks, g.execs, g.exits, g.failed, sorted(g.members))
            for n, g in t.groups.items()
        },
        "walk": {n: [p.key for p in t.walk(g)] for n, g in t.groups.items()},
    }


@settings(max_examples=150, deadline=None)
@given(st.lists(op, max_size=40), st.integers(0, 3))
def test_mirror_equals_the_tracker_after_every_delta(ops: list[Any], subscribe_at: int) -> None:
    history = History()
    t = history.tracker
    mirror = Mirror(Tracker(keep_exited=5.0, clock_offset=lambda: 0))
    subscribed = False
    for i, step in enumerate([None, *ops]):
        delta = history.step(i, step)
        if not subscribed and i >= subscribe_at:
            subscribed = True
            groups = list(t.groups.values())
            mirror.load(_roundtrip(snapshot_message(t, groups, [], _wire, {})))
        elif subscribed:
            log = [event_to_wire(e, float(e.ts) / SEC, 0.0) for e in delta.log]
            message = delta_message(t, delta, log, _wire, {})
            if message is not None:
                mirror.apply(_roundtrip(message))
        if subscribed:
            assert view(mirror.tracker) == view(t), f"after step {i}: {step}"


def test_a_client_takes_a_deep_line_from_its_server_as_unreadable(tmp_path: Path) -> None:
    """The client does not scan its server's lines for depth (a snapshot's scan would cost
    more than its parse), yet a deep one is an error, not a RecursionError out of the CLI."""
    path = tmp_path / "fake.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def serve() -> None:
        peer, _ = server.accept()
        with peer:
            peer.sendall(encode({"t": "hello", "protocol": PROTOCOL}))
            peer.recv(1024)
            peer.sendall(b'{"t":"reply","id":1,"ok":true,"result":' + b"[" * 5000 + b"\n")
            peer.recv(1024)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with server, Connection(path, timeout=5) as conn, pytest.raises(UserError) as err:
        conn.request("groups")
    assert "sent something unreadable" in str(err.value)
    thread.join(timeout=5)


def _serve(path: Path, messages: list[dict[str, Any]]) -> threading.Thread:
    """A server on ``path`` that says hello, answers the subscribe and sends ``messages``."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def serve() -> None:
        with server:
            peer, _ = server.accept()
            with peer:
                peer.sendall(encode({"t": "hello", "protocol": PROTOCOL, "pid": 1}))
                peer.recv(1024)
                peer.sendall(encode({"t": "reply", "id": 1, "ok": True, "result": None}))
                for message in messages:
                    peer.sendall(encode(message))
                peer.settimeout(5)
                peer.recv(1024)  # until the client closes

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def _snapshot_with_a_member() -> dict[str, Any]:
    t = Tracker(keep_exited=5.0, clock_offset=lambda: 0, reader=FakeProc())
    t.add_root("web", ProcInfo(5_000_000, SEC, 1, "sh", ("sh",), "/bin/sh", 0, 1, "S", False))
    return _roundtrip(snapshot_message(t, list(t.groups.values()), [], _wire, {}))


@pytest.mark.parametrize(
    "spoil",
    [
        lambda m: m["procs"][0].update(account={"read_bytes": 2**64}),
        lambda m: m["groups"][0].update(ended={"peak_rss_kib": 2**70}),
        lambda m: m["procs"][0].update(exec_times=[1, 2]),
        lambda m: m["procs"][0].pop("pid"),
    ],
)
def test_a_daemon_message_the_mirror_cannot_read_is_one_line_not_a_traceback(
    tmp_path: Path, spoil: Any
) -> None:
    from tractui.daemon.link import DaemonEngine

    bad = _snapshot_with_a_member()
    spoil(bad)
    # in the snapshot a subscriber is sent first: the connection fails with one line
    thread = _serve(tmp_path / "a.sock", [bad])
    engine = DaemonEngine(tmp_path / "a.sock")
    with pytest.raises(UserError, match=r"^the daemon sent something unreadable: [^\n]+$"):
        engine.start()
    thread.join(timeout=5)
    # in a delta: the link goes down (the session reconnects), as for any unreadable message
    thread = _serve(tmp_path / "b.sock", [_snapshot_with_a_member(), {**bad, "t": "delta"}])
    engine = DaemonEngine(tmp_path / "b.sock")
    engine.start()
    try:
        deadline = time.monotonic() + 5
        while engine.alive() and time.monotonic() < deadline:
            engine.poll(0.2)
        assert not engine.alive()
    finally:
        engine.stop()
    thread.join(timeout=5)


def test_the_mirror_gets_the_cpu_the_records_lack() -> None:
    """A group's unrecorded CPU (tractui.model.reaped) reaches a client, in its TIME."""
    history = History()
    t = history.tracker
    history.step(0, None)
    group = next(iter(t.groups.values()))
    group.unrecorded_user_us, group.unrecorded_system_us = 1_250_000, 40_000
    mirror = Mirror(Tracker(keep_exited=5.0, clock_offset=lambda: 0))
    mirror.load(_roundtrip(snapshot_message(t, list(t.groups.values()), [], _wire, {})))
    got = mirror.tracker.groups[group.name]
    assert (got.unrecorded_user_us, got.unrecorded_system_us) == (1_250_000, 40_000)
    assert got.accounted_cpu_s == pytest.approx(group.ended.cpu_s + 1.29)
