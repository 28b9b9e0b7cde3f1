"""The kernel's proc connector: socket set-up, subscription, the hot-path decoder, typed events.

Every event is its own 76-byte datagram: nlmsghdr (16) + cn_msg (20) + proc_event (40). One
precompiled ``struct.Struct`` reads all of it; pyroute2's per-message marshal is ~25x too slow for
a fork storm (README), so it serves as the reference the tests check our decoder against.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

# The kernel's values (linux/netlink.h, linux/connector.h, linux/cn_proc.h). pyroute2 has them
# too, but importing it costs the collector 24 MiB and 0.2 s (bench/storm); the unit tests
# check these against pyroute2's.
NETLINK_CONNECTOR = 11
NLMSG_DONE = 3
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_CN_MCAST_IGNORE = 2
PROC_EVENT_NONE = 0x0
PROC_EVENT_FORK = 0x1
PROC_EVENT_EXEC = 0x2
PROC_EVENT_COMM = 0x200
PROC_EVENT_EXIT = 0x80000000

# What we ask the kernel (Linux >= 6.6) to send us; everything else is filtered in the kernel.
EVENT_MASK = PROC_EVENT_FORK | PROC_EVENT_EXEC | PROC_EVENT_EXIT | PROC_EVENT_COMM
PROC_EVENT_ALL = 0xFFFFFFFF  # proc_cn_event's "everything", used to get an ack (see subscribe)

SO_RCVBUFFORCE = 33
SO_MEMINFO = 55
SK_MEMINFO_DROPS = 8

DEFAULT_RCVBUF = 16 << 20

# nlmsghdr: len type flags seq pid | cn_msg: idx val seq ack len flags |
# proc_event: what cpu timestamp_ns | event_data as six u32 (fork, exec, exit, comm all fit)
DATAGRAM = struct.Struct("=IHHII IIIIHH IIQ IIIIII")
DATAGRAM_SIZE = DATAGRAM.size  # 76
HEADER_SIZE = 16 + 20 + 16  # up to and including timestamp_ns
COMM_OFFSET = HEADER_SIZE + 8  # comm follows process_pid and process_tgid
_CONTROL = struct.Struct("=IHHII IIIIHH")
_INPUT = struct.Struct("=II")  # proc_input: mcast_op, event_type (Linux >= 6.6)
_LEGACY_INPUT = struct.Struct("=I")  # just mcast_op


# ---- typed events ----------------------------------------------------------------------------


class Fork(NamedTuple):
    """A task was created. The parent is the child's real_parent at fork time: the forker."""

    ts: int  # CLOCK_MONOTONIC ns
    parent_pid: int
    parent_tgid: int
    child_pid: int
    child_tgid: int

    @property
    def is_thread(self) -> bool:
        return self.child_pid != self.child_tgid


class Exec(NamedTuple):
    """A process called execve. ``info`` is what /proc said right then (None if already gone)."""

    ts: int
    pid: int
    tgid: int
    info: ProcInfo | None = None


class Exit(NamedTuple):
    """A task ended. ``status`` is the raw wait status; decode it with :meth:`decoded`."""

    ts: int
    pid: int
    tgid: int
    status: int
    parent_pid: int
    parent_tgid: int

    @property
    def is_thread(self) -> bool:
        return self.pid != self.tgid

    def decoded(self) -> ExitStatus:
        return ExitStatus.from_wait_status(self.status)


class Comm(NamedTuple):
    """A task changed its name (prctl PR_SET_NAME, or a thread name)."""

    ts: int
    pid: int
    tgid: int
    comm: str


class Loss(NamedTuple):
    """The kernel dropped events: ``dropped`` of them (from the socket's drop counter)."""

    ts: int
    dropped: int


Event = Fork | Exec | Exit | Comm | Loss


class ProcInfo(NamedTuple):
    """A process as /proc shows it at one instant (read by :mod:`tractui.kernel.procfs`).

    ``read_ns`` is when that read ended, on the clock of the events' ``ts`` (CLOCK_MONOTONIC,
    the proc connector's ktime_get_ns); 0 if not known. An exec of the same pid stamped at or
    before it means the read may show that later program, not the one it was made for.
    """

    pid: int
    start: int  # ns since boot (CLOCK_BOOTTIME), from /proc/PID/stat starttime
    ppid: int
    comm: str
    argv: tuple[str, ...]
    exe: str
    uid: int
    threads: int
    state: str
    kthread: bool
    read_ns: int = 0
    # cutime and cstime (clock ticks): the CPU of the children it had reaped by then; what a
    # process that joins by this read had reaped before is not its group's (tractui.model.reaped)
    cut_ticks: tuple[int, int] = (0, 0)


