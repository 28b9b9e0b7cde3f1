"""The model's JSON form: :func:`proc_json`, the fast text the state file writes of a member,
is :func:`proc_to_wire`'s dict as JSON, whatever the member holds."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tractui.events import ExitStatus
from tractui.model.store import Proc
from tractui.model.wire import proc_json, proc_to_wire

from .histories import History, op


def as_text(proc: Proc, ended: bool = False) -> str:
    wire = proc_to_wire(proc)
    if ended:  # as the history keeps an ended member: without its group and zombie flag
        del wire["group"], wire["zombie"]
    return json.dumps(wire, ensure_ascii=False, separators=(",", ":"))


@settings(max_examples=100, deadline=None)
@given(st.lists(op, max_size=40))
def test_proc_json_is_proc_to_wire_as_text(ops: list[Any]) -> None:
    history = History()
    t = history.tracker
    shared: dict[object, str] = {}  # one for the whole history, as a save shares one
    for i, step in enumerate(ops):
        history.step(i, step)
        for proc in t.procs.values():
            assert proc_json(proc, shared) == as_text(proc), f"after step {i}: {step}"
            ended = proc_json(proc, shared, ended=True)
            assert ended == as_text(proc, ended=True), f"after step {i}: {step}"


def test_proc_json_of_odd_members() -> None:
    odd = Proc(
        pid=7,
        start=123,
        group="g@1",
        parent=(3, 4),
        ppid=1,
        comm='a"b\\c',
        argv=("sh", "-c", 'echo "\\ \x1b[41m é \ufffd \u2028"'),
        exe="/bin/\x00sh",
        uid=-1,
        threads=0,
        peak_threads=9,
        execs=[("sh",), (), ("x", "y")],
        exit=ExitStatus(signal=6, core=True),
        ended=456,
        lost_exit=True,
        zombie=True,
    )
    plain = Proc(pid=8, start=0, group="g", parent=None, ppid=0)
    for proc in (odd, plain):
        assert proc_json(proc) == as_text(proc)
        assert json.loads(proc_json(proc)) == proc_to_wire(proc)
        assert proc_json(proc, ended=True) == as_text(proc, ended=True)
