"""tractui.perfetto: the Trace Event Format fields, placement, order, and streaming."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

from tractui import perfetto

T0 = 1_700_000_000.0  # epoch seconds
END = T0 + 10.0


def _proc(pid: int, parent: int | None, start: float, end: float | None, **kw: Any) -> dict:
    proc: dict[str, Any] = {
        "pid": pid,
        "parent": parent,
        "start": start,
        "end": end,
        "argv": kw.pop("argv", ["prog", str(pid)]),
        "execs": kw.pop("execs", []),
        "comm": kw.pop("comm", "prog"),
        "exit": kw.pop("exit", {"code": 0} if end is not None else None),
        "alive": kw.pop("alive", end is None),
    }
    proc.update(kw)
    return proc


def _family() -> list[dict[str, Any]]:
    return [
        _proc(
            100,
            None,
            T0,
            T0 + 2.5,
            argv=["sh", "-c", "x"],
            comm="sh",
            execs=[["sh", "-c", "x"]],
            exec_times=[T0 + 0.000_5],
        ),
        _proc(
            101,
            100,
            T0 + 0.1,
            T0 + 0.2,
            argv=["/usr/bin/true"],
            comm="",
            execs=[["/bin/sh"], ["/usr/bin/true"]],
            exec_times=[T0 + 0.11, T0 + 0.15],
            exit={"code": 3},
            cpu_user_s=0.25,
            cpu_system_s=0.125,
            peak_rss_kib=2048,
            read_bytes=None,
        ),
        _proc(102, 100, T0 + 0.3, None, argv=["sleep", "30"], comm="sleep"),
        _proc(103, 102, T0 + 0.4, T0 + 0.5, exit={"signal": 9, "core": False}, comm="a\x1bb\n"),
        # the kernel reused 101 for another process later
        _proc(101, 100, T0 + 1.0, T0 + 1.2, argv=["again"], comm="again"),
    ]


def _write(procs: Any, **kw: Any) -> tuple[dict[str, Any], str]:
    out = io.StringIO()
    n = perfetto.write(procs, out, end=END, **kw)
    text = out.getvalue()
    doc = json.loads(text)
    assert doc["otherData"]["processes"] == n
    return doc, text


def _slices(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in doc["traceEvents"] if e["ph"] == "X"]


def test_every_event_has_the_fields_its_phase_needs() -> None:
    doc, _ = _write(_family())
    assert doc["displayTimeUnit"] == "ms"
    metadata_args = {
        "process_name": "name",
        "thread_name": "name",
        "process_sort_index": "sort_index",
        "process_labels": "labels",
    }
    for ev in doc["traceEvents"]:
        assert ev["ph"] in ("M", "X", "i"), ev
        assert type(ev["pid"]) is int and ev["tid"] == ev["pid"], ev
        assert isinstance(ev["name"], str) and ev["name"], ev
        # metadata may omit ts, but Perfetto would sort it at 0, 1970 on this clock
        assert type(ev["ts"]) is int and ev["ts"] >= T0 * 1e6, ev
        if ev["ph"] == "M":
            assert list(ev["args"]) == [metadata_args[ev["name"]]], ev
            continue
        if ev["ph"] == "X":
            assert type(ev["dur"]) is int and ev["dur"] >= 0, ev
        else:
            assert ev["s"] == "t" and "dur" not in ev, ev


def test_each_slice_spans_its_lifetime_and_a_live_one_runs_to_the_end() -> None:
    procs = _family()
    doc, _ = _write(procs)
    slices = _slices(doc)
    assert [s["pid"] for s in slices] == [p["pid"] for p in procs]
    for proc, s in zip(procs, slices, strict=True):
        assert s["ts"] == round(proc["start"] * 1e6)
        end = proc["end"] if proc["end"] is not None else END
        assert s["ts"] + s["dur"] == round(end * 1e6)
        assert s["args"]["parent"] == proc["parent"] and s["args"]["argv"] == proc["argv"]
    by_pid = {s["pid"]: s for s in slices}
    assert by_pid[102]["args"]["status"] == "alive" and by_pid[102]["args"]["alive"] is True
    assert slices[1]["args"]["status"] == "exit 3"
    assert by_pid[103]["args"]["status"] == "SIGKILL"
    assert slices[0]["args"]["status"] == "exit 0" and "alive" not in slices[0]["args"]


def test_args_carry_the_accounting_when_known() -> None:
    slices = _slices(_write(_family())[0])
    acct = slices[1]["args"]
    assert (acct["cpu_user_s"], acct["cpu_system_s"], acct["peak_rss_kib"]) == (0.25, 0.125, 2048)
    assert "read_bytes" not in acct, "null: no record, so nothing said"
    assert not set(perfetto.ACCOUNT_FIELDS) & set(slices[0]["args"])


def test_an_instant_per_exec_at_its_time_inside_the_slice() -> None:
    procs = _family()
    doc, _ = _write(procs)
    instants = [e for e in doc["traceEvents"] if e["ph"] == "i"]
    assert [(e["pid"], e["name"], e["args"]["argv"]) for e in instants] == [
        (100, "exec sh", ["sh", "-c", "x"]),
        (101, "exec sh", ["/bin/sh"]),
        (101, "exec true", ["/usr/bin/true"]),
    ]
    assert [e["ts"] for e in instants] == [
        round(t * 1e6) for t in (T0 + 0.0005, T0 + 0.11, T0 + 0.15)
    ]
    first = _slices(doc)[1]
    assert all(first["ts"] <= e["ts"] <= first["ts"] + first["dur"] for e in instants[1:])


def test_an_exec_time_outside_the_lifetime_is_kept_inside_it() -> None:
    proc = _proc(7, None, T0, T0 + 1, execs=[["a"], ["b"]], exec_times=[T0 - 0.001, T0 + 2])
    doc, _ = _write([proc])
    s = _slices(doc)[0]
    assert [e["ts"] for e in doc["traceEvents"] if e["ph"] == "i"] == [s["ts"], s["ts"] + s["dur"]]


def test_without_exec_times_the_execs_go_in_the_args_unplaced() -> None:
    proc = _proc(7, None, T0, T0 + 1, execs=[["a", "1"], ["b"]])
    doc, _ = _write([proc])
    assert not [e for e in doc["traceEvents"] if e["ph"] == "i"]
    assert _slices(doc)[0]["args"]["execs"] == [["a", "1"], ["b"]]


def test_metadata_names_each_pid_once_in_tree_order_with_its_parent() -> None:
    doc, text = _write(_family())
    meta = [e for e in doc["traceEvents"] if e["ph"] == "M"]
    names = {e["pid"]: e["args"]["name"] for e in meta if e["name"] == "process_name"}
    assert names == {100: "sh", 101: "true", 102: "sleep", 103: "a\x1bb\n"}
    assert "\\u001b" in text and "\\n" in text, "controls are JSON escapes"
    order = [(e["pid"], e["args"]["sort_index"]) for e in meta if e["name"] == "process_sort_index"]
    assert order == [(100, 0), (101, 1), (102, 2), (103, 3)]
    labels = {e["pid"]: e["args"]["labels"] for e in meta if e["name"] == "process_labels"}
    assert labels == {100: "root", 101: "parent 100", 102: "parent 100", 103: "parent 102"}
    assert len(meta) == 4 * 4


def test_a_name_from_argv_when_comm_is_unknown() -> None:
    assert perfetto.name_of({"comm": "", "argv": ["/usr/bin/make", "-j2"]}) == "make"
    assert perfetto.name_of({"comm": "", "argv": []}) == "?"
    assert perfetto.name_of({"comm": "kworker/0:1"}) == "kworker/0:1"


def test_an_ended_process_without_a_known_end_says_so() -> None:
    proc = _proc(9, None, T0, None, alive=False, exit=None, status="exit 1")
    s = _slices(_write([proc])[0])[0]
    assert s["args"]["status"] == "exit 1" and s["args"]["alive"] is False
    assert "unknown" in s["args"]["end"] and s["ts"] + s["dur"] == round(END * 1e6)


def test_it_writes_as_it_reads() -> None:
    """Each process's events are in the file before the next process is read."""
    out = io.StringIO()

    def procs() -> Iterator[dict[str, Any]]:
        for i in range(50):
            if i:
                assert f'"pid":{1000 + i - 1},' in out.getvalue()
            yield _proc(1000 + i, 1000 + i - 1 if i else None, T0 + i, T0 + i + 0.5)

    assert perfetto.write(procs(), out, end=END) == 50
    assert len(_slices(json.loads(out.getvalue()))) == 50


def test_no_processes_is_an_empty_trace() -> None:
    doc, _ = _write([], meta={"group": "g"})
    assert doc["traceEvents"] == [] and doc["otherData"]["group"] == "g"


def test_bytes_per_process_stay_small() -> None:
    """A generous bound (bench/export/size.py measures 50,000): a typical build step."""
    argv = ["cc", "-O2", "-c", "src/module/file.c", "-o", "build/module/file.o"]
    procs = [
        _proc(
            2000 + i,
            2000 + i // 2 if i else None,
            T0 + i * 0.001,
            T0 + i * 0.001 + 0.05,
            argv=argv,
            comm="cc",
            execs=[argv],
            exec_times=[T0 + i * 0.001 + 0.0001],
            cpu_user_s=0.012,
            cpu_system_s=0.004,
            peak_rss_kib=10240,
        )
        for i in range(2000)
    ]
    _, text = _write(procs)
    per_process = len(text.encode()) / len(procs)
    assert per_process < 1500, per_process