# The kernel stamps an exec event after the new program is in place (fs/exec.c: the mm, comm
# and exe switch in begin_new_exec; proc_exec_connector runs once the binary is loaded): a
# /proc read that ended this little before a later exec's stamp may already show that program's
# comm and exe (measured: 20-50 us before the stamp, static binaries; the argv under 1 us).
EXEC_SETUP_NS = 100_000


def read_superseded(read_ns: int, later_exec_ts: int) -> bool:
    """Whether a /proc read that ended at ``read_ns`` (0: not known) may show the program of an
    exec of the same process stamped ``later_exec_ts``, not the one it was read for."""
    return read_ns > 0 and later_exec_ts <= read_ns + EXEC_SETUP_NS


@dataclass(frozen=True, slots=True)
class ExitStatus:
    """A decoded wait status: an exit code, or the signal that ended the process."""

    code: int | None = None
    signal: int | None = None
    core: bool = False

    @classmethod
    def from_wait_status(cls, status: int) -> ExitStatus:
        """The status decoded; one shared object per status (thousands of exits, a few kinds)."""
        decoded = _DECODED.get(status)
        if decoded is None:
            sig = status & 0x7F
            if sig == 0:
                decoded = cls(code=(status >> 8) & 0xFF)
            else:
                decoded = cls(signal=sig, core=bool(status & 0x80))
            _DECODED[status] = decoded
        return decoded

    @property
    def failed(self) -> bool:
        return self.signal is not None or bool(self.code)

    def shell_code(self) -> int:
        """The exit status a shell would report: the code, or 128 + the signal."""
        if self.signal is not None:
            return 128 + self.signal
        return self.code or 0

    def describe(self) -> str:
        if self.signal is None:
            return f"exit {self.code}"
        text = signal_name(self.signal)
        return f"{text} (core)" if self.core else text

    def to_json(self) -> dict[str, int | bool]:
        if self.signal is None:
            return {"code": self.code or 0}
        return {"signal": self.signal, "core": self.core}

    @classmethod
    def from_json(cls, value: object) -> ExitStatus:
        """The inverse of :meth:`to_json`; ValueError for anything else."""
        if isinstance(value, dict):
            code, sig, core = value.get("code"), value.get("signal"), value.get("core", False)
            if type(code) is int and sig is None and 0 <= code <= 255:
                return cls(code=code)
            if code is None and type(sig) is int and 0 < sig < 128 and type(core) is bool:
                return cls(signal=sig, core=core)
        raise ValueError(f"bad exit status {value!r}")


_DECODED: dict[int, ExitStatus] = {}  # wait status -> its ExitStatus (at most 65,536)


def signal_name(number: int) -> str:
    import signal as _signal

    try:
        return _signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# ---- decoding --------------------------------------------------------------------------------


@dataclass(slots=True)
class DecodeStats:
    """What the decoder saw besides useful events."""

    malformed: int = 0  # short, wrong length, wrong connector id
    other: int = 0  # well-formed events we did not ask for (uid, sid, ptrace...) and acks


def decode(buf: bytes | bytearray | memoryview, n: int, stats: DecodeStats) -> Event | None:
    """Decode one datagram of ``n`` bytes at the start of ``buf``; None if not a useful event."""
    if n < DATAGRAM_SIZE:
        stats.malformed += 1
        return None
    (nl_len, _t, _f, _s, _p, idx, val, _cs, _ack, cn_len, _cf, what, _cpu, ts, a, b, c, d, e, f) = (
        DATAGRAM.unpack_from(buf)
    )
    if idx != CN_IDX_PROC or val != CN_VAL_PROC or nl_len > n or cn_len + 36 > nl_len:
        stats.malformed += 1
        return None
    if what == PROC_EVENT_FORK:
        return Fork(ts, a, b, c, d)
    if what == PROC_EVENT_EXEC:
        return Exec(ts, a, b)
    if what == PROC_EVENT_EXIT:
        return Exit(ts, a, b, c, e, f)
    if what == PROC_EVENT_COMM:
        raw = bytes(buf[COMM_OFFSET : COMM_OFFSET + 16])
        return Comm(ts, a, b, raw.split(b"\0", 1)[0].decode("utf-8", "replace"))
    stats.other += 1
    return None


