"""The UI process holds thousands of descriptors (the sampler keeps each process's
/proc/PID/stat open), so what it opens later gets numbers above 1023, which select() refuses:
every wait of the UI process on a pipe must work there. Each case runs in a child process that
first opens 1,100 descriptors (the limit is the whole process's)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.kernel

CROWD = textwrap.dedent(
    """
    import os
    crowd = [os.open("/dev/null", os.O_RDONLY) for _ in range(1100)]
    """
)


def _run(code: str) -> str:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and soft < 1200:
        pytest.skip(f"RLIMIT_NOFILE {soft}: no room for 1,100 descriptors and more")
    done = subprocess.run(
        [sys.executable, "-c", CROWD + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
        cwd="/",  # the tractui imported is the installed one (or PYTHONPATH's), not the cwd's
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_a_launchs_working_directory_is_checked_with_a_descriptor_above_1023() -> None:
    if os.geteuid() != 0:
        pytest.skip("the check runs as another user: needs root")
    out = _run(
        """
        from tractui import control
        fd = control.enter_directory("/tmp", control.Identity.of_uid(65534))
        print("entered", fd > 0)
        """
    )
    assert out.split() == ["entered", "True"]


def test_a_collector_started_with_a_descriptor_above_1023_gets_ready(
    connector_problem: str,
) -> None:
    out = _run(
        """
        from tractui.kernel.collector import CollectorProcess
        collector = CollectorProcess()
        try:
            info = collector.start()
            print("ready", collector.reader.fd > 1023, info["pid"] > 0)
        finally:
            collector.stop()
        """
    )
    assert out.split() == ["ready", "True", "True"]
