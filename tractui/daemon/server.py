"""The daemon: the engine without a UI, serving groups over a UNIX socket (the ``tracd`` of trac).

One thread does everything, in one ``selectors`` loop: the collector's batches, new
connections, requests and replies. A command runs between two batches, exactly as in the TUI,
so nothing a launched program forks can slip past. Sockets are non-blocking and every client
has its own output buffer: a client that stops reading is dropped when its buffer fills; it
never blocks the engine or the other clients. Each connection's peer is checked with
SO_PEERCRED: only the daemon's own uid and root may use it.

No Textual here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import select
import selectors
import signal
import socket
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tractui import __version__, control, paths
from tractui.control import Identity, LaunchSpec
from tractui.daemon.client import check_server, peer_credentials
from tractui.daemon.protocol import (
    ID_MAX,
    PID_MAX,
    PROTOCOL,
    BadRequest,
    JsonObject,
    LineReader,
    ProtocolError,
    Request,
    delta_message,
    encode,
    procs_in_tree_order,
    snapshot_message,
)
from tractui.engine import Engine
from tractui.errors import UserError
from tractui.model.tracker import Delta, Key
from tractui.model.wire import event_to_wire, group_to_wire, key_from_wire
from tractui.upkeep import EventRings, Restarter

log = logging.getLogger(__name__)

CLIENT_BUFFER = 16 << 20  # pending output a client may have before it is dropped
SAVED_AT_ONCE = frozenset({"add", "attach", "rename", "remove"})
ID_LIMIT = 1 << 63  # a request's id is a signed 64-bit integer


class Encoded(bytes):
    """A request's result already encoded as JSON (spliced into the reply as it is)."""


class DaemonRunning(UserError):
    """Another daemon answers on the socket."""


@dataclass(slots=True, eq=False)
class Client:
    sock: socket.socket
    pid: int
    uid: int
    reader: LineReader = field(default_factory=LineReader)
    out: bytearray = field(default_factory=bytearray)
    limit: int = CLIENT_BUFFER
    subscribed: bool = False
    group: str | None = None  # a subscription to one group only
    writing: bool = False  # registered for EVENT_WRITE
    closed: bool = False


def probe(path: Path, timeout: float = 1.0) -> dict[str, Any] | None:
    """The hello of a daemon answering on ``path``, or None if nothing answers.

    ForeignServer if a user other than root or us serves it (nothing is sent either way)."""
    from tractui.daemon.protocol import LineReader as Reader

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
            check_server(sock, path)
            reader = Reader(limit=1 << 20)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                data = sock.recv(65536)
                if not data:
                    return {}
                for message in reader.feed(data):
                    if isinstance(message, dict):
                        return message
                    return {}
        except (ConnectionRefusedError, FileNotFoundError):
            return None
        except OSError:
            return {}  # something is there, but it did not say hello in time
    return {}


