"""A process's open files, environment and PSS: sample texts, and this test's own process."""

from __future__ import annotations

import errno
import os

from tractui.kernel.peek import parse_environ, parse_rollup, peek, read_fds, reason

ROLLUP = """\
55d0a5a4c000-7ffd5f1e2000 ---p 00000000 00:00 0                          [rollup]
Rss:                5236 kB
Pss:                1171 kB
Pss_Anon:            620 kB
Shared_Clean:       4396 kB
SwapPss:               0 kB
Locked:                0 kB
"""


def test_rollup_fields() -> None:
    fields = parse_rollup(ROLLUP)
    assert fields["Rss"] == 5236
    assert fields["Pss"] == 1171
    assert fields["SwapPss"] == 0
    assert "rollup" not in " ".join(fields)


def test_environ_sorted_and_undecodable_bytes_kept() -> None:
    raw = b"PATH=/bin\0A=\xff\x1b[2J\0LANG=C\0\0"
    assert parse_environ(raw) == ("A=\\xff\x1b[2J", "LANG=C", "PATH=/bin")
    assert parse_environ(b"") == ()


def test_reasons_a_user_acts_on() -> None:
    assert "permission denied" in reason(PermissionError(errno.EACCES, "Permission denied"))
    assert reason(FileNotFoundError(errno.ENOENT, "No such file")) == "the process has exited"


def test_our_own_process() -> None:
    r, w = os.pipe()
    try:
        files, more = read_fds(os.getpid())
        found = {f.fd: f for f in files}
        assert more == 0
        assert found[r].kind == "pipe" and found[r].target.startswith("pipe:[")
        p = peek(os.getpid())
        assert p.fds_error == "" and p.environ_error == ""
        assert list(p.environ) == sorted(p.environ)
        assert any(e.startswith("PATH=") for e in p.environ)
        assert p.pss_kb is not None and p.rss_rollup_kb is not None
        assert 0 < p.pss_kb <= p.rss_rollup_kb
    finally:
        os.close(r)
        os.close(w)


def test_a_pid_that_does_not_exist() -> None:
    p = peek(2**22 + 1)  # above any pid_max
    assert p.fds_error == p.environ_error == p.pss_error == "the process has exited"
    assert p.fds == () and p.environ == () and p.pss_kb is None


def test_a_kernel_thread_has_no_pss() -> None:
    p = peek(2)  # kthreadd
    assert p.pss_kb is None and p.pss_error
