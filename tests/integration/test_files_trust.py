"""The daemon's files and socket, attacked by another user: a real daemon, real attackers.

The attacker is ``nobody`` (uid 65534), in processes of its own: it plants links where root
would write, takes the name of the non-root daemon's runtime directory, or serves a socket of
its own where root's clients look for the daemon. Root must refuse, say how to fix it in one
line, and leave the victim file untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.common.daemon import Daemon
from tests.integration.support import poll_until
from tests.integration.test_daemon import START_TIMEOUT
from tractui.daemon.client import ForeignServer
from tractui.daemon.protocol import PROTOCOL
from tractui.daemon.server import probe

pytestmark = pytest.mark.kernel

NOBODY = 65534
USER = 64123  # a non-root user of our own for the daemon (no account needs to exist)
PRECIOUS = "precious: root's file\n"
LINK = "os.symlink(sys.argv[1], sys.argv[2])"
# what ``tractui daemon`` imports, up to its refusal (or the collector's start)
DAEMON_IMPORTS = (
    "import tempfile, selectors, logging\n"
    "from tractui.cli import main\n"
    "from tractui.commands import daemon, remote"
)
MKDIR = "os.mkdir(sys.argv[1]); os.chmod(sys.argv[1], 0o777)"

# A socket of nobody's where root looks for the daemon: it greets as the daemon does, answers
# every request, and prints what it was sent.
FAKE_SERVER = f"""
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)
server.listen(1)
server.settimeout(20)
print("ready", flush=True)
conn, _ = server.accept()
conn.settimeout(5)
hello = {{"t": "hello", "protocol": {PROTOCOL}, "pid": os.getpid()}}
conn.sendall(json.dumps(hello).encode() + b"\\n")
got = b""
try:
    while data := conn.recv(65536):
        got += data
        for line in data.splitlines():
            result = {{"pid": 4242, "group": "evil", "log": "/dev/null"}}
            reply = {{"t": "reply", "id": json.loads(line)["id"], "ok": True, "result": result}}
            conn.sendall(json.dumps(reply).encode() + b"\\n")
except (TimeoutError, ConnectionError):
    pass
sys.stdout.write(got.decode(errors="replace"))
"""


def as_user(uid: int, code: str, imports: str = "") -> str:
    """``code`` for ``python -c`` that runs as ``uid`` (its group, no others) once ``imports``
    are done: the interpreter may live where that uid can't read (a root-only pyenv)."""
    return (
        f"import json, os, socket, sys\n{imports}\n"
        f"os.setgroups([]); os.setgid({uid}); os.setuid({uid})\n{code}"
    )


