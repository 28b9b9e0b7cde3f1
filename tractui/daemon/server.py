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
import selectors
import signal
import socket
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tractui import paths
from tractui.daemon.client import check_server, peer_credentials
from tractui.daemon.metrics import Metrics
from tractui.daemon.notify import Notifier
from tractui.daemon.ops import Requests
from tractui.daemon.peer import CLIENT_BUFFER, Client
from tractui.daemon.protocol import (
    JsonObject,
    ProtocolError,
    delta_message,
    encode,
    snapshot_message,
)
from tractui.engine import Engine
from tractui.errors import UserError
from tractui.kernel import feed
from tractui.model.changes import Delta
from tractui.model.wire import event_to_wire
from tractui.supervise import EventRings, Restarter

log = logging.getLogger(__name__)


class DaemonRunning(UserError):
    """Another daemon answers on the socket."""


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


def listen(path: Path) -> socket.socket:
    """A non-blocking socket listening on ``path``, 0600 from the start, in a directory nobody
    else may write; refused if a daemon answers there, and a stale socket removed."""
    try:
        paths.check_socket_dir(path)  # made 0700 if new; nobody else may swap the socket
    except OSError as err:
        raise UserError(f"cannot use the socket directory {path.parent}: {err.strerror}") from None
    if path.is_socket() or path.exists():
        hello = probe(path)
        if hello is not None:
            who = f" (PID {hello['pid']})" if isinstance(hello.get("pid"), int) else ""
            raise DaemonRunning(
                f"a tractui daemon is already running on {path}{who}: use it, or stop it first"
            )
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise UserError(f"{path} exists and is not a socket: remove it or set TRACTUI_SOCKET")
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
    return listener


class Daemon:
    """Serves an :class:`Engine` on a UNIX socket until :meth:`stop` or SIGTERM/SIGINT.

    This is the loop, the sockets and the clients' buffers, and the subscriptions' deltas;
    what each request does is :class:`~tractui.daemon.ops.Requests`."""

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
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._stopping = False
        self._notices: list[str] = []  # the engine's, as subscribers last heard them
        self.metrics: Metrics | None = None  # serves /metrics, when asked to (--metrics)
        self.notifier = Notifier()  # systemd's READY=1 and watchdog, when it asks for them
        # the wall clock at boot, once: the events' creation times (see event_to_wire)
        self.boot_wall = clock() - time.clock_gettime(time.CLOCK_BOOTTIME)
        self.requests = Requests(
            engine,
            self.uid,
            self.clients,
            self.events,
            self.restarter,
            self._send_reply,
            self._send_snapshot,
        )

    # ---- the socket --------------------------------------------------------------------------

    def bind(self) -> None:
        """Listen on :attr:`path` (see :func:`listen`); the loop starts with :meth:`serve`."""
        listener = listen(self.path)
        self.listener = listener
        self.selector.register(listener, selectors.EVENT_READ, "listen")
        self.selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._register_collector()
        log.info("listening on %s", self.path)

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
        for the disk. A save that starts or stops failing is news for the subscribers. Hand
        the metrics sampler its round when one is due, and systemd's watchdog its ping."""
        self.notifier.tick()
        if self.metrics is not None:
            try:
                self.metrics.tick(self.engine)
            except Exception:  # a bug in it must not end the daemon
                log.exception("starting a metrics round failed")
        try:
            self.engine.keep_history()  # before the save: what it saves as ended is in history
        except Exception:  # a bug in it must not end the daemon (it reports OSErrors)
            log.exception("writing the history failed")
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
            return feed.readable(fd, 0)
        except OSError:  # not open (EBADF): nothing waits
            return False

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
            self._send(client, self.requests.hello_message())

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
                self.requests.run(client, message)
            except Exception:  # not even an error reply went out: end this connection only
                log.exception("a request of client PID %d failed", client.pid)
                self._drop(client, "")

    def _send(self, client: Client, message: JsonObject) -> None:
        self._send_bytes(client, encode(message))

    def _send_reply(self, client: Client, data: bytes) -> None:
        """A reply, whatever its size (a long 'list'): the client may have twice what it
        would then have unread (at least the configured buffer), as for a snapshot; the next
        reply sizes it again, so one big reply does not leave a big limit behind."""
        client.limit = max(self.client_buffer, 2 * (len(client.out) + len(data)))
        self._send_bytes(client, data)

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
        boot_wall = self.boot_wall
        events = [event_to_wire(ev, wall - (now_ns - ev.ts) / 1e9, boot_wall) for ev in delta.log]
        for ev in events:
            self.events.add(ev["tractui.group"], ev)
        self.events.keep(tracker.groups)
        subscribers = [c for c in self.clients.values() if c.subscribed]
        if not subscribers:
            return
        stats = self.requests.stats()
        messages: dict[str | None, JsonObject | None] = {}
        for client in subscribers:
            if client.group not in messages:
                messages[client.group] = delta_message(
                    tracker, delta, events, self.requests.group_wire, stats, client.group
                )
            message = messages[client.group]
            if message is not None:
                self._send(client, message)

    def _send_snapshot(self, client: Client) -> None:
        tracker = self.engine.tracker
        groups = [
            g for g in tracker.groups.values() if client.group is None or g.name == client.group
        ]
        events = [e for g in groups for e in self.events.get(g.name)]
        events.sort(key=lambda e: e["tractui.ts"])
        message = snapshot_message(
            tracker, groups, events, self.requests.group_wire, self.requests.stats()
        )
        data = encode(message)
        client.limit = max(self.client_buffer, 2 * len(data))
        if client.closed:
            return
        client.out += data
        self._flush(client)
