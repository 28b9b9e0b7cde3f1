"""The daemon for real: a ``tractui daemon`` process on a temporary socket and state directory,
driven by the CLI and by raw socket clients, tracking real processes through the kernel.

Every test's daemon (the ``make_daemon`` fixture of conftest.py, over bench.common.daemon, the
harness the daemon benchmark uses too) is stopped at teardown, after SIGKILLing every live member
it tracks (through the daemon itself, then by process group, so nothing a test launched survives
it).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.common.daemon import Daemon
from tests.integration.support import UNREAPED, poll_until, running
from tractui.daemon.client import Connection
from tractui.daemon.protocol import MAX_MESSAGE
from tractui.kernel import procfs
from tractui.kernel.taskstats import AccountingUnavailable, TaskstatsSocket

pytestmark = pytest.mark.kernel

START_TIMEOUT = 15.0


def members(daemon: Daemon, group: str) -> list[tuple[int, str]]:
    """(pid, command) of the group's live members, from ``tractui list``."""
    out = daemon.cli("list", group).stdout
    return [
        (int(pid), command)
        for pid, _, command in (line.partition(": ") for line in out.splitlines())
    ]


def sleeps(daemon: Daemon, group: str) -> list[int]:
    return [pid for pid, command in members(daemon, group) if command == "sleep 100"]


def start_of(pid: int) -> int:
    start = procfs.read_start(pid)
    assert start is not None, f"{pid} is gone"
    return start


# ---- the done-when scenario ------------------------------------------------------------------


def test_add_list_kill9_restart_list_signal(make_daemon: Callable[..., Daemon]) -> None:
    daemon = make_daemon()
    out = daemon.cli("add", "web", "--", "sh", "-c", "(sleep 100 &); sleep 100").stdout
    assert out.startswith("started ") and "group 'web'" in out
    poll_until(lambda: len(sleeps(daemon, "web")) == 2, "both sleeps listed")
    before = sleeps(daemon, "web")
    starts = {pid: start_of(pid) for pid in before}
    time.sleep(1.5)  # the daemon saves every change within a second (and a command at once)

    daemon.kill9()
    assert daemon.socket.exists()  # stale: nobody removed it
    daemon.start()  # removes the stale socket, restores the groups from the state file
    after = sleeps(daemon, "web")
    assert sorted(after) == sorted(before)
    assert all(start_of(pid) == starts[pid] for pid in after)

    tree = daemon.cli("list", "web", "--format", "tree").stdout
    assert "[reparented to 1]" in tree  # the double-forked sleep, still under its forker

    out = daemon.cli("signal", "web").stdout
    assert all(f"{pid}: SIGTERM sent" in out for pid in before)
    poll_until(lambda: not any(running(pid) for pid in before), "both sleeps to end")
    assert sleeps(daemon, "web") == []


def test_list_formats_and_groups(daemon: Daemon) -> None:
    assert daemon.socket.parent.stat().st_mode & 0o777 == 0o700  # created by the daemon
    assert daemon.socket.stat().st_mode & 0o777 == 0o600
    daemon.cli("add", "web", "--", "sh", "-c", "sleep 100 & exec sleep 100")
    poll_until(lambda: len(sleeps(daemon, "web")) == 2, "both sleeps listed")
    pids = daemon.cli("list", "web", "--format", "pids").stdout.split()
    assert sorted(map(int, pids)) == sorted(sleeps(daemon, "web"))
    doc = json.loads(daemon.cli("list", "web", "--format", "json").stdout)
    assert doc["group"]["name"] == "web" and doc["group"]["launched"] is True
    assert {m["pid"] for m in doc["members"] if m["alive"]} == set(map(int, pids))
    groups = json.loads(daemon.cli("groups", "--json").stdout)
    assert [(g["name"], g["live"]) for g in groups] == [("web", 2)]
    table = daemon.cli("groups").stdout.splitlines()
    assert table[0].split()[:3] == ["GROUP", "LIVE", "TRACKED"] and table[1].split()[:2] == [
        "web",
        "2",
    ]
    # commands are listed quoted, as a shell takes them back
    script = "sleep 100; echo 'it is done'"
    daemon.cli("add", "quoted", "--", "sh", "-c", script)
    lines: list[str] = []

    def listed() -> bool:
        lines[:] = daemon.cli("list", "quoted").stdout.splitlines()
        return any("sleep" in line for line in lines)

    poll_until(listed, "the shell and its sleep listed")
    shell = next(line for line in lines if line.split(": ", 1)[1].startswith("sh "))
    assert shlex.split(shell.split(": ", 1)[1]) == ["sh", "-c", script]
    assert (
        daemon.cli("list", "quoted", "--format", "tree").stdout.count(
            shlex.join(["sh", "-c", script])
        )
        == 1
    )


