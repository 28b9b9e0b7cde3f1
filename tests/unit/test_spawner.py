"""The session's Spawner: a job's value or exception reaches its caller, and nothing waits for
ever on a spawner that is stopped, or on itself."""

from __future__ import annotations

import threading

import pytest

from tractui.session import Spawner


def _within(fn: object, timeout: float = 5.0) -> list[object]:
    """Run ``fn`` in a thread; its value (in a list), or fail if it hangs."""
    out: list[object] = []
    thread = threading.Thread(target=lambda: out.append(fn()), daemon=True)  # type: ignore[operator]
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the spawner hung"
    return out


def test_a_jobs_value_and_exception_reach_the_caller() -> None:
    spawner = Spawner()
    try:
        assert spawner.run(threading.get_native_id) != threading.get_native_id()
        with pytest.raises(ZeroDivisionError):
            spawner.run(lambda: 1 // 0)
    finally:
        spawner.stop()


def test_a_job_after_the_stop_runs_in_the_callers_thread() -> None:
    spawner = Spawner()
    spawner.stop()
    spawner.stop()  # twice: harmless
    assert _within(lambda: spawner.run(lambda: 7)) == [7]


def test_a_job_that_spawns_does_not_wait_on_itself() -> None:
    spawner = Spawner()
    try:
        assert _within(lambda: spawner.run(lambda: spawner.run(lambda: 8))) == [8]
    finally:
        spawner.stop()
