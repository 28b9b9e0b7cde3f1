"""bench/ui's pid_max handling (on a stand-in file: the real sysctl is the machine's, shared)
and its key targets."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from bench.ui import keys, run
from tractui import session as session_module


@pytest.fixture
def pid_max(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "pid_max"
    path.write_text("32768\n")
    monkeypatch.setattr(run, "PID_MAX", path)
    monkeypatch.setattr(run.procfs, "pids", lambda: list(range(1000)))
    return path


def test_pid_max_is_raised_for_a_big_run_and_restored_after_it(pid_max: Path) -> None:
    with run.pid_max_for(30_000 + 564):
        assert pid_max.read_text() == f"{run.PID_MAX_CEILING}\n"
    assert pid_max.read_text() == "32768\n"


def test_pid_max_is_left_alone_when_the_run_fits(pid_max: Path) -> None:
    with run.pid_max_for(10_000):
        assert pid_max.read_text() == "32768\n"
    assert pid_max.read_text() == "32768\n"


def test_pid_max_is_restored_after_an_error_and_after_ctrl_c(pid_max: Path) -> None:
    for err in (RuntimeError("the run failed"), KeyboardInterrupt()):
        with pytest.raises(type(err)), run.pid_max_for(30_000):
            assert pid_max.read_text() != "32768\n"
            raise err
        assert pid_max.read_text() == "32768\n"


def test_pid_max_is_restored_on_sigterm_and_the_handler_put_back(pid_max: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as ended, run.pid_max_for(30_000):
        assert pid_max.read_text() != "32768\n"
        os.kill(os.getpid(), signal.SIGTERM)  # handled at the next bytecode: SystemExit
        time.sleep(1.0)  # (the handler raises in it, at the latest)
    assert ended.value.code == 128 + signal.SIGTERM
    assert pid_max.read_text() == "32768\n"
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_pid_max_already_at_the_ceiling_is_never_lowered(pid_max: Path) -> None:
    pid_max.write_text("4194304\n")
    with run.pid_max_for(30_000):
        assert pid_max.read_text() == "4194304\n"
    assert pid_max.read_text() == "4194304\n"


def test_the_key_targets_are_the_issues() -> None:
    assert run.key_target(2_000) == 50.0
    assert run.key_target(10_000) == 50.0
    assert run.key_target(30_000) == 80.0


def test_htop_at_its_top_is_pid_1_under_the_titles_whatever_the_sort_mark() -> None:
    titles = "  PID△USER       PRI  NI  VIRT   RES   SHR S  CPU% MEM%   TIME+  Command"
    top = f"  Tasks: 12\n{titles}\n    1 root 20 0 1 1 1 S 0.0 0.0 0:01.00 /sbin/init\n"
    assert run.htop_on_top(top)
    assert not run.htop_on_top(top.replace("    1 root", "31999 root"))
    assert not run.htop_on_top("    1 root no titles above it\n")


def test_a_keys_trace_and_the_session_spans_are_read_back_by_keys_py(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What tractui notes (KeyTrace, bench_span) is what bench/ui/keys.py reads: one key's
    segments in order, and a span of the session thread during it."""
    timings = tmp_path / "timings.txt"
    monkeypatch.setattr(session_module, "BENCH_TIMINGS", str(timings))
    trace = session_module.KeyTrace()
    shown: list[str] = []
    display = trace.wrap_display(lambda frame: shown.append(frame))
    event = time.monotonic()
    time.sleep(0.01)  # the way from the input thread
    trace.arrived(event)
    wall, cpu = time.monotonic(), time.thread_time()
    time.sleep(0.01)  # the widget's action, while the session thread polls
    session_module.bench_span("poll", wall, cpu)
    trace.arrived(event)  # back from the widget
    time.sleep(0.01)
    display("frame")
    trace.painted(event)
    session_module._bench_flush()

    found, spans = keys.read(timings)
    assert shown == ["frame"] and list(found) == [pytest.approx(event, abs=1e-3)]
    parts = keys.segments(next(iter(found.values())))
    assert parts["input"] >= 9 and parts["widget"] >= 9 and parts["to frame"] >= 9
    assert parts["total"] == pytest.approx(
        sum(parts[k] for k in ("input", "widget", "to frame", "frame", "after")), abs=0.5
    )
    ((start, end, _cpu),) = spans["poll"]
    assert end - start >= 0.009


def test_keys_py_says_what_is_missing_without_trace_lines(tmp_path: Path) -> None:
    timings = tmp_path / "timings.txt"
    timings.write_text("123.000 refresh 12.5\n")
    assert keys.main([str(timings)]) == 1