def test_attach_rename_subtree_signal_and_remove(daemon: Daemon, spawn: Callable[..., Any]) -> None:
    outer = spawn(["sh", "-c", "sleep 100 & sleep 100 & wait"])
    poll_until(lambda: len(_children(outer.pid)) == 2, "the shell's two sleeps")
    first, second = _children(outer.pid)
    # a PID twice, and a descendant of one given before it: each attached once, no error
    out = daemon.cli("attach", "svc", "--create", str(outer.pid), str(outer.pid), str(first)).stdout
    assert out.startswith(f"attached {outer.pid} to group 'svc'") and "3 live" in out
    daemon.cli("rename", "svc", "api")
    assert "no group named 'svc'" in daemon.cli("list", "svc", check=False).stderr
    out = daemon.cli("signal", "api", "-s", "KILL", "--pid", str(first)).stdout
    assert out == f"{first}: SIGKILL sent\n"
    poll_until(lambda: not running(first), "the first sleep to die")
    assert running(second)
    out = daemon.cli("signal", "api", "-s", "9", "--pid", str(outer.pid), "--subtree").stdout
    assert f"{outer.pid}: SIGKILL sent" in out and f"{second}: SIGKILL sent" in out
    out = daemon.cli("remove", "api").stdout
    assert out.startswith("removed group 'api'")
    assert daemon.cli("groups", "--json").stdout.strip() == "[]"


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return sorted(int(p) for p in f.read().split())
    except OSError:
        return []


# ---- refusals and bad input ------------------------------------------------------------------


