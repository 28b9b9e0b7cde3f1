"""procfs's readers of a process's threads and status, against this test's own process."""

from __future__ import annotations

import os
import threading
import time

from tractui.kernel import procfs


def test_read_task_stats_has_each_thread_with_its_own_cpu_time() -> None:
    stop = threading.Event()

    def spin() -> None:
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline:  # CPU time of this thread, not the main one's
            pass
        stop.wait(10)

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        time.sleep(0.3)
        stats = procfs.read_task_stats(os.getpid())
        assert thread.native_id is not None
        assert {os.getpid(), thread.native_id} <= set(stats)
        assert stats[thread.native_id].utime_stime > 0
        assert all(s.threads == stats[os.getpid()].threads for s in stats.values())
    finally:
        stop.set()
        thread.join()


def test_read_task_stats_of_a_gone_process_is_empty() -> None:
    assert procfs.read_task_stats(2**22 + 1) == {}  # above any pid_max


def test_read_status_gives_each_field_as_text() -> None:
    status = procfs.read_status(os.getpid())
    assert int(status["Pid"]) == os.getpid()
    assert status["VmHWM"].endswith(" kB")
    assert int(status["VmHWM"].split()[0]) == procfs.peak_rss_kb()
    assert len(status["SigCgt"]) == 16 and int(status["SigCgt"], 16) >= 0
    assert procfs.read_status(2**22 + 1) == {}
