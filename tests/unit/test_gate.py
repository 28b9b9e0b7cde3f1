"""The gate the UI closes while it answers a key (tractui.gate): the session thread's work
parks at it, never longer than one hold's ``longest`` in all."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

from tractui.gate import Gate
from tractui.kernel import procfs
from tractui.kernel.sample import Sampler


def test_an_open_gate_does_not_wait() -> None:
    gate = Gate(longest=5.0)
    started = time.monotonic()
    for _ in range(1000):
        gate.pause()
    assert time.monotonic() - started < 0.5 and gate.paused == 0


def test_a_release_lets_the_paused_work_go_at_once() -> None:
    gate = Gate(longest=5.0)
    gate.hold()
    waited: list[float] = []

    def work() -> None:
        started = time.monotonic()
        gate.pause()
        waited.append(time.monotonic() - started)

    thread = threading.Thread(target=work)
    thread.start()
    time.sleep(0.1)
    assert thread.is_alive()  # parked while the gate is closed
    gate.release()
    thread.join(2.0)
    assert not thread.is_alive() and 0.05 <= waited[0] < 2.0


def test_one_hold_parks_the_work_for_longest_in_all_however_many_pauses_meet_it() -> None:
    """A release that never comes (a key whose answer failed) costs the engine ``longest``
    once, not at each of the many pauses of a step."""
    gate = Gate(longest=0.1)
    gate.hold()
    started = time.monotonic()
    for _ in range(50):
        gate.pause()
    took = time.monotonic() - started
    assert 0.09 <= took < 1.0, took
    assert gate.is_open()  # the hold is over


def test_the_sampler_pauses_within_a_round() -> None:
    """A round of thousands of reads calls the gate every PAUSE_EVERY reads, not only between
    steps: a key is answered without waiting for the round's slice."""
    calls = []
    sampler = Sampler()
    sampler.pause = lambda: bool(calls.append(1))
    keys = [(1 << 30, 0)] * (3 * Sampler.PAUSE_EVERY)  # no such PID: each read fails at once
    sampler.read(keys)
    assert len(calls) == 3


def test_a_read_after_a_pause_is_timed_when_it_was_made(
    spawn: Callable[..., subprocess.Popen[Any]],
) -> None:
    """CPU% is the ticks since the last read over the time since: a read made after the gate
    held the sampler is timed after the pause, not at the round's start (else its CPU% would
    be over a time too short by the pause)."""
    proc = spawn(["sleep", "30"])
    start = procfs.read_start(proc.pid)
    assert start is not None
    times = iter([100.0, 100.25])  # the read's start, then the clock after the pause
    sampler = Sampler(clock=lambda: next(times))
    sampler.pause = lambda: True  # it waited
    key = (proc.pid, start)
    sampler.read([key])
    assert sampler._prev[key][0] == 100.25