def test_cli_without_a_daemon_says_how_to_start_one(tmp_path: Path) -> None:
    env = {**os.environ, "TRACTUI_SOCKET": str(tmp_path / "none.sock")}
    done = subprocess.run(
        [sys.executable, "-m", "tractui", "list", "web"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 3
    assert "no tractui daemon is running" in done.stderr and "tractui daemon" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_cli_errors_are_one_line_and_exit_1(daemon: Daemon) -> None:
    for args, text in (
        (("list", "nope"), "no group named 'nope'"),
        (("add", "bad name", "--", "true"), "bad group name"),
        (("add", "web", "--", "no-such-program-xyz"), "command not found"),
        (("attach", "web", "1"), "PID 1 is init"),
        (("signal", "nope"), "no group named 'nope'"),
        (("rename", "nope", "other"), "no group named 'nope'"),
        (("add", "", "--", "true"), "no group name given: type one"),
        (("rename", "nope", " "), "no group name given: type one"),
        (("signal", "web", "-s", "NOPE"), "no signal named"),
    ):
        done = daemon.cli(*args, check=False)
        assert done.returncode == 1, (args, done.stderr)
        assert text in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert daemon.cli("groups", "--json").stdout.strip() == "[]"  # nothing half-created


def test_second_daemon_is_refused_and_the_first_goes_on(
    daemon: Daemon, make_daemon: Callable[..., Daemon]
) -> None:
    second = make_daemon(start=False, root=daemon.socket.parent.parent)
    proc = second.start(wait=False)
    _, err = proc.communicate(timeout=START_TIMEOUT)
    assert proc.returncode == 1
    assert "already running" in err
    assert daemon.answers()


def test_a_daemon_refused_for_a_locked_state_never_listens(
    daemon: Daemon, make_daemon: Callable[..., Daemon]
) -> None:
    second = make_daemon(start=False)
    second.env["TRACTUI_STATE_DIR"] = str(daemon.state)  # the first one's groups, its socket
    proc = second.start(wait=False)
    _, err = proc.communicate(timeout=START_TIMEOUT)
    assert proc.returncode == 1
    assert f"the groups in {daemon.state} are in use by" in err
    assert "listening" not in err and not second.socket.parent.exists()
    assert daemon.answers()


def test_stale_socket_is_removed_and_socket_removed_on_exit(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon(start=False)
    daemon.socket.parent.mkdir(parents=True)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(daemon.socket))
    stale.close()  # a socket file nobody listens on
    daemon.start()
    assert (daemon.socket.stat().st_mode & 0o777) == 0o600
    daemon.stop()
    assert daemon.proc is not None and daemon.proc.returncode == 0
    assert not daemon.socket.exists()


def _raw(daemon: Daemon) -> tuple[socket.socket, Any]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(daemon.socket))
    reader = sock.makefile("rb")
    hello = json.loads(reader.readline())
    assert hello["t"] == "hello" and hello["protocol"] == 1
    return sock, reader


def test_malformed_unknown_and_oversize_messages_get_error_replies(daemon: Daemon) -> None:
    sock, reader = _raw(daemon)
    with sock, reader:
        sock.sendall(b"{this is not json\n")
        reply = json.loads(reader.readline())
        assert reply["ok"] is False and "malformed JSON" in reply["error"]
        sock.sendall(b'{"id": 2, "op": "explode"}\n')
        reply = json.loads(reader.readline())
        assert reply == {"t": "reply", "id": 2, "ok": False, "error": reply["error"]}
        assert "unknown request 'explode'" in reply["error"]
        sock.sendall(b"[1, 2]\n")
        assert "JSON object" in json.loads(reader.readline())["error"]
        sock.sendall(b'{"id": 3, "op": "list"}\n')
        assert "no group name given" in json.loads(reader.readline())["error"]
        sock.sendall(b'{"id": 3, "op": "list", "group": 7}\n')
        assert "'group' must be a string" in json.loads(reader.readline())["error"]
        big = b'{"id": 4, "op": "groups", "pad": "' + b"x" * (MAX_MESSAGE + 10) + b'"}\n'
        sock.sendall(big)
        reply = json.loads(reader.readline())
        assert reply["ok"] is False and "longer than 1024 KiB" in reply["error"]
        sock.sendall(b'{"id": 5, "op": "groups"}\n')  # the connection goes on
        assert json.loads(reader.readline()) == {"t": "reply", "id": 5, "ok": True, "result": []}
    assert daemon.answers()


def test_fifty_clients_at_once(daemon: Daemon) -> None:
    daemon.cli("add", "web", "--", "sleep", "100")
    results: list[Any] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(50)

    def client() -> None:
        try:
            with daemon.connect() as conn:
                barrier.wait(timeout=20)
                for _ in range(5):
                    results.append(conn.request("list", group="web")["members"][0]["command"])
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=client) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert results == ["sleep 100"] * 250