def run_as(uid: int, code: str, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", as_user(uid, code), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory of root's that other users may traverse (tmp_path is 0700), and in it
    ``pub``, sticky and writable by all as /tmp is."""
    root = Path(tempfile.mkdtemp(prefix="tractui-trust-"))
    os.chmod(root, 0o711)
    (root / "pub").mkdir()
    os.chmod(root / "pub", 0o1777)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def daemons(request: pytest.FixtureRequest) -> Callable[..., Daemon]:
    """conftest's ``make_daemon``: each daemon stopped, what it launched killed."""
    factory: Callable[..., Daemon] = request.getfixturevalue("make_daemon")
    return factory


@pytest.fixture
def victim(shared: Path) -> Iterator[Path]:
    """Root's file that the attacks aim at; it must come out as it went in."""
    path = shared / "victim"
    path.write_text(PRECIOUS)
    os.chmod(path, 0o644)
    yield path


def untouched(victim: Path) -> bool:
    st = os.stat(victim)
    return victim.read_text() == PRECIOUS and stat.S_IMODE(st.st_mode) == 0o644


def refusal(daemon: Daemon) -> str | None:
    """Start the daemon; its stderr if it exits at once, None if it serves."""
    proc = daemon.start(wait=False)

    def settled() -> bool:
        if proc.poll() is not None:
            return True
        try:
            return daemon.answers()
        except AssertionError:  # it exited meanwhile
            return True

    poll_until(settled, "the daemon to serve or to exit", START_TIMEOUT)
    if proc.poll() is None:
        return None
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 1, err
    return err


# ---- links where root writes -----------------------------------------------------------------


def test_a_link_at_lock_in_a_state_directory_others_can_write_is_refused(
    daemons: Callable[..., Daemon], shared: Path, victim: Path
) -> None:
    daemon = daemons(start=False, root=shared)
    daemon.state.mkdir()
    os.chmod(daemon.state, 0o777)
    run_as(NOBODY, LINK, str(victim), str(daemon.state / "lock"))
    err = refusal(daemon)
    assert untouched(victim)  # before: root truncated it, then wrote its PID in it
    state = daemon.state
    assert err == (
        f"tractui daemon: state directory {state} is writable by others (mode 0777): "
        f"chmod go-w {state}, or choose another with TRACTUI_STATE_DIR\n"
    )


def test_a_state_directory_of_another_user_is_refused(
    daemons: Callable[..., Daemon], shared: Path, victim: Path
) -> None:
    # in a sticky directory anyone can write (as /tmp), nobody made the state directory first
    daemon = daemons(start=False, root=shared)
    state = shared / "pub" / "state"
    daemon.state = state
    daemon.env["TRACTUI_STATE_DIR"] = str(state)
    run_as(NOBODY, MKDIR, str(state))
    run_as(NOBODY, LINK, str(victim), str(state / "lock"))
    err = refusal(daemon)
    assert untouched(victim)
    assert err == (
        f"tractui daemon: state directory {state} belongs to uid {NOBODY}, not to uid 0 that "
        "runs tractui: choose another with TRACTUI_STATE_DIR\n"
    )


def test_a_log_directory_others_can_write_is_refused_at_start(
    daemons: Callable[..., Daemon], shared: Path, victim: Path
) -> None:
    daemon = daemons(start=False, root=shared)
    logs = daemon.state / "logs"
    logs.mkdir(parents=True)
    os.chmod(logs, 0o777)
    run_as(NOBODY, LINK, str(victim), str(logs / "web.log"))
    err = refusal(daemon)
    assert untouched(victim)
    assert err == (
        f"tractui daemon: log directory {logs} is writable by others (mode 0777): "
        f"chmod go-w {logs}, or choose another with TRACTUI_STATE_DIR\n"
    )


def test_a_launch_never_writes_through_a_link_in_a_log_directory_others_can_write(
    daemons: Callable[..., Daemon], shared: Path, victim: Path
) -> None:
    daemon = daemons(root=shared)
    daemon.cli("add", "first", "--", "true")
    logs = daemon.state / "logs"
    assert stat.S_IMODE(os.stat(logs).st_mode) == 0o700
    os.chmod(daemon.state, 0o711)  # opened up while the daemon runs
    os.chmod(logs, 0o777)
    run_as(NOBODY, LINK, str(victim), str(logs / "web.log"))
    done = daemon.cli("add", "web", "--", "true", check=False)
    assert untouched(victim)  # before: root made it 0600 and appended the program's output
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"tractui add: log directory {logs} is writable by others (mode 0777): "
        f"chmod go-w {logs}, or choose another with TRACTUI_STATE_DIR\n"
    )
    groups = json.loads(daemon.cli("groups", "--json").stdout)
    assert [g["name"] for g in groups] == ["first"]  # the failed add left no group behind


def test_a_link_planted_in_a_private_log_directory_is_not_followed(
    daemons: Callable[..., Daemon], shared: Path, victim: Path
) -> None:
    daemon = daemons(root=shared)
    daemon.cli("add", "first", "--", "true")
    link = daemon.state / "logs" / "web.log"
    link.symlink_to(victim)  # only root could have put it there: still, never through it
    done = daemon.cli("add", "web", "--", "true", check=False)
    assert untouched(victim)
    assert done.stderr == (
        f"tractui add: {link} is a symbolic link: tractui does not follow one there; remove it\n"
    )
    link.unlink()
    daemon.cli("add", "web", "--", "true")  # what it says to do works
    assert stat.S_IMODE(os.lstat(link).st_mode) == 0o600


