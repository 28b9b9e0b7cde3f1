"""What a launched program inherits: the environment rules, the client's fields, its umask."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tractui import control
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


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"": "x"}, "invalid variable name"),
        ({"A=B": "x"}, "invalid variable name"),
        ({"A\0": "x"}, "invalid variable name"),
        ({"A": "x\0"}, "holds a NUL"),
        ({"A": "\ud800"}, "cannot be encoded"),
        ({"A": None}, "must be a string"),
        ("A=B", "must be an object"),
    ],
)
def test_a_bad_env_field_names_the_field(value: object, error: str) -> None:
    with pytest.raises(UserError, match=error) as caught:
        control.checked_env(value)
    assert str(caught.value).startswith("'env'")


def test_a_surrogate_escaped_env_value_is_accepted_as_the_bytes_it_stands_for() -> None:
    raw = os.fsdecode(b"caf\xe9")  # Latin-1 bytes in os.environ
    assert control.checked_env({"A": raw}) == {"A": raw}


def test_umask_and_cwd_fields_are_checked() -> None:
    assert control.checked_umask(0o077) == 0o077
    for bad in (-1, 0o1000, 1.0, "077", True, None):
        with pytest.raises(UserError, match="'umask'"):
            control.checked_umask(bad)
    assert control.checked_cwd("/tmp") == "/tmp"
    for bad in ("tmp", "", 3, "/a\0b"):
        with pytest.raises(UserError, match="'cwd'"):
            control.checked_cwd(bad)


def test_the_umask_is_read_without_changing_it() -> None:
    code = "import os; os.umask(0o027); from tractui import control; print(control.current_umask())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(done.stdout) == 0o027
