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


def pausing(gate: Gate) -> tuple[threading.Thread, list[float]]:
    """A thread that pauses at ``gate`` once, started; how long it waited, once it has."""
    waited: list[float] = []

    def work() -> None:
        started = time.monotonic()
        gate.pause()
        waited.append(time.monotonic() - started)

    thread = threading.Thread(target=work)
    thread.start()
    return thread, waited


def test_a_release_lets_the_paused_work_go_at_once() -> None:
    gate = Gate(longest=5.0)
    gate.hold()
    thread, waited = pausing(gate)
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


def test_a_hold_that_begins_while_a_pause_waits_is_waited_for_to_its_own_end() -> None:
    """Key B holds while the work still waits out key A's hold: the gate is not forced open
    at A's end (found in review: B's answer then raced the session thread)."""
    gate = Gate(longest=0.2)
    gate.hold()  # key A, never released
    thread, waited = pausing(gate)
    time.sleep(0.12)
    gate.hold()  # key B: ends 0.32 s after the start, not 0.2
    thread.join(3.0)
    assert waited and waited[0] >= 0.28, waited


def test_work_the_ui_waits_for_never_pauses() -> None:
    gate = Gate(longest=5.0)
    gate.hold()
    with gate.exempt():
        assert gate.pause() is False
    assert gate.paused == 0 and not gate.is_open()


def test_time_parked_at_the_gate_is_no_cost_of_reading() -> None:
    """The sampler paces its reads by what a read costs: a slice that waited at the gate
    (a key held down) must not look dear, or the next slices would read fewer and the round
    would stretch (found in review)."""
    clock = [0.0]

    def parked() -> bool:
        clock[0] += 1.0  # a second at the gate; the reads themselves take no time here
        return True

    sampler = Sampler(clock=lambda: clock[0], timer=lambda: clock[0])
    sampler.pause = parked
    keys = [(1 << 30, n) for n in range(Sampler.SMALL)]  # no such PID: each read fails at once
    assert sampler.step(lambda: keys) == len(keys)
    assert sampler.cost == 0.0