def test_a_detached_daemon_never_logs_through_a_link_in_a_state_directory_others_can_write(
    daemons: Callable[..., Daemon], shared: Path, victim: Path
) -> None:
    daemon = daemons("--detach", start=False, root=shared)
    daemon.state.mkdir()
    os.chmod(daemon.state, 0o777)
    run_as(NOBODY, LINK, str(victim), str(daemon.state / "daemon.log"))
    pidfile = daemon.socket.parent / "tractui.pid"
    proc = daemon.start(wait=False)
    try:
        _, err = proc.communicate(timeout=START_TIMEOUT)
    finally:
        if pidfile.exists():  # it went on serving: stop it
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
    assert untouched(victim)  # before: root appended its log to it
    assert proc.returncode == 1
    assert err.startswith(f"tractui daemon: state directory {daemon.state} is writable by others")


def test_a_pidfile_replaces_links_planted_beside_it(
    daemons: Callable[..., Daemon], shared: Path, victim: Path
) -> None:
    pidfile = shared / "pub" / "tractui.pid"  # --pidfile /tmp/tractui.pid, say
    for name in ("tractui.pid", "tractui.pid.tmp"):
        run_as(NOBODY, LINK, str(victim), str(pidfile.with_name(name)))
    daemon = daemons("--pidfile", str(pidfile), root=shared)
    assert daemon.proc is not None
    assert untouched(victim)  # before: root wrote its PID into it
    st = os.lstat(pidfile)
    assert (stat.S_ISREG(st.st_mode), st.st_uid) == (True, 0)
    assert pidfile.read_text() == f"{daemon.proc.pid}\n"


# ---- a socket of another user's ----------------------------------------------------------------