# ---- the socket ------------------------------------------------------------------------------


class ConnectorError(Exception):
    """The proc connector cannot be used here. ``exit_code`` is distinct per cause."""

    exit_code = 70

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code  # as reported by the collector process


class NoPermission(ConnectorError):
    exit_code = 77  # EX_NOPERM


class NotSupported(ConnectorError):
    exit_code = 69  # EX_UNAVAILABLE


class WrongNamespace(ConnectorError):
    exit_code = 68


def kernel_version(release: str | None = None) -> tuple[int, int]:
    release = release or os.uname().release
    parts = release.split(".")
    try:
        return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    except (IndexError, ValueError):
        return (0, 0)


def supports_filter(release: str | None = None) -> bool:
    """Linux 6.6 added per-socket event filters and listening without CAP_NET_ADMIN."""
    return kernel_version(release) >= (6, 6)


def _errors_for(err: OSError, step: str) -> ConnectorError:
    if err.errno in (errno.EPERM, errno.EACCES):
        return NoPermission(
            f"no permission to {step} the proc connector: run tractui as root "
            f"(sudo), or on Linux >= 6.6 as any user"
        )
    if err.errno == errno.ECONNREFUSED:
        return WrongNamespace(
            "the proc connector refused us: tractui must run in the initial network namespace "
            "(not inside a container's own network namespace)"
        )
    if err.errno in (errno.EPROTONOSUPPORT, errno.EAFNOSUPPORT, errno.ENOENT):
        return NotSupported(
            "this kernel has no netlink connector (CONFIG_CONNECTOR): tractui needs a kernel "
            "built with CONFIG_CONNECTOR and CONFIG_PROC_EVENTS"
        )
    return ConnectorError(f"cannot {step} the proc connector: {err.strerror or err}")


def size_rcvbuf(sock: socket.socket, want: int) -> int:
    """Give a netlink socket a receive buffer of ``want`` bytes (beyond net.core.rmem_max as
    root, else up to it); the size it got."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, want)
    except OSError:  # not root: capped by net.core.rmem_max
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, want)
    # the kernel doubles what it was given, for its bookkeeping
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2


def socket_drops(sock: socket.socket) -> int:
    """A netlink socket's drop counter (SO_MEMINFO); -1 if the kernel does not tell."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 64)
    except OSError:
        return -1
    if len(raw) < 4 * (SK_MEMINFO_DROPS + 1):
        return -1
    return int(struct.unpack_from("=I", raw, 4 * SK_MEMINFO_DROPS)[0])


