"""The daemon protocol without a daemon: line framing, and a client's mirror of a tracker.

The mirror test drives a real Tracker with random histories (forks, execs, exits, renames,
removals, pruning) and checks that a Mirror fed only the snapshot and delta messages the daemon
would send, through JSON, equals the tracker after every step.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tractui.protocol import (
    MAX_MESSAGE,
    LineReader,
    Mirror,
    ProtocolError,
    delta_message,
    encode,
    event_to_wire,
    group_to_wire,
    snapshot_message,
)
from tractui.tracker import Group, Tracker

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
            log = [event_to_wire(e, float(e.ts) / SEC) for e in delta.log]
            message = delta_message(t, delta, log, _wire, {})
            if message is not None:
                mirror.apply(_roundtrip(message))
        if subscribed:
            assert view(mirror.tracker) == view(t), f"after step {i}: {step}"