def test_a_client_that_never_reads_does_not_slow_the_others(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon("--client-buffer", str(256 << 10))
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(str(daemon.socket))
    stuck.sendall(b'{"id": 1, "op": "subscribe"}\n')  # and never read again
    # a bounded fork storm in a tracked group: 4000 short-lived processes, 60 s at most
    daemon.cli(
        "add",
        "storm",
        "--",
        "timeout",
        "60",
        "sh",
        "-c",
        "for i in $(seq 4000); do /bin/true; done",
    )
    worst = 0.0
    with daemon.connect() as conn:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            started = time.monotonic()
            group = conn.request("groups")[0]
            worst = max(worst, time.monotonic() - started)
            if group["live"] == 0 and group["exits"] >= 4000:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the storm did not end within 60 s")
    assert worst < 1.0, f"a request took {worst:.2f} s while a client was stuck"
    # the stuck client was dropped: after what was buffered, its connection is closed
    stuck.settimeout(10)
    with stuck:
        while stuck.recv(1 << 16):
            pass


def test_a_peer_of_another_uid_is_refused(make_daemon: Callable[..., Daemon]) -> None:
    # nobody must get past the file modes to meet SO_PEERCRED: a directory it may traverse
    with tempfile.TemporaryDirectory(prefix="tractui-peer-") as root:
        os.chmod(root, 0o711)
        daemon = make_daemon(root=Path(root))
        os.chmod(daemon.socket.parent, 0o711)
        os.chmod(daemon.socket, 0o666)
        _connect_as_nobody(daemon)
        daemon.stop()


def test_a_daemon_of_another_user_names_whom_it_serves(tmp_path: Path) -> None:
    # a real daemon as nobody cannot start here (the interpreter lives under /root): its words
    from tractui.daemon.server import Daemon as Server
    from tractui.engine import Engine

    server = Server(Engine(), tmp_path / "d.sock")
    try:
        server.uid = 65534
        assert server._refusal() == (
            "this daemon serves nobody (uid 65534) and root only: run the command as that user "
            "or with sudo, or start your own daemon with TRACTUI_SOCKET set to another path"
        )
    finally:
        server.close()


def _connect_as_nobody(daemon: Daemon) -> None:
    code = (
        "import os, socket, sys\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(10)\n"
        f"s.connect({str(daemon.socket)!r})\n"
        "data = b''\n"
        "while True:\n"
        "    chunk = s.recv(4096)\n"
        "    if not chunk: break\n"
        "    data += chunk\n"
        "sys.stdout.write(data.decode())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    message = json.loads(done.stdout)
    assert message == {
        "t": "error",
        "error": "permission denied: this daemon serves root (uid 0) only: run the command with "
        "sudo",
    }
    assert daemon.answers()


def test_subscribe_gets_snapshot_then_deltas_and_events_group(daemon: Daemon) -> None:
    with daemon.connect() as conn:
        conn.request("subscribe")
        snapshot = conn.receive()
        assert snapshot["t"] == "snapshot" and snapshot["groups"] == []
        daemon.cli("add", "job", "--", "sh", "-c", "sleep 0.2; exit 3")
        kinds: list[tuple[str, str]] = []
        records: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and ("exit", "exit 3") not in kinds:
            message = conn.receive()
            if message["t"] == "delta":
                records += message["log"]
                kinds += [(e["tractui.event"], e["tractui.detail"]) for e in message["log"]]
        assert kinds[0][0] == "root" or kinds[0][0] == "exec"
        assert ("exit", "exit 3") in kinds
    # OpenTelemetry's process attributes (README, "The event stream")
    # the launch is told when exec closed the launcher's pipe, which the kernel does before it
    # sets the new program's arguments up: the root may be read as "[sh]" with none, and its
    # exec event then brings them
    root = next(
        r for r in records if r["tractui.event"] in ("root", "exec") and r["process.command_args"]
    )
    assert root["tractui.group"] == "job"
    assert root["process.command_args"] == ["sh", "-c", "sleep 0.2; exit 3"]
    assert root["process.executable.name"] == "sh" and root["process.executable.path"]
    end = next(
        r for r in records if r["tractui.event"] == "exit" and r["tractui.detail"] == "exit 3"
    )
    assert end["process.pid"] == root["process.pid"] and end["process.exit.code"] == 3
    assert end["process.creation.time"] == root["process.creation.time"]
    assert end["process.exit.time"] > end["process.creation.time"]  # ISO 8601, UTC
    out = daemon.cli("events", "--group", "job", "--duration", "0.5").stdout
    assert "exit 3" in out and "sleep 0.2" in out
    lines = daemon.cli("events", "--group", "job", "--json", "--duration", "0.5").stdout
    again = [json.loads(line) for line in lines.splitlines()]
    assert sorted(r["tractui.event"] for r in again) == sorted(r["tractui.event"] for r in records)


def test_sigterm_leaves_launched_programs_running(make_daemon: Callable[..., Daemon]) -> None:
    daemon = make_daemon()
    pid = int(daemon.cli("add", "web", "--", "sleep", "100").stdout.split()[1])
    daemon.stop()
    assert running(pid)
    os.kill(pid, signal.SIGKILL)


def test_list_shows_a_zombie_until_its_parent_reaps_it(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon("--keep-exited", "0.3")
    parent = int(daemon.cli("add", "z", "--", sys.executable, "-c", UNREAPED).stdout.split()[1])

    def tree() -> str:
        return daemon.cli("list", "z", "--format", "tree").stdout

    poll_until(lambda: "exit 0, zombie" in tree(), "the zombie in list's tree")
    time.sleep(1.0)  # well past --keep-exited: it stays while its parent has not reaped it
    assert "  [exit 0, zombie]" in daemon.cli("list", "z", "--all").stdout
    os.kill(parent, signal.SIGUSR1)
    poll_until(lambda: "exit 0" not in tree(), "the reaped zombie to go")


# ---- the TUI's engine on a daemon --------------------------------------------------------------


def _session_until(session: Any, condition: Callable[[Any], object], what: str) -> Any:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        snapshot = session.snapshot
        if condition(snapshot):
            return snapshot
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_quitting_the_ui_on_a_daemon_asks_nothing_and_ends_nothing(daemon: Daemon) -> None:
    from tractui.app import TractApp
    from tractui.control import LaunchSpec
    from tractui.daemon.link import DaemonEngine
    from tractui.screens.confirm import QuitScreen
    from tractui.session import Session

    engine = DaemonEngine(daemon.socket)
    engine.start()
    app = TractApp(Session(engine), host="test", kernel="test", save_settings=False)
    async with app.run_test(size=(100, 30)) as pilot:
        pid = app.session.launch("web", LaunchSpec(["sleep", "100"])).result(10)
        daemon.roots.add(pid)
        await pilot.press("q")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, QuitScreen)
    # the daemon launched it, keeps it and shows it: this UI quitting is none of its business
    assert app.return_value == 0
    assert running(pid)
    assert members(daemon, "web") == [(pid, "sleep 100")]


def test_the_tui_session_on_a_daemon_sees_and_acts_through_it(daemon: Daemon) -> None:
    from tractui.control import LaunchSpec
    from tractui.daemon.link import DaemonEngine
    from tractui.session import Session

    engine = DaemonEngine(daemon.socket)
    engine.start()
    session = Session(engine)
    session.start()
    try:
        pid = session.launch("web", LaunchSpec(["sh", "-c", "sleep 100 & wait"])).result(10)
        daemon.roots.add(pid)
        snap = _session_until(
            session,
            lambda s: any(r.command == "sleep 100" and r.alive for r in s.procs.values()),
            "the launched sleep in the daemon's snapshot",
        )
        assert snap.mode == "daemon" and [g.name for g in snap.groups] == ["web"]
        # the daemon launched it and keeps it: quitting this UI has nothing to end
        assert not snap.groups[0].launched
        assert session.quit_plan().result(10).ending == ()
        assert session.log_path("web") == str(daemon.state / "logs" / "web.log")
        assert session.rename("web", "api").result(10) == "api"
        assert "api" in daemon.cli("groups").stdout
        _session_until(session, lambda s: [g.name for g in s.groups] == ["api"], "the rename")
        kinds = [
            e.kind for e in _session_until(session, lambda s: s.log("api"), "events").log("api")
        ]
        assert "root" in kinds and "exec" in kinds
        sleep = next(r for r in session.snapshot.procs.values() if r.command == "sleep 100")
        results = session.send_signal("api", sleep.pid, False, signal.SIGKILL).result(10)
        assert [(r.pid, r.ok) for r in results] == [(sleep.pid, True)]
        _session_until(
            session, lambda s: s.procs[sleep.key].status == "SIGKILL", "the sleep's SIGKILL"
        )

        # the daemon dies: the session says so, and follows the next daemon
        daemon.kill9()
        _session_until(session, lambda s: "daemon gone since" in s.banner, "the banner")
        daemon.start()
        _session_until(
            session,
            lambda s: s.state == "running" and [g.name for g in s.groups] == ["api"],
            "the session back on the new daemon",
        )
    finally:
        session.stop()


def test_the_daemon_loop_wakes_on_the_collectors_batches(tmp_path: Path) -> None:
    """Deltas go out when a batch arrives, not at the loop's next timeout: the collector's pipe
    is in the daemon's selector (it once was not, and deltas came up to 0.5 s late)."""
    from tractui.daemon.server import Daemon as Server
    from tractui.engine import Engine

    server = Server(Engine(keep_exited=60), tmp_path / "d.sock")
    server.bind()  # as the daemon command does: bind, then start the engine
    server.engine.start()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        fd = server.engine.collector.fileno()
        poll_until(lambda: server._collector_fd == fd, "the collector's pipe in the selector")
        assert server.selector.get_key(fd).data == "collector"
    finally:
        server.stop()
        thread.join(timeout=10)
        server.close()
        server.engine.stop()


def test_the_daemon_restarts_a_dead_collector_and_its_stats_say_so(tmp_path: Path) -> None:
    from tractui.daemon.server import Daemon as Server
    from tractui.engine import Engine

    server = Server(Engine(keep_exited=60), tmp_path / "d.sock")
    server.bind()
    server.engine.start()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()

    def stats() -> dict[str, Any]:
        with Connection(server.path) as conn:
            result: dict[str, Any] = conn.request("stats")
            return result

    try:
        dead = server.engine.collector.pid
        assert dead is not None and stats()["banner"] == ""
        os.kill(dead, signal.SIGKILL)  # the collector is this process's child: killed by PID
        said = re.compile(
            r"the event collector died at \d\d:\d\d:\d\d and was restarted at \d\d:\d\d:\d\d; "
            "groups kept, /proc rescanned"
        )
        poll_until(lambda: said.fullmatch(stats()["banner"]), "the restart in the daemon's stats")
        assert stats()["state"] == "running"
        assert server.engine.collector.pid not in (None, dead)
    finally:
        server.stop()
        thread.join(timeout=10)
        server.close()
        server.engine.stop()


def test_a_corrupt_state_file_is_set_aside_and_the_daemon_starts(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon(start=False)
    daemon.state.mkdir(parents=True)
    (daemon.state / "groups.json").write_text('{"version": 1, "groups": [{"name": ')
    daemon.start()
    assert daemon.cli("groups", "--json").stdout.strip() == "[]"
    aside = list(daemon.state.glob("groups.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text().startswith('{"version": 1')
    # clients are told, and where it went: `groups` (not only "no groups"), stats, the UI
    done = daemon.cli("groups")
    assert done.stdout.startswith("no groups")
    told = f"{daemon.state / 'groups.json'} is not valid JSON"
    assert told in done.stderr and f"kept it as {aside[0].name}" in done.stderr
    with daemon.connect() as conn:
        assert told in conn.request("stats")["banner"] and told in conn.hello["banner"]
    from tractui.daemon.link import DaemonEngine

    ui = DaemonEngine(daemon.socket)
    ui.start()
    try:
        assert told in ui.banner  # the session shows the engine's banner in the UI
    finally:
        ui.stop()
    daemon.cli("add", "web", "--", "sleep", "100")  # and it saves anew
    poll_until(lambda: (daemon.state / "groups.json").exists(), "a new state file")
    daemon.stop()
    assert daemon.proc is not None
    _, err = daemon.proc.communicate(timeout=10)
    assert "corrupt" in err and "groups.json" in err


def test_detached_daemons_with_sockets_side_by_side_keep_a_pidfile_each(
    make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    """--detach names its pidfile for its socket (a.sock: a.pid): two daemons whose sockets
    share a directory wrote one tractui.pid, the second's PID over the first's."""
    first = make_daemon("--detach", start=False, root=tmp_path / "one")
    second = make_daemon("--detach", start=False, root=tmp_path / "two")
    second.socket = first.socket.parent / "other.sock"
    second.env["TRACTUI_SOCKET"] = str(second.socket)
    pidfiles = [first.socket.parent / "tractui.pid", first.socket.parent / "other.pid"]
    pids: list[int] = []
    try:
        for daemon, pidfile in zip((first, second), pidfiles, strict=True):
            out, err = daemon.start(wait=False).communicate(timeout=START_TIMEOUT)
            assert daemon.proc is not None and daemon.proc.returncode == 0, err
            written = Path(out.rpartition("(pidfile ")[2].rstrip(")\n"))
            pids.append(int(written.read_text()))  # whatever it is named: to end it after
            assert written == pidfile
        assert int(pidfiles[0].read_text()) == pids[0] != pids[1]
        assert all(os.path.exists(f"/proc/{pid}") for pid in pids)
    finally:
        for pid in pids:  # the detached daemons are no children of ours: ended by their PIDs
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in pids:
            poll_until(lambda pid=pid: not running(pid), "the detached daemon to stop")


BURNER = """
import os, resource, sys, time
def burn(s):
    end = time.process_time() + s
    while time.process_time() < end:
        pass
out = sys.argv[1]
pid = os.fork()
if pid == 0:
    burn(0.3)
    os._exit(0)
os.waitpid(pid, 0)
burn(0.2)
with open(out + ".tmp", "w") as f:
    f.write(repr(time.process_time()))
os.rename(out + ".tmp", out)
time.sleep(100)
"""


def test_groups_count_the_cpu_of_live_and_ended_members(daemon: Daemon, tmp_path: Path) -> None:
    """`groups` gives each group's CPU seconds: the live members' from /proc, the ended ones'
    from the kernel's exit records (a child that burned 0.3 s and ended still counts)."""
    try:
        TaskstatsSocket().open().close()
    except AccountingUnavailable as err:
        pytest.skip(f"no kernel accounting here: {err.message}")
    script, out = tmp_path / "burner.py", tmp_path / "self"
    script.write_text(BURNER)
    daemon.cli("add", "burn", "--", sys.executable, str(script), str(out))
    poll_until(out.exists, "the burner to finish burning")
    own = float(out.read_text())  # the live process's own CPU: its 0.2 s and its start-up
    (group,) = json.loads(daemon.cli("groups", "--json").stdout)
    assert group["ended"]["processes"] == 1
    assert 0.29 <= group["ended"]["cpu_user_s"] + group["ended"]["cpu_system_s"] <= 0.4
    # to the ns (schedstat); it ran on a little after its clock was read (its file, its sleep)
    assert 0 <= group["live_cpu_s"] - own <= 0.002, (group["live_cpu_s"], own)
    assert group["cpu_s"] == pytest.approx(group["live_cpu_s"] + 0.3, abs=0.1)
    table = daemon.cli("groups").stdout.splitlines()
    assert table[0].split()[-3:] == ["CPU_S", "LAUNCHED", "LAST"]
    cpu = table[0].split().index("CPU_S")
    assert float(table[1].split()[cpu]) == pytest.approx(group["cpu_s"], abs=0.01)


def test_a_plain_list_bigger_than_the_client_buffer_is_sent(
    make_daemon: Callable[..., Daemon],
) -> None:
    buffer = 8 << 10
    daemon = make_daemon("--client-buffer", str(buffer))
    # 80 sleepers (bounded: each ends within 60 s, the fixture kills the group before)
    daemon.cli(
        "add", "big", "--", "sh", "-c", "for i in $(seq 80); do sleep 60 & done; exec sleep 60"
    )
    with daemon.connect() as conn:
        poll_until(lambda: conn.request("groups")[0]["live"] == 81, "81 live members", 15)
        members = conn.request("list", group="big")["members"]
        assert len(json.dumps(members)) > 2 * buffer  # a plain list, past the buffer
        assert conn.request("groups")[0]["name"] == "big"  # still connected


def test_a_detached_daemon_says_where_its_metrics_are(
    make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    """--metrics 127.0.0.1:0 --detach: the port is chosen by the daemon; the parent's message
    says it, and it serves there."""
    daemon = make_daemon("--detach", "--metrics", "127.0.0.1:0", start=False, root=tmp_path)
    pid = 0
    try:
        out, err = daemon.start(wait=False).communicate(timeout=START_TIMEOUT)
        assert daemon.proc is not None and daemon.proc.returncode == 0, err
        serving, metrics = out.splitlines()
        pid = int(Path(serving.rpartition("(pidfile ")[2].rstrip(")")).read_text())
        found = re.fullmatch(
            r"tractui daemon: serving metrics at (http://127\.0\.0\.1:\d+/metrics)", metrics
        )
        assert found is not None, out
        with urllib.request.urlopen(found[1], timeout=10) as answer:
            assert b"tractui_events_lost_total" in answer.read()
    finally:
        if pid:  # no child of ours: ended by its PID
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            poll_until(lambda: not running(pid), "the detached daemon to stop")
