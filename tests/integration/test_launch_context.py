"""A launched program gets its client's context, never the daemon's: a real daemon launches real
programs for ``nobody``, and /proc shows what each one got (environment, umask, directory); the
user reads their program's output through the daemon (``tractui log``, the UI's ``l``).
"""

from __future__ import annotations

import json
import os
import pwd
import select
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.common.daemon import Daemon
from tests.integration.support import poll_until
from tests.ui.conftest import wait_for
from tractui import control
from tractui.daemon.client import DaemonError

pytestmark = pytest.mark.kernel

MakeDaemon = Callable[..., Daemon]


@pytest.fixture
def nobody() -> pwd.struct_passwd:
    if os.geteuid() != 0:
        pytest.skip("launching for another user needs root")
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user named nobody here")


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every user may enter (pytest's own are root's, 0700)."""
    with tempfile.TemporaryDirectory(prefix="tractui-ctx-") as root:
        os.chmod(root, 0o755)
        yield Path(root)


def run_cli(
    daemon: Daemon, *args: str, env: dict[str, str] | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """``tractui ARGS`` as a client with its own environment (the daemon's, unless ``env``),
    its status left to the test."""
    return daemon.cli(*args, check=False, env=env, **kwargs)


def launched(done: subprocess.CompletedProcess[str], argv: str) -> int:
    """The PID ``tractui add`` started, once it runs ``argv`` (after its exec)."""
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.split()[1])
    execed(pid, argv)
    return pid


def execed(pid: int, argv: str) -> None:
    """Wait until ``pid`` runs ``argv``: before its exec, /proc shows the daemon's fork."""

    def running_it() -> bool:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[:-1] == [a.encode() for a in shlex.split(argv)]

    poll_until(running_it, f"{pid} to run {argv}")


def environ_of(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        entries = f.read().split(b"\0")[:-1]
    return dict(e.decode().partition("=")[::2] for e in entries)


def umask_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))


def client_env(daemon: Daemon, **extra: str) -> dict[str, str]:
    """A client's environment: the test's, without the daemon's secret, with ``extra``."""
    env = {k: v for k, v in daemon.env.items() if k != "DAEMON_SECRET"}
    env.update(extra)
    return env


# ---- environment, umask, working directory ---------------------------------------------------


def test_a_program_for_nobody_gets_the_clients_cleaned_context_not_the_daemons(
    make_daemon: MakeDaemon, nobody: pwd.struct_passwd, shared_dir: Path
) -> None:
    daemon = make_daemon(start=False)
    daemon.env["DAEMON_SECRET"] = "the-daemons-own"
    daemon.start()
    env = client_env(
        daemon,
        SUDO_UID=str(nobody.pw_uid),
        SUDO_GID=str(nobody.pw_gid),
        TRACTUI_X="tractuis-own",
        LD_PRELOAD="/nonexistent.so",
        PYTHONPATH="/tmp/evil",
        CLIENT_SECRET="roots-own",
        PATH="/usr/bin:/bin:/opt/client-bin",
        LANG="C.UTF-8",
        LC_MESSAGES="/etc/passwd",  # a value that names a file: sudo's env_check drops it
        TERM="xterm-256color",
        TZ="Europe/Paris",
    )
    done = run_cli(daemon, "add", "ctx", "--", "sleep", "30", env=env, cwd=shared_dir, umask=0o077)
    pid = launched(done, "sleep 30")
    got = environ_of(pid)
    assert "DAEMON_SECRET" not in got and "CLIENT_SECRET" not in got, got
    assert not [k for k in got if k.startswith(("TRACTUI_", "SUDO_", "LD_", "PYTHON"))], got
    assert "LC_MESSAGES" not in got
    assert {k: got.get(k) for k in ("HOME", "USER", "LOGNAME", "SHELL")} == {
        "HOME": nobody.pw_dir,
        "USER": "nobody",
        "LOGNAME": "nobody",
        "SHELL": nobody.pw_shell,
    }
    assert got["PATH"] == "/usr/bin:/bin:/opt/client-bin", "the client's PATH, as documented"
    assert (got["LANG"], got["TERM"], got["TZ"]) == ("C.UTF-8", "xterm-256color", "Europe/Paris")
    assert set(got) <= {*control.KEPT_ACROSS_USERS, "HOME", "USER", "LOGNAME", "SHELL", "MAIL"} | {
        "PWD"
    }, got
    assert umask_of(pid) == 0o077, "the client's umask, not the daemon's 0022"
    assert os.readlink(f"/proc/{pid}/cwd") == str(shared_dir) == got["PWD"]