class ProcConnector:
    """A subscribed proc-connector socket. Use :meth:`read_into` to drain it."""

    def __init__(self, rcvbuf: int = DEFAULT_RCVBUF, use_filter: bool | None = None) -> None:
        self.requested_rcvbuf = rcvbuf
        self.use_filter = supports_filter() if use_filter is None else use_filter
        self.sock: socket.socket | None = None
        self.rcvbuf = 0
        self.stats = DecodeStats()
        self.lost = 0  # events the kernel dropped, as far as we know
        self._drops_seen = 0
        self._buf = bytearray(256)
        self._view = memoryview(self._buf)
        self._ack = (os.getpid() & 0xFFFF) << 8

    # set-up

    def open(self, ack_timeout: float = 1.0) -> ProcConnector:
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
        except OSError as err:
            raise _errors_for(err, "open") from err
        self.sock = sock
        try:
            sock.bind((0, CN_IDX_PROC))
        except OSError as err:
            self.close()
            raise _errors_for(err, "join") from err
        self.rcvbuf = size_rcvbuf(sock, self.requested_rcvbuf)
        try:
            self._subscribe(ack_timeout)
        except BaseException:
            self.close()
            raise
        sock.setblocking(False)
        return self

    def _send_control(self, payload: bytes) -> None:
        assert self.sock is not None
        self._ack += 1
        cn = (CN_IDX_PROC, CN_VAL_PROC, 0, self._ack, len(payload), 0)
        header = _CONTROL.pack(36 + len(payload), NLMSG_DONE, 0, 0, 0, *cn)
        try:
            self.sock.sendto(header + payload, (0, 0))
        except OSError as err:
            raise _errors_for(err, "subscribe to") from err

    def _subscribe(self, timeout: float) -> None:
        # With a filter set the kernel filters its own ack (what=NONE) too, so first listen for
        # everything, which is acked, and only then narrow the mask.
        if self.use_filter:
            self._send_control(_INPUT.pack(PROC_CN_MCAST_LISTEN, PROC_EVENT_ALL))
        else:
            self._send_control(_LEGACY_INPUT.pack(PROC_CN_MCAST_LISTEN))
        err = self._wait_ack(timeout)
        if err is None:
            raise NotSupported(
                "the kernel never answered our subscription: it lacks CONFIG_PROC_EVENTS, or "
                "this is not the initial PID namespace; run tractui on the host"
            )
        if err:
            raise _errors_for(OSError(err, os.strerror(err)), "subscribe to")
        if self.use_filter:
            self._send_control(_INPUT.pack(PROC_CN_MCAST_LISTEN, EVENT_MASK))

    def _wait_ack(self, timeout: float) -> int | None:
        """The error number the kernel acked our last control message with, None if silent."""
        assert self.sock is not None
        deadline = time.monotonic() + timeout
        want = self._ack + 1
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                n = self.sock.recv_into(self._buf)
            except TimeoutError:
                return None
            except OSError as err:
                if err.errno == errno.ENOBUFS:
                    continue
                raise _errors_for(err, "read") from err
            if n < DATAGRAM_SIZE:
                continue
            fields = DATAGRAM.unpack_from(self._buf)
            if fields[11] == PROC_EVENT_NONE and fields[8] == want:
                return int(fields[14])
        return None

    def fileno(self) -> int:
        assert self.sock is not None
        return self.sock.fileno()

    # the hot path

    def read_into(
        self,
        out: list[Event],
        limit: int,
        on_exec: Callable[[int], ProcInfo | None] | None = None,
    ) -> int:
        """Append up to ``limit`` decoded events to ``out``; return datagrams read (0: empty).

        ``on_exec(pid)`` is called the moment an exec is decoded (a short program is gone
        within a millisecond) and its answer becomes the event's ``info``. Never blocks. On
        overflow the kernel raises ENOBUFS once and drops until the queue drains; we keep
        reading and append a :class:`Loss` with the dropped count.
        """
        assert self.sock is not None
        recv_into = self.sock.recv_into
        buf = self._buf
        view = self._view
        stats = self.stats
        append = out.append
        n_read = 0
        while n_read < limit:
            try:
                n = recv_into(buf)
            except BlockingIOError:
                break
            except OSError as err:
                if err.errno == errno.ENOBUFS:
                    self._note_loss(out, at_least=1)
                    continue
                raise
            n_read += 1
            event = decode(view, n, stats)
            if event is not None:
                if on_exec is not None and type(event) is Exec:
                    event = Exec(event.ts, event.pid, event.tgid, on_exec(event.pid))
                append(event)
        return n_read

    def kernel_drops(self) -> int:
        """The socket's drop counter (SO_MEMINFO); -1 if the kernel does not tell."""
        assert self.sock is not None
        return socket_drops(self.sock)

    def check_drops(self, out: list[Event]) -> None:
        """Append a Loss if the drop counter moved since the last look."""
        self._note_loss(out, at_least=0)

    def _note_loss(self, out: list[Event], at_least: int) -> None:
        drops = self.kernel_drops()
        if drops >= 0:
            new = drops - self._drops_seen
            self._drops_seen = drops
        else:
            new = 0
        new = max(new, at_least)
        if new > 0:
            self.lost += new
            out.append(Loss(time.monotonic_ns(), new))

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is None:
            return
        try:
            sock.setblocking(True)
            self.sock = sock
            if self.use_filter:
                self._send_control(_INPUT.pack(PROC_CN_MCAST_IGNORE, 0))
            else:
                self._send_control(_LEGACY_INPUT.pack(PROC_CN_MCAST_IGNORE))
        except (OSError, ConnectorError):
            pass
        finally:
            self.sock = None
            sock.close()

    def __enter__(self) -> ProcConnector:
        return self.open() if self.sock is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()
