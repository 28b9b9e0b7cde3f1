"""What a launched program inherits (the environment rules, the client's umask), and reading a
launch log in bounded, whole-character chunks. (The request fields are checked by
:class:`tractui.daemon.protocol.Request`: see test_protocol and test_launch_context's daemon
tests.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tractui import control
from tractui.commands.remote import _terminal_safe
from tractui.control import Identity, launch_environment
from tractui.errors import UserError

NOBODY = Identity(65534, 65534, [], "nobody", "/nonexistent", "/usr/sbin/nologin")

CLIENT = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/root",
    "USER": "root",
    "TERM": "xterm",
    "LANG": "en_GB.UTF-8",
    "LC_TIME": "C",
    "LC_ALL": "../../../tmp/x",  # names a file: dropped across users
    "TZ": "Europe/Paris",
    "LD_PRELOAD": "/tmp/evil.so",
    "LD_LIBRARY_PATH": "/tmp",
    "BASH_ENV": "/tmp/evil.sh",
    "PYTHONPATH": "/tmp",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "TRACTUI_SOCKET": "/run/tractui/tractui.sock",
    "SUDO_UID": "65534",
    "DISPLAY": ":0",
}


def test_across_users_only_the_documented_variables_pass_with_the_users_identity() -> None:
    env = launch_environment(CLIENT, NOBODY, same_user=False)
    assert env == {
        "PATH": "/usr/bin:/bin",
        "TERM": "xterm",
        "LANG": "en_GB.UTF-8",
        "LC_TIME": "C",
        "TZ": "Europe/Paris",
        "DISPLAY": ":0",
        "HOME": "/nonexistent",
        "USER": "nobody",
        "LOGNAME": "nobody",
        "SHELL": "/usr/sbin/nologin",
        "MAIL": "/var/mail/nobody",
    }


def test_for_the_clients_own_user_its_environment_passes_but_tractuis_and_sudos() -> None:
    env = launch_environment(CLIENT, NOBODY, same_user=True)
    expected = {k: v for k, v in CLIENT.items() if k not in ("TRACTUI_SOCKET", "SUDO_UID")}
    expected |= {"LOGNAME": "nobody", "SHELL": "/usr/sbin/nologin", "MAIL": "/var/mail/nobody"}
    assert env == expected  # HOME and USER: the client's own, as it set them


@pytest.mark.parametrize("same_user", [False, True])
def test_an_empty_client_environment_gets_a_safe_path(same_user: bool) -> None:
    env = launch_environment({}, NOBODY, same_user)
    assert env["PATH"] == control.SAFE_PATH and env["HOME"] == "/nonexistent"


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("Europe/Paris", True),
        (":Europe/Paris", True),
        ("/usr/share/zoneinfo/UTC", True),
        ("/etc/shadow", False),
        ("/usr/share/zoneinfo/../../../etc/shadow", False),
        ("Europe/../../x", False),
    ],
)
def test_tz_passes_across_users_only_as_a_zone(value: str, kept: bool) -> None:
    env = launch_environment({"TZ": value}, NOBODY, same_user=False)
    assert ("TZ" in env) is kept


def test_the_umask_is_read_without_changing_it() -> None:
    code = "import os; os.umask(0o027); from tractui import control; print(control.current_umask())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(done.stdout) == 0o027


# ---- reading a log -------------------------------------------------------------------------


def test_a_log_tail_begins_at_a_whole_line_and_lines_counts_back(tmp_path: Path) -> None:
    log = tmp_path / "g.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(1000)))
    size = log.stat().st_size
    whole = control.read_log(log)
    assert (whole.start, whole.offset, whole.size) == (0, size, size)
    tail = control.read_log(log, limit=100)
    assert tail.text.startswith("line ") and tail.text.endswith("line 999\n")
    assert tail.offset == size and size - tail.start < 100
    assert control.read_log(log, lines=2).text == "line 998\nline 999\n"
    assert control.read_log(log, lines=0).text == ""
    assert control.read_log(log, lines=5000).text == log.read_text()


def test_a_log_read_never_splits_a_character_and_follows_from_its_offset(tmp_path: Path) -> None:
    log = tmp_path / "g.log"
    log.write_bytes("é\n".encode() + "€".encode()[:2])  # the writer is mid-character
    first = control.read_log(log, offset=0)
    assert first.text == "é\n" and first.offset == 3
    with log.open("ab") as f:
        f.write("€".encode()[2:] + b"\xff\n")
    second = control.read_log(log, offset=first.offset)
    assert second.text == "€\ufffd\n" and second.offset == log.stat().st_size
    # removed and launched into again: shorter than where we were, so read from its start
    log.write_bytes(b"new\n")
    assert control.read_log(log, offset=second.offset) == control.LogChunk("new\n", 0, 4, 4)


def test_a_log_that_is_a_symlink_or_missing_is_not_read(tmp_path: Path) -> None:
    assert not control.read_log(tmp_path / "none.log").exists
    (tmp_path / "link.log").symlink_to("/etc/hostname")
    with pytest.raises(UserError, match="is a symbolic link"):
        control.read_log(tmp_path / "link.log")
    os.mkfifo(tmp_path / "fifo.log")
    with pytest.raises(UserError, match="not a regular file"):
        control.read_log(tmp_path / "fifo.log")


def test_log_text_reaches_a_terminal_with_control_characters_escaped() -> None:
    text = "ok\tcol\n\x1b[41mEVIL\x1b[0m \x1b]2;pwned\x07 cr\rXX \x7f \x9b é\n"
    assert _terminal_safe(text) == (
        "ok\tcol\n\\e[41mEVIL\\e[0m \\e]2;pwned\\a cr\\rXX \\x7f \\x9b é\n"
    )