def test_without_a_user_switch_the_program_gets_the_clients_environment_but_tractuis(
    make_daemon: MakeDaemon, shared_dir: Path
) -> None:
    daemon = make_daemon(start=False)
    daemon.env["DAEMON_SECRET"] = "the-daemons-own"
    daemon.start()
    env = client_env(daemon, TRACTUI_X="tractuis-own", CLIENT_VAR="the-clients", SUDO_USER="x")
    done = run_cli(daemon, "add", "self", "--", "sleep", "30", env=env, cwd=shared_dir, umask=0o027)
    pid = launched(done, "sleep 30")
    got = environ_of(pid)
    assert got["CLIENT_VAR"] == "the-clients" and got["PATH"] == env["PATH"]
    assert "DAEMON_SECRET" not in got and not [k for k in got if k.startswith("TRACTUI_")]
    assert "SUDO_USER" not in got
    assert umask_of(pid) == 0o027


def test_an_old_client_that_sends_no_context_gets_a_minimal_one(
    make_daemon: MakeDaemon,
) -> None:
    daemon = make_daemon(start=False)
    daemon.env["DAEMON_SECRET"] = "the-daemons-own"
    daemon.start()
    with daemon.connect() as conn:
        result = conn.request("add", group="old", argv=["sleep", "30"])
    daemon.roots.add(result["pid"])
    execed(result["pid"], "sleep 30")
    got = environ_of(result["pid"])
    me = pwd.getpwuid(os.geteuid())
    assert got == {
        "PATH": control.SAFE_PATH,
        "HOME": me.pw_dir,
        "USER": me.pw_name,
        "LOGNAME": me.pw_name,
        "SHELL": me.pw_shell,
        "MAIL": f"/var/mail/{me.pw_name}",
        "PWD": "/",
    }
    assert umask_of(result["pid"]) == 0o022
    assert os.readlink(f"/proc/{result['pid']}/cwd") == "/"


def test_a_directory_nobody_cannot_enter_is_refused_and_leaves_nothing_behind(
    make_daemon: MakeDaemon, nobody: pwd.struct_passwd, shared_dir: Path
) -> None:
    daemon = make_daemon()
    private = shared_dir / "roots-only"
    private.mkdir(mode=0o700)
    (private / "inside").mkdir()
    env = client_env(daemon, SUDO_UID=str(nobody.pw_uid), SUDO_GID=str(nobody.pw_gid))
    for where in (private, private / "inside"):
        done = run_cli(daemon, "add", "priv", "--", "sleep", "30", env=env, cwd=where)
        assert done.returncode == 1, f"started in {where}: {done.stdout}"
        assert len(done.stderr.splitlines()) == 1, done.stderr
        assert "user nobody" in done.stderr and str(where) in done.stderr, done.stderr
    # a symlink the user controls leads nowhere else: the directory is entered as the user
    link = shared_dir / "link"
    link.symlink_to(private)
    done = run_cli(daemon, "add", "priv", "--", "sleep", "30", env=env, cwd=link)
    assert done.returncode == 1 and "permission denied for user nobody" in done.stderr
    assert json.loads(run_cli(daemon, "groups", "--json").stdout) == []
    assert not (daemon.state / "logs" / "priv.log").exists()
    state = daemon.state / "groups.json"
    assert not state.exists() or "priv" not in state.read_text()


BAD_FIELDS: list[tuple[dict[str, Any], str]] = [
    ({"env": {"A=B": "x"}}, "'env' has a bad variable name 'A=B'"),
    ({"env": {"A": "x\0y"}}, "'env['A']' contains a NUL"),
    ({"env": {"A": 1}}, "'env' must be an object of strings"),
    ({"env": ["A=B"]}, "'env' must be an object of strings"),
    ({"umask": "077"}, "'umask' must be an integer from 0 to 511"),
    ({"umask": True}, "'umask' must be an integer from 0 to 511"),
    ({"umask": 0o1000}, "'umask' must be an integer from 0 to 511"),
    ({"cwd": "relative/dir"}, "'cwd' must be an absolute path"),
    ({"cwd": "/tmp\0x"}, "'cwd' contains a NUL"),
]