class Daemon:
    """Serves an :class:`Engine` on a UNIX socket until :meth:`stop` or SIGTERM/SIGINT."""

    def __init__(
        self,
        engine: Engine,
        path: Path,
        client_buffer: int = CLIENT_BUFFER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        engine.save_in_poll = False  # saved after each batch is published: see step
        self.path = path
        self.client_buffer = client_buffer
        self.clock = clock
        self.uid = os.geteuid()
        self.clients: dict[int, Client] = {}
        self.selector = selectors.DefaultSelector()
        self.listener: socket.socket | None = None
        # restarts the collector when it dies; its state and banner are in the stats
        self.restarter = Restarter(engine, logger=log)
        self.events: EventRings[JsonObject] = EventRings()  # sent with a subscription's snapshot
        self._collector_fd: int | None = None
        self._list_cache: dict[str, tuple[int, Encoded]] = {}
        self._list_revision = -1
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._stopping = False
        self._notices: list[str] = []  # the engine's, as subscribers last heard them
        self._handlers: dict[str, Callable[[Client, JsonObject], Any]] = {
            "hello": self._hello,
            "groups": self._groups,
            "list": self._list,
            "add": self._add,
            "attach": self._attach,
            "signal": self._signal,
            "rename": self._rename,
            "remove": self._remove,
            "subscribe": self._subscribe,
            "stats": self._stats,
            "log": self._read_log,
        }

    # ---- the socket --------------------------------------------------------------------------

    def bind(self) -> None:
        """Listen on :attr:`path`; refuse if a daemon answers there, remove it if stale."""
        path = self.path
        try:
            paths.check_socket_dir(path)  # made 0700 if new; nobody else may swap the socket
        except OSError as err:
            raise UserError(
                f"cannot use the socket directory {path.parent}: {err.strerror}"
            ) from None
        if path.is_socket() or path.exists():
            hello = probe(path)
            if hello is not None:
                who = f" (PID {hello['pid']})" if isinstance(hello.get("pid"), int) else ""
                raise DaemonRunning(
                    f"a tractui daemon is already running on {path}{who}: use it, or stop it first"
                )
            if not stat.S_ISSOCK(path.lstat().st_mode):
                raise UserError(
                    f"{path} exists and is not a socket: remove it or set TRACTUI_SOCKET"
                )
            log.warning("removing the stale socket %s (no daemon answers on it)", path)
            path.unlink()
        directory = path.parent
        if directory == paths.runtime_dir() and os.geteuid() == 0:
            os.chmod(directory, 0o700)  # /run/tractui is ours: nobody else looks inside
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        old_umask = os.umask(0o177)  # the socket is 0600 from the start
        try:
            listener.bind(str(path))
        except OSError as err:
            listener.close()
            raise UserError(f"cannot listen on {path}: {err.strerror}") from None
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        listener.listen(128)
        listener.setblocking(False)
        self.listener = listener
        self.selector.register(listener, selectors.EVENT_READ, "listen")
        self.selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._register_collector()
        log.info("listening on %s", path)

    def _register_collector(self) -> None:
        if self._collector_fd is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(self._collector_fd)
            self._collector_fd = None
        if self.engine.collector.alive():
            fd = self.engine.collector.fileno()
            self.selector.register(fd, selectors.EVENT_READ, "collector")
            self._collector_fd = fd

    def close(self) -> None:
        for client in list(self.clients.values()):
            self._drop(client, "")
        if self.listener is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(self.listener)
            self.listener.close()
            self.listener = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        self.selector.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def stop(self) -> None:
        """Ask the loop to end (safe from a signal handler or another thread)."""
        self._stopping = True
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop it; SIGHUP (its terminal closed: ``tractui daemon &``) not."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda _sig, _frame: self.stop())
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    # ---- the loop ----------------------------------------------------------------------------

    def serve(self) -> None:
        """Run until stopped. The caller closes the daemon and stops the engine."""
        self._register_collector()  # the engine started after bind()
        while not self._stopping:
            self.step(0.25)  # at least 4 polls a second: upkeep and saving run in poll

    def step(self, timeout: float) -> None:
        for key, mask in self.selector.select(timeout):
            what = key.data
            if what == "listen":
                self._accept()
            elif what == "wake":
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_r, 4096)
            elif isinstance(what, Client):
                if mask & selectors.EVENT_WRITE:
                    self._flush(what)
                if mask & selectors.EVENT_READ and not what.closed:
                    self._read(what)
        try:
            delta = self.engine.poll(0)
        except Exception:  # one bad batch must not end the daemon
            log.exception("applying a batch failed")
            return
        self._watch_collector()
        if delta or delta.events:
            self._publish(delta)
        self._tick_state()

    def _tick_state(self) -> None:
        """Save (or journal) what the batch changed, after its delta left: no subscriber waits
        for the disk. A save that starts or stops failing is news for the subscribers."""
        state = self.engine.state
        if state is None:
            return
        try:
            state.tick(self.engine, busy=self._collector_waiting())
        except Exception:  # a bug in saving must not end the daemon (tick reports OSErrors)
            log.exception("saving the groups failed")
        notices = self.engine.notices()
        if notices != self._notices:
            self._notices = notices
            self._publish(Delta())  # the stats it carries have the new banner

    def _collector_waiting(self) -> bool:
        """The collector has sent more than we read: a burst goes on."""
        fd = self._collector_fd
        if fd is None:
            return False
        try:
            readable, _, _ = select.select([fd], [], [], 0)
        except (OSError, ValueError):
            return False
        return bool(readable)

    def _watch_collector(self) -> None:
        """If the collector died, say so and start another (groups are kept, /proc rescanned)."""
        if self.restarter.check():
            self._register_collector()
            self._publish(self.engine.tracker.take_delta())
        elif self._collector_fd is None and self.engine.collector.alive():
            self._register_collector()

    # ---- clients -----------------------------------------------------------------------------

    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:  # EMFILE and friends: refuse this one, go on
                log.warning("cannot accept a connection: %s", err)
                return
            sock.setblocking(False)
            pid, uid, _gid = peer_credentials(sock)
            client = Client(sock, pid, uid, limit=self.client_buffer)
            if uid not in (0, self.uid):
                refusal = self._refusal()
                log.warning("refused PID %d of uid %d: %s", pid, uid, refusal)
                with contextlib.suppress(OSError):
                    sock.send(encode({"t": "error", "error": f"permission denied: {refusal}"}))
                sock.close()
                continue
            self.clients[sock.fileno()] = client
            self.selector.register(sock, selectors.EVENT_READ, client)
            self._send(client, self._hello_message())

    def _refusal(self) -> str:
        """Whom this daemon serves, and what another user can do."""
        if self.uid == 0:
            return "this daemon serves root (uid 0) only: run the command with sudo"
        try:
            name = f"{pwd.getpwuid(self.uid).pw_name} (uid {self.uid})"
        except KeyError:
            name = f"uid {self.uid}"
        return (
            f"this daemon serves {name} and root only: run the command as that user or with "
            "sudo, or start your own daemon with TRACTUI_SOCKET set to another path"
        )

    def _hello_message(self) -> JsonObject:
        return {
            "t": "hello",
            "protocol": PROTOCOL,
            "version": __version__,
            "pid": os.getpid(),
            "uid": self.uid,
            "own_pids": sorted(self.engine.tracker.own_pids),
            "banner": self.restarter.banners(),
        }

    def _read(self, client: Client) -> None:
        try:
            data = client.sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(client, "")
            return
        for message in client.reader.feed(data):
            if client.closed:
                return
            if isinstance(message, ProtocolError):
                self._send(client, {"t": "reply", "id": None, "ok": False, "error": str(message)})
                continue
            try:
                self._request(client, message)
            except Exception:  # not even an error reply went out: end this connection only
                log.exception("a request of client PID %d failed", client.pid)
                self._drop(client, "")

    def _request(self, client: Client, message: JsonObject) -> None:
        """Run one request; whatever fails in it is its error reply (and the daemon goes on)."""
        rid = message.get("id")
        if rid is not None and not (type(rid) is int and -ID_LIMIT <= rid < ID_LIMIT):
            # it is echoed in the reply: nothing but a number a client can have sent
            err = Request(message).bad("id", "an integer of at most 64 bits (or absent)")
            self._reply_error(client, None, str(err))
            return
        op = message.get("op")
        handler = self._handlers.get(op) if isinstance(op, str) else None
        if handler is None:
            known = ", ".join(sorted(self._handlers))
            self._reply_error(client, rid, f"unknown request {op!r}: use one of {known}")
            return
        try:
            result = handler(client, message)
            if op in SAVED_AT_ONCE:
                problem = self._save_now()
                if problem and isinstance(result, dict):
                    # done, but only in memory: the client must not take it for saved
                    result = {**result, "not_saved": f"state not saved: {problem}"}
            if isinstance(result, Encoded):
                head = encode({"t": "reply", "id": rid, "ok": True})[:-2]
                reply = head + b',"result":' + result + b"}\n"
            else:
                reply = encode({"t": "reply", "id": rid, "ok": True, "result": result})
        except UserError as err:
            self._reply_error(client, rid, str(err))
        except (KeyError, TypeError, ValueError) as err:
            self._reply_error(client, rid, f"bad {op} request: {_describe(err)}")
        except Exception as err:  # never let one request end the daemon
            log.exception("request %r failed", op)
            self._reply_error(client, rid, f"internal error in {op}: {err} (see the daemon's log)")
        else:
            self._send_bytes(client, reply)
            if op == "subscribe":
                self._send_snapshot(client)

    def _save_now(self) -> str:
        """A command changed the groups: on disk before the client hears it is done (what
        members fork later is saved within the persister's interval, by the engine's poll).
        "" if it is saved, else why not (the change stays in memory and is saved again)."""
        state = self.engine.state
        if state is None:
            return ""
        problem = state.save_now(self.engine)
        if problem:
            log.warning("the groups could not be saved: %s", problem)
        return problem

    def _reply_error(self, client: Client, rid: Any, error: str) -> None:
        self._send(client, {"t": "reply", "id": rid, "ok": False, "error": error})

    def _send(self, client: Client, message: JsonObject) -> None:
        self._send_bytes(client, encode(message))

    def _send_bytes(self, client: Client, data: bytes) -> None:
        if client.closed:
            return
        client.out += data
        if len(client.out) > client.limit:
            log.warning(
                "dropping client PID %d: %d bytes unread (it stopped reading)",
                client.pid,
                len(client.out),
            )
            self._drop(client, "")
            return
        self._flush(client)

    def _flush(self, client: Client) -> None:
        while client.out:
            try:
                sent = client.sock.send(client.out)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._drop(client, "")
                return
            del client.out[:sent]
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if client.out else 0)
        if bool(client.out) != client.writing:
            client.writing = bool(client.out)
            self.selector.modify(client.sock, want, client)

    def _drop(self, client: Client, reason: str) -> None:
        if client.closed:
            return
        client.closed = True
        if reason:
            log.info("client PID %d: %s", client.pid, reason)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(client.sock)
        self.clients.pop(client.sock.fileno(), None)
        client.sock.close()

    # ---- subscriptions -----------------------------------------------------------------------

    def _publish(self, delta: Delta) -> None:
        """Keep the groups' recent events; send the delta to every subscriber."""
        tracker = self.engine.tracker
        now_ns = tracker.now()
        wall = self.clock()
        events = [event_to_wire(ev, wall - (now_ns - ev.ts) / 1e9) for ev in delta.log]
        for ev in events:
            self.events.add(ev["group"], ev)
        self.events.keep(tracker.groups)
        subscribers = [c for c in self.clients.values() if c.subscribed]
        if not subscribers:
            return
        stats = self._stats(None, {})
        messages: dict[str | None, JsonObject | None] = {}
        for client in subscribers:
            if client.group not in messages:
                messages[client.group] = delta_message(
                    tracker, delta, events, self._group_wire, stats, client.group
                )
            message = messages[client.group]
            if message is not None:
                self._send(client, message)

    def _group_wire(self, group: Any) -> JsonObject:
        launched = bool(self.engine.launches.get(group.name))
        return group_to_wire(group, launched, str(self.engine.log_path(group.name)))

    def _send_snapshot(self, client: Client) -> None:
        tracker = self.engine.tracker
        groups = [
            g for g in tracker.groups.values() if client.group is None or g.name == client.group
        ]
        events = [e for g in groups for e in self.events.get(g.name)]
        events.sort(key=lambda e: e["ts"])
        message = snapshot_message(tracker, groups, events, self._group_wire, self._stats(None, {}))
        data = encode(message)
        client.limit = max(self.client_buffer, 2 * len(data))
        if client.closed:
            return
        client.out += data
        self._flush(client)

    # ---- requests ----------------------------------------------------------------------------

    def _hello(self, client: Client, m: JsonObject) -> JsonObject:
        version = Request(m).integer(
            "protocol", 0, 1 << 31, f"an integer (this daemon speaks {PROTOCOL})"
        )
        if version is not None and version != PROTOCOL:
            raise UserError(
                f"protocol {version} is not spoken here (daemon {__version__} speaks {PROTOCOL}): "
                "use the same tractui for the daemon and its clients"
            )
        hello = self._hello_message()
        del hello["t"]
        return hello

    def _stats(self, client: Client | None, m: JsonObject) -> JsonObject:
        c = self.engine.counters
        state = self.engine.state
        restored = self.engine.restored
        return {
            "events": c.events or self.engine.tracker.events,
            "lost": c.lost or self.engine.tracker.lost,
            "state": self.restarter.state,
            "banner": self.restarter.banners(),
            "not_saved": state.error if state is not None else "",
            "unseen": restored.unseen() if restored is not None else "",
            "clients": len(self.clients),
            "groups": len(self.engine.tracker.groups),
            "members": len(self.engine.tracker.live),
        }

    def _groups(self, client: Client, m: JsonObject) -> list[JsonObject]:
        return [self._group_wire(g) for g in self.engine.tracker.groups.values()]

    def _list(self, client: Client, m: JsonObject) -> Encoded:
        """A group's members in tree order, encoded once per change of the tracker: ten
        clients listing 5,000 members cost one walk and one JSON encoding, not ten."""
        tracker = self.engine.tracker
        group = tracker.group(Request(m).group())
        cached = self._list_cache.get(group.name)
        if cached is not None and cached[0] == tracker.revision:
            return cached[1]
        members = []
        depth: dict[Key, int] = {}
        for proc in procs_in_tree_order(tracker, [group]):
            d = depth.get(proc.parent, -1) + 1 if proc.parent is not None else 0
            depth[proc.key] = d
            members.append(
                {
                    "pid": proc.pid,
                    "start": proc.start,
                    "parent": proc.parent[0] if proc.parent is not None else None,
                    "ppid": proc.ppid,
                    "depth": d,
                    "uid": proc.uid,
                    "command": proc.command(),
                    "argv": list(proc.argv),
                    "alive": proc.alive,
                    "status": proc.status_text(),
                    "reparented": proc.reparented,
                }
            )
        result = Encoded(encode({"group": self._group_wire(group), "members": members})[:-1])
        if len(self._list_cache) > 64 or tracker.revision != self._list_revision:
            self._list_cache.clear()
            self._list_revision = tracker.revision
        self._list_cache[group.name] = (tracker.revision, result)
        return result

    def _add(self, client: Client, m: JsonObject) -> JsonObject:
        """Launch a program with its client's context (environment, umask, working directory),
        never the daemon's; a client that sends none (an older one) gets a minimal one."""
        r = Request(m)
        name = r.group()
        argv = r.texts("argv")
        if argv is None:
            raise UserError("add needs 'argv': the program and its arguments, as strings")
        cwd = r.text("cwd")
        if cwd is not None and not cwd.startswith("/"):
            raise BadRequest("'cwd' must be an absolute path: the daemon's directory is not yours")
        env = r.text_map("env") or {}
        umask = r.integer("umask", 0, 0o777, "an integer from 0 to 511 (0o777): a umask")
        if umask is None:
            umask = control.DEFAULT_UMASK
        as_root = r.flag("as_root")
        who = self._launch_user(client, r, as_root)
        spec = LaunchSpec(argv, cwd or "/", env, as_root, who, umask, client.uid)
        proc = self.engine.launch(name, spec)
        return {"pid": proc.pid, "group": proc.group, "log": str(self.engine.log_path(proc.group))}

    def _launch_user(self, client: Client, r: Request, as_root: bool) -> Identity:
        """Who a client's program runs as: a root client chooses (its sudo user, sent by the
        CLI); any other client runs its programs as itself; a daemon that is not root can
        only run them as its own user."""
        user = r.record("user")
        uid = gid = groups = None
        if user is not None:  # checked whoever sends it: a wrong one is an error, never ignored
            uid = user.integer("uid", 0, ID_MAX)
            if uid is None:
                raise user.bad("uid", "an integer: the user's uid")
            gid = user.integer("gid", 0, ID_MAX)
            groups = user.integers("groups", 0, ID_MAX, "group IDs", empty=True)
        if self.uid != 0:
            return Identity.of_uid(self.uid)
        if client.uid != 0:
            if as_root:
                raise UserError("only root may launch as root: run the command with sudo")
            return Identity.of_uid(client.uid)
        if uid is None or as_root:
            return Identity.of_uid(0)
        who = Identity.of_uid(uid)
        if gid is not None:
            who.gid = gid
        if groups is not None:
            who.groups = groups
        return who

    def _attach(self, client: Client, m: JsonObject) -> JsonObject:
        r = Request(m)
        name = r.group()
        pids = r.integers("pids", 1, PID_MAX, "process IDs")
        if pids is None:
            raise UserError("attach needs 'pids': a list of process IDs")
        roots = self.engine.attach(name, pids)
        group = self.engine.tracker.groups[roots[0].group]
        return {"group": group.name, "roots": [p.pid for p in roots], "live": group.live}

    def _signal(self, client: Client, m: JsonObject) -> JsonObject:
        r = Request(m)
        name_or_number = r.signal()
        sig = control.parse_signal("TERM" if name_or_number is None else name_or_number)
        pid = r.integer("pid", 1, PID_MAX, f"a process ID (an integer from 1 to {PID_MAX})")
        subtree = r.flag("subtree")
        tracker = self.engine.tracker
        keys = m.get("keys")
        if keys is not None:
            if not isinstance(keys, list):
                raise r.bad("keys", "a list of [pid, start] pairs of integers")
            procs = []
            for i, raw in enumerate(keys):
                try:
                    key = key_from_wire(raw)
                except ValueError:
                    raise BadRequest(
                        f"'keys' must be a list of [pid, start] pairs of integers: item {i} is not"
                    ) from None
                proc = tracker.procs.get(key)
                if proc is None or not proc.alive:
                    raise UserError(f"PID {key[0]} is not a live tracked process")
                procs.append(proc)
        else:
            name = r.group()
            procs = self.engine.targets(name, pid, subtree)
            if not procs:
                raise UserError(f"group {name!r} has no live process to signal")
        results = self.engine.signal(procs, sig)
        return {
            "signal": sig.name,
            "results": [{"pid": r.pid, "ok": r.ok, "error": r.error} for r in results],
        }

    def _rename(self, client: Client, m: JsonObject) -> JsonObject:
        r = Request(m)
        old, new = r.group("old"), r.group("new")
        name = self.engine.rename_group(old, new).name
        self.events.rename(old, name)
        for other in self.clients.values():
            if other.group == old:
                other.group = name  # a subscription follows its group
        return {"group": name}

    def _remove(self, client: Client, m: JsonObject) -> JsonObject:
        name = Request(m).group()
        live = self.engine.tracker.group(name).live
        keys = self.engine.remove_group(name)
        return {"group": name, "dropped": len(keys), "live": live}

    def _read_log(self, client: Client, m: JsonObject) -> JsonObject:
        """Part of a group's launch log: its tail (``lines``, optional), or what follows
        ``offset``. The log is the daemon's file (0600): its clients read it through here."""
        r = Request(m)
        name = r.group()
        offset = r.integer("offset", 0, 1 << 62, "an integer, 0 or more: where to read on")
        lines = r.integer("lines", 0, 1 << 31, "an integer, 0 or more: how many last lines")
        return self.engine.read_log(name, offset, lines).to_wire()

    def _subscribe(self, client: Client, m: JsonObject) -> JsonObject:
        group = m.get("group")
        if group is not None:
            self.engine.tracker.group(Request(m).group())
        client.subscribed = True
        client.group = group
        return {"group": group}


def _describe(err: Exception) -> str:
    if isinstance(err, KeyError):
        return f"missing field {err.args[0]!r}"
    return str(err)
