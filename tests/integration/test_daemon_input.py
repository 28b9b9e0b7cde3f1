"""Hostile request lines against a real daemon: none ends it, each gets an error reply.

Reproductions of issue 10's attacks (deep nesting, lone surrogates, a failed ``add`` leaving a
group, loose booleans and numbers), then a Hypothesis fuzz built from the request schema. After
every line the daemon must still answer ``groups`` on a fresh connection.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bench.common.daemon import Daemon
from tests.integration.test_daemon import _raw
from tractui.control import LaunchSpec
from tractui.daemon.protocol import MAX_DEPTH
from tractui.engine import Engine

pytestmark = pytest.mark.kernel


def _reply(sock: socket.socket, reader: Any, line: bytes) -> dict[str, Any]:
    sock.sendall(line.rstrip(b"\n") + b"\n")
    raw = reader.readline()
    assert raw, "the daemon closed the connection"
    reply: dict[str, Any] = json.loads(raw)
    return reply


def _still_serves(daemon: Daemon) -> None:
    """The daemon process lives, and answers a ``groups`` request on a new connection."""
    proc = daemon.proc
    assert proc is not None
    try:
        sock, reader = _raw(daemon)
    except OSError:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        if proc.poll() is None:
            raise
        sock = None
    if sock is None:  # outside the except: one failure, whichever way the connect failed
        raise AssertionError(f"the daemon ended: {proc.communicate()[1][-2000:]}")
    with sock, reader:
        reply = _reply(sock, reader, b'{"id": 1, "op": "groups"}')
        assert reply["ok"] is True and reply["id"] == 1


def test_deep_nesting_is_refused_and_the_daemon_goes_on(daemon: Daemon) -> None:
    sock, reader = _raw(daemon)
    with sock, reader:
        line = b'{"op":"groups","x":' + b"[" * 5000 + b"]" * 5000 + b"}"
        reply = _reply(sock, reader, line)
        assert reply["ok"] is False and f"nested deeper than {MAX_DEPTH}" in reply["error"]
        # unbalanced too: json would recurse into every one of them
        reply = _reply(sock, reader, b'{"id": 2, "op": "groups", "x": ' + b"[{" * 5000)
        assert reply["ok"] is False and "nested deeper" in reply["error"]
        # brackets inside strings are text, not nesting
        text = json.dumps({"id": 3, "op": "list", "group": "[" * 5000}).encode()
        reply = _reply(sock, reader, text)
        assert reply["id"] == 3 and "no group named" in reply["error"]
        reply = _reply(sock, reader, b'{"id": 4, "op": "groups"}')
        assert reply == {"t": "reply", "id": 4, "ok": True, "result": []}
    _still_serves(daemon)


def test_lone_surrogates_cannot_end_the_daemon(daemon: Daemon) -> None:
    sock, reader = _raw(daemon)
    with sock, reader:
        reply = _reply(sock, reader, b'{"id": "\\ud800", "op": "groups"}')
        assert reply["ok"] is False and reply["id"] is None
        assert "'id' must be an integer" in reply["error"]
        reply = _reply(sock, reader, b'{"id": 2, "op": "hello", "protocol": "\\ud800"}')
        assert reply["ok"] is False and reply["id"] == 2
        assert "'protocol' must be an integer" in reply["error"]
        # an error that quotes the surrogate back still goes out (escaped)
        reply = _reply(sock, reader, b'{"id": 3, "op": "\\udfff"}')
        assert reply["ok"] is False and "unknown request" in reply["error"]
        reply = _reply(
            sock, reader, b'{"id": 4, "op": "signal", "group": "x", "signal": "\\ud800"}'
        )
        assert reply["ok"] is False and "no signal named" in reply["error"]
    _still_serves(daemon)


def _saved_groups(daemon: Daemon) -> list[str]:
    doc = json.loads((daemon.state / "groups.json").read_text())
    return [g["name"] for g in doc["groups"]]


def test_a_failed_add_leaves_no_group_behind(daemon: Daemon, spawn: Callable[..., Any]) -> None:
    sleeper = spawn(["sleep", "60"])
    sock, reader = _raw(daemon)
    with sock, reader:
        for rid, argv, text in (
            (1, ["sleep", "1\u0000"], "NUL"),
            (2, ["sleep", "\ud800"], "lone surrogate"),
            (3, ["/no/such/program"], "no such file"),
            (4, ["no-such-program-xyz"], "command not found"),
        ):
            line = json.dumps({"id": rid, "op": "add", "group": f"g{rid}", "argv": argv})
            reply = _reply(sock, reader, line.encode())
            assert reply["ok"] is False and text in reply["error"], reply
        reply = _reply(sock, reader, b'{"id": 5, "op": "groups"}')
        assert reply["result"] == []
        # a command that succeeds saves at once: what is saved is its group alone
        reply = _reply(
            sock,
            reader,
            json.dumps(
                {"id": 6, "op": "attach", "group": "ok", "pids": [sleeper.pid], "create": True}
            ).encode(),
        )
        assert reply["ok"] is True
    assert _saved_groups(daemon) == ["ok"]


def test_booleans_and_numbers_are_strict(daemon: Daemon) -> None:
    sock, reader = _raw(daemon)
    with sock, reader:
        for request, field, what in (
            (
                {"op": "add", "group": "w", "argv": ["/no/such"], "as_root": "false"},
                "as_root",
                "true or false",
            ),
            (
                {"op": "signal", "group": "w", "pid": 5, "subtree": "false"},
                "subtree",
                "true or false",
            ),
            ({"op": "signal", "group": "w", "pid": "5"}, "pid", "a process ID"),
            ({"op": "signal", "group": "w", "pid": True}, "pid", "a process ID"),
            ({"op": "signal", "group": "w", "signal": True}, "signal", "a signal"),
            ({"op": "hello", "protocol": True}, "protocol", "an integer"),
            ({"op": "hello", "protocol": 1.0}, "protocol", "an integer"),
            ({"op": "attach", "group": "w", "pids": [1.0]}, "pids", "process IDs"),
            ({"op": "attach", "group": "w", "pids": [10**30]}, "pids", "process IDs"),
            (
                {"op": "add", "group": "w", "argv": ["/no/such"], "user": {"uid": "0"}},
                "user.uid",
                "an integer",
            ),
            ({"op": "add", "group": "w", "argv": ["/no/such"], "cwd": 7}, "cwd", "a string"),
            ({"op": "add", "group": "w", "argv": ["/no/such"], "env": {"A": 1}}, "env", "strings"),
            ({"op": "groups", "id": 1.5}, "id", "an integer"),
            ({"op": "groups", "id": False}, "id", "an integer"),
            ({"op": "groups", "id": 10**4000}, "id", "an integer"),
        ):
            reply = _reply(sock, reader, json.dumps(request).encode())
            assert reply["ok"] is False, request
            assert f"'{field}' must be" in reply["error"] and what in reply["error"], reply
        assert _reply(sock, reader, b'{"id": 9, "op": "hello", "protocol": 1}')["ok"] is True
        assert _reply(sock, reader, b'{"id": 9, "op": "groups"}')["result"] == []
    _still_serves(daemon)


# ---- the fuzz ---------------------------------------------------------------------------------

# The fuzz must never start or signal anything but its own: `add` runs only programs that are
# not there, or `true` (which ends at once); a PID field holds no small integer but one stand-in,
# replaced by the PID of a `sleep` this test started (so `attach` and `signal` reach only it).
ARGV0 = ["/no/such/program", "no-such-program-xyz", "true", "/bin/true", "", " ", "tr\x00ue"]
HELPER = -424242  # stands for the helper sleep's PID
OPS = ["hello", "groups", "list", "add", "attach", "signal", "rename", "remove", "stats"]
OPS += ["subscribe"]  # its snapshot and deltas come between the replies: they are skipped

text = st.one_of(
    st.sampled_from(["", " ", "\x00", "\ud800", "\udfff", "a\x00b", "[" * 100, "\u202e", "fz"]),
    st.text(max_size=20),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3),
)
# numbers, but none a PID could be: small integers only where a field is no PID
number = st.one_of(
    st.sampled_from([0, -1, 2**31, 2**63, -(2**63), 2**64, 10**400, 4194305]),
    st.integers(min_value=2**32, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
value = st.recursive(
    st.one_of(st.none(), text, number),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=8,
)


@st.composite
def mostly(draw: st.DrawFn, right: st.SearchStrategy[Any]) -> Any:
    """Most often a right value, else a value of any type: most requests get past their first
    field, to the checks (and the actions) behind it."""
    return draw(value if draw(st.integers(0, 9)) == 7 else right)  # 7: no end of the range


group = mostly(st.sampled_from(["fz", "fz", "fz2", "fz.3", "", "no such"]))
pid = mostly(st.sampled_from([HELPER, HELPER, HELPER, 1, 0, 4194305, 2**31]))
argv = st.tuples(st.sampled_from(["true", *ARGV0]), st.lists(text, max_size=2))

# each op's fields: those it needs (always sent), those it may take (sometimes)
SCHEMA: dict[str, tuple[dict[str, st.SearchStrategy[Any]], dict[str, st.SearchStrategy[Any]]]] = {
    "hello": ({}, {"protocol": mostly(st.sampled_from([1, 0, 2, -1]))}),
    "groups": ({}, {}),
    "stats": ({}, {}),
    "subscribe": ({}, {"group": group}),
    "list": ({"group": group}, {}),
    "remove": ({"group": group}, {}),
    "rename": ({"old": group, "new": group}, {}),
    "attach": (
        {"group": group, "pids": mostly(st.lists(pid, min_size=1, max_size=2))},
        {
            "create": mostly(st.booleans()),
            "dry_run": mostly(st.booleans()),
            "skip_tracked": mostly(st.booleans()),
        },
    ),
    "signal": (
        {"group": group},
        {
            "signal": mostly(st.sampled_from(["TERM", "sigkill", "0", "NOPE", "", 0, 15, 99])),
            "pid": pid,
            "subtree": mostly(st.booleans()),
            "keys": mostly(st.lists(st.lists(mostly(st.sampled_from([HELPER, 0])), max_size=3))),
        },
    ),
    "add": (
        {"group": group, "argv": mostly(argv.map(lambda t: [t[0], *t[1]]))},
        {
            "cwd": mostly(st.sampled_from(["/", "/tmp", "/nonexistent", "/etc/passwd", "rel"])),
            "env": mostly(st.dictionaries(text, text, max_size=2)),
            "as_root": mostly(st.booleans()),
            "user": mostly(
                st.fixed_dictionaries(
                    {"uid": mostly(st.sampled_from([0, 65534, 4294967294, 4294967295]))},
                    optional={
                        "gid": mostly(st.sampled_from([0, 65534])),
                        "groups": mostly(st.lists(st.sampled_from([0, 65534]), max_size=2)),
                    },
                )
            ),
        },
    ),
}


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    """A request of any op, each of its fields absent, right, or of a wrong type or range."""
    op = draw(mostly(st.sampled_from(OPS)))
    required, optional = SCHEMA.get(op, ({}, {})) if isinstance(op, str) else ({}, {})
    fields = draw(st.fixed_dictionaries(required, optional=optional))
    rid = draw(mostly(st.integers(min_value=0, max_value=2**40)))
    request = {"id": rid, "op": op, **fields}
    argv = request.get("argv")
    if isinstance(argv, list) and argv and isinstance(argv[0], str) and argv[0] not in ARGV0:
        request["argv"] = ["/no/such/program", *argv]  # a wrong-typed argv that happens to be right
    return request


def _as_line(request: dict[str, Any], mangle: int) -> bytes:
    """The request as JSON; sometimes mangled: nested deep, not UTF-8, cut short, raw bytes."""
    line = json.dumps(request, ensure_ascii=mangle % 2 == 0).encode("utf-8", "surrogatepass")
    if mangle == 3:
        return line[:-1] + b', "deep": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    if mangle == 5:
        return line.replace(b'"op"', b'"op\xff\xfe"', 1)
    if mangle == 7:
        return line[: len(line) // 2]
    if mangle == 9:
        return bytes(range(256)).replace(b"\n", b"")
    return line


def _with_helper(value: Any, helper: int) -> Any:
    if value == HELPER and type(value) is int:
        return helper
    if isinstance(value, list):
        return [_with_helper(v, helper) for v in value]
    if isinstance(value, dict):
        return {k: _with_helper(v, helper) for k, v in value.items()}
    return value


class _Fuzzer:
    def __init__(self, daemon: Daemon, helper: int) -> None:
        self.daemon = daemon
        self.helper = helper
        self.sock, self.reader = _raw(daemon)

    def revive(self) -> None:
        """After a failed example, a daemon again: each example (and each of Hypothesis's
        shrinking steps) meets a live one, so the example reported is the one that ended it."""
        assert self.daemon.proc is not None
        if self.daemon.proc.poll() is not None:
            self.daemon.proc.communicate(timeout=10)
            self.close()
            self.daemon.start()
            self.sock, self.reader = _raw(self.daemon)

    def send(self, request: dict[str, Any], mangle: int) -> None:
        self.revive()
        line = _as_line(_with_helper(request, self.helper), mangle)
        try:
            self.sock.sendall(line + b"\n")
            raw = self.reader.readline()
            while raw and json.loads(raw)["t"] in ("snapshot", "delta"):
                raw = self.reader.readline()
        except OSError:
            raw = b""
        if raw:
            reply = json.loads(raw)
            assert reply["t"] == "reply", reply
            event(f"{request['op'] if request['op'] in OPS else 'other op'}: ok={reply['ok']}")
            if reply["ok"] is False:
                assert isinstance(reply["error"], str) and reply["error"], reply
                assert "internal error" not in reply["error"], (request, reply)
        _still_serves(self.daemon)
        if not raw:  # the daemon may close a connection it cannot make sense of
            self.close()
            self.sock, self.reader = _raw(self.daemon)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.reader.close()
            self.sock.close()


@pytest.fixture
def fuzzer(daemon: Daemon, spawn: Callable[..., Any]) -> Iterator[_Fuzzer]:
    helper = spawn(["sleep", "60"])
    fuzzer = _Fuzzer(daemon, helper.pid)
    yield fuzzer
    fuzzer.revive()
    fuzzer.close()
    # what the fuzz's groups hold: the helper, and `true`s not reaped yet; all ours to end
    with daemon.connect() as conn:
        for g in conn.request("groups"):
            for m in conn.request("list", group=g["name"])["members"]:
                if m["alive"]:
                    # a `true` that ended before /proc was read has no argv, only its comm
                    true = m["argv"][:1] in (["true"], ["/bin/true"]) or m["command"] == "[true]"
                    assert m["pid"] == helper.pid or true, m
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(m["pid"], signal.SIGKILL)
            conn.request("remove", group=g["name"])


@settings(
    max_examples=1200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=requests(), mangle=st.integers(min_value=0, max_value=15))
def test_fuzzed_requests_never_end_the_daemon(
    fuzzer: _Fuzzer, request: dict[str, Any], mangle: int
) -> None:
    fuzzer.send(request, mangle)


def test_a_launch_the_os_refuses_leaves_no_group(engine: Engine) -> None:
    """The UI's embedded engine has no request checks in front of it: the OS refuses a NUL in
    an argument, or a variable name with '=', and no group is left behind (it was, empty)."""
    for spec in (
        LaunchSpec(["sleep", "1\x00"]),
        LaunchSpec(["sleep", "1"], env={"A=B": "x"}),
        LaunchSpec(["sleep", "\ud800"]),
    ):
        with pytest.raises(ValueError):
            engine.launch("g", spec)
        assert "g" not in engine.tracker.groups and not engine.launches


def test_an_argument_that_is_not_utf8_is_refused_by_the_cli_in_words(daemon: Daemon) -> None:
    """JSON carries text only: the CLI says which argument and how to get such bytes in, not
    the protocol's 'lone surrogate' (it did), and nothing is created."""
    done = daemon.cli("add", "b", "--", "echo", os.fsdecode(b"ok\xff\xfe"), check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("tractui add: argument 1 (ok\\xff\\xfe) is not UTF-8"), done
    assert done.stderr.count("\n") == 1
    assert daemon.cli("groups", "--json").stdout.strip() == "[]"