def test_bad_context_fields_are_one_line_errors_naming_the_field(daemon: Daemon) -> None:
    with daemon.connect() as conn:
        for fields, error in BAD_FIELDS:
            with pytest.raises(DaemonError) as caught:
                conn.request("add", group="bad", argv=["sleep", "30"], **fields)
            assert error in str(caught.value) and "\n" not in str(caught.value), fields
        assert conn.request("groups") == [], "a refused launch left its group behind"


# ---- reading the output ----------------------------------------------------------------------


def test_log_prints_a_groups_output_escaped_and_follows_it(daemon: Daemon, tmp_path: Path) -> None:
    go = tmp_path / "go"
    os.mkfifo(go)
    script = f"echo first; printf 'x\\033]2;pwned\\007y\\n'; read -r _ < {go}; echo later; sleep 30"
    daemon.cli("add", "out", "--", "sh", "-c", script)
    log = daemon.state / "logs" / "out.log"
    poll_until(lambda: log.exists() and b"pwned" in log.read_bytes(), "the program's output")
    done = run_cli(daemon, "log", "out")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "tractui launched: sh -c" in lines[0] and lines[1:] == ["first", "x\\e]2;pwned\\ay"]
    assert run_cli(daemon, "log", "out", "--lines", "1").stdout == "x\\e]2;pwned\\ay\n"
    follower = subprocess.Popen(
        [sys.executable, "-m", "tractui", "log", "out", "-f", "--lines", "1"],
        env=daemon.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert line_from(follower) == "x\\e]2;pwned\\ay\n"
        go.write_text("\n")  # the program goes on: its next line comes to the follower
        assert line_from(follower) == "later\n"
    finally:
        follower.terminate()
        out, err = follower.communicate(timeout=10)
    assert follower.returncode == 0 and out == "" and err == ""
    missing = run_cli(daemon, "log", "nosuch")
    assert missing.returncode == 1 and "no group named 'nosuch'" in missing.stderr


def line_from(popen: subprocess.Popen[str], timeout: float = 10.0) -> str:
    """The next line ``popen`` prints, or a failure after ``timeout`` (never a hung test)."""
    assert popen.stdout is not None
    if not select.select([popen.stdout], [], [], timeout)[0]:
        raise AssertionError(f"no line from {popen.args} within {timeout} s")
    return popen.stdout.readline()


def test_log_of_a_group_with_no_launch_says_so(daemon: Daemon, spawn: Any) -> None:
    sleeper = spawn(["sleep", "30"])
    daemon.cli("attach", "att", "--create", str(sleeper.pid))
    done = run_cli(daemon, "log", "att")
    assert done.returncode == 0 and done.stdout == ""
    assert "has no output yet" in done.stderr


@pytest.fixture
def hidden_daemon(make_daemon: MakeDaemon) -> Daemon:
    """A daemon whose state directory is a tmpfs of its own mount namespace: its log files
    exist for it alone, as for a daemon in another container than the UI."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a mount namespace of its own needs root and unshare(1)")
    daemon = make_daemon(start=False)
    daemon.state.mkdir(parents=True)
    daemon.wrapper = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount -t tmpfs -o mode=0700 tractui-test "$0" && exec "$@"',
        str(daemon.state),
    ]
    daemon.start()
    return daemon


async def test_the_uis_log_view_reads_a_daemons_log_through_the_daemon(
    hidden_daemon: Daemon,
) -> None:
    from textual.widgets import Log

    from tractui.app import TractApp
    from tractui.daemon.link import DaemonEngine
    from tractui.screens.logview import LaunchLogScreen
    from tractui.session import Session

    daemon = hidden_daemon
    daemon.cli("add", "web", "--", "sh", "-c", "echo served-by-the-daemon; sleep 30")
    log = daemon.state / "logs" / "web.log"
    assert not log.exists(), "the test sees the daemon's files: it proves nothing"
    session = Session(DaemonEngine(daemon.socket))
    session.engine.start()
    app = TractApp(session, host="test", kernel="test", save_settings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.groups, timeout=10)
        await pilot.press("home", "l")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchLogScreen))
        view = app.screen.query_one("#log", Log)
        await wait_for(pilot, lambda: "served-by-the-daemon" in "\n".join(view.lines))
        await pilot.press("escape")