@pytest.fixture
def fake_daemon(
    shared: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> tuple[Path, subprocess.Popen[bytes]]:
    """nobody's server on a socket in a directory anyone can write, where root's daemon was."""
    run = shared / "run"
    run.mkdir()
    os.chmod(run, 0o777)
    path = run / "tractui.sock"
    server = spawn(
        [sys.executable, "-c", as_user(NOBODY, FAKE_SERVER), str(path)], stdout=subprocess.PIPE
    )
    assert server.stdout is not None and server.stdout.readline() == b"ready\n"
    return path, server


def received(server: subprocess.Popen[bytes]) -> str:
    out, _ = server.communicate(timeout=30)
    return out.decode()


@pytest.mark.parametrize(
    ("argv", "prefix", "suffix"),
    [
        (["add", "db", "--", "sh", "-c", "serve", "--password=hunter2"], "tractui add: ", ""),
        ([], "tractui: ", " (or run 'tractui --embedded')"),  # the UI, through its daemon link
    ],
    ids=["cli", "ui"],
)
def test_a_client_refuses_a_socket_served_by_another_user_before_sending(
    fake_daemon: tuple[Path, subprocess.Popen[bytes]], argv: list[str], prefix: str, suffix: str
) -> None:
    path, server = fake_daemon
    env = {**os.environ, "TRACTUI_SOCKET": str(path)}
    done = subprocess.run(
        [sys.executable, "-m", "tractui", *argv],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert received(server) == ""  # before: the add request, password and all
    assert (done.returncode, done.stdout) == (1, "")  # before: "started 4242 in group 'evil'"
    assert done.stderr == (
        f"{prefix}refusing {path}: it is served by uid {NOBODY}, not by root, so nothing was "
        f"sent; set TRACTUI_SOCKET to the daemon's socket{suffix}\n"
    )


def test_a_starting_daemon_does_not_take_another_users_server_for_a_daemon(
    fake_daemon: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    path, server = fake_daemon
    with pytest.raises(ForeignServer, match=f"served by uid {NOBODY}"):
        probe(path)
    assert received(server) == ""


# a client of nobody's: what it makes of the server on argv[1], one line on stdout
CLIENT = """
try:
    with Connection(Path(sys.argv[1]), timeout=10) as conn:
        print("hello", conn.request("groups"))
except UserError as err:
    print(err)
"""
CLIENT_IMPORTS = "from pathlib import Path\nfrom tractui.daemon.client import Connection, UserError"


def test_a_client_trusts_root_and_its_own_user(
    daemons: Callable[..., Daemon],
    shared: Path,
    fake_daemon: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    code = as_user(NOBODY, CLIENT, imports=CLIENT_IMPORTS)
    path, server = fake_daemon  # nobody's own: the request goes through, the reply comes back
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=30
    )
    assert out.stdout.startswith("hello {'pid': 4242"), out.stderr
    assert '"op":"groups"' in received(server)
    real = shared / "real"
    real.mkdir(mode=0o711)
    daemon = daemons(root=real)  # root's: trusted, and it is the daemon that says no
    os.chmod(daemon.socket.parent, 0o711)
    os.chmod(daemon.socket, 0o666)
    out = subprocess.run(
        [sys.executable, "-c", code, str(daemon.socket)], capture_output=True, text=True, timeout=30
    )
    assert out.stdout.startswith("permission denied: this daemon serves root (uid 0) only"), (
        out.stderr
    )


# ---- the non-root daemon's runtime directory, /tmp/tractui-UID ---------------------------------


@pytest.fixture
def fallback(shared: Path) -> Iterator[Path]:
    """/tmp/tractui-USER: nothing there before, and nothing left after."""
    path = Path(f"/tmp/tractui-{USER}")

    def clear() -> None:
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)

    clear()
    yield path
    clear()


def start_as_user(
    shared: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes]:
    """``tractui daemon`` as USER, with no TRACTUI_SOCKET or XDG_RUNTIME_DIR: the fallback."""
    state = shared / f"state-{USER}"
    state.mkdir(mode=0o700)
    os.chown(state, USER, USER)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACTUI_", "XDG_", "SUDO_"))}
    env.update(TRACTUI_STATE_DIR=str(state), HOME=str(state))
    code = as_user(USER, "sys.exit(main(['daemon']))", imports=DAEMON_IMPORTS)
    return spawn(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


@pytest.mark.parametrize("planted", ["directory", "link"])
def test_a_runtime_directory_another_user_made_first_is_refused(
    shared: Path,
    fallback: Path,
    spawn: Callable[..., subprocess.Popen[bytes]],
    planted: str,
) -> None:
    if planted == "directory":
        run_as(NOBODY, MKDIR, str(fallback))
        how = "belongs to uid 65534, not to uid 64123 that runs tractui"
    else:
        trap = shared / "pub" / "trap"
        run_as(NOBODY, MKDIR, str(trap))
        run_as(NOBODY, LINK, str(trap), str(fallback))
        how = "is a symbolic link of uid 65534"
    daemon = start_as_user(shared, spawn)
    try:
        _, err = daemon.communicate(timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the daemon serves in {fallback}, which nobody made") from None
    assert daemon.returncode == 1
    assert err.decode() == (
        f"tractui daemon: socket directory {fallback} {how}: set XDG_RUNTIME_DIR, or choose "
        "another socket with TRACTUI_SOCKET\n"
    )


def test_a_runtime_directory_of_its_own_is_made_0700(
    shared: Path, fallback: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    daemon = start_as_user(shared, spawn)
    socket = fallback / "tractui.sock"
    poll_until(lambda: socket.exists() or daemon.poll() is not None, "the socket", START_TIMEOUT)
    st = os.lstat(fallback)
    assert (st.st_uid, stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode)) == (
        USER,
        stat.S_IFDIR,
        0o700,
    )
    daemon.terminate()
    daemon.wait(timeout=10)
