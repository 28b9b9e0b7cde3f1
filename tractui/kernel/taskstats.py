"""The kernel's per-task accounting (taskstats): socket set-up, the hot-path decoder, typed records.

When a task exits, the kernel sends every registered listener one generic-netlink datagram: an
nlmsghdr (16), a genlmsghdr (4), then a ``TASKSTATS_TYPE_AGGR_PID`` attribute holding the task's
``TASKSTATS_TYPE_PID`` and ``TASKSTATS_TYPE_STATS`` (a ``struct taskstats``), and, when the last
thread of a multi-threaded process exits, a ``TASKSTATS_TYPE_AGGR_TGID`` with the whole thread
group's sums. We walk those attributes by hand and read each ``struct taskstats`` with one
precompiled ``struct.Struct`` per layout; pyroute2's marshal is the reference the tests check us
against (and ~14x slower, bench/accounting/decode.py).

Layouts (include/uapi/linux/taskstats.h). The kernel only appends to the struct, except version
15, which inserted ``*_delay_max``/``*_delay_min`` after each delay pair and so moved every later
field by 48 bytes (pyroute2 describes it so); version 16 put them back at the end (Linux 6.18
sends 16: a real record's ac_comm sits at offset 80, as in 14). So versions 10-14
and 16 and later share one layout for the fields we read; 15 has its own.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import time
from typing import Any, NamedTuple

from tractui.events import size_rcvbuf, socket_drops

# The kernel's values (linux/netlink.h, linux/genetlink.h, linux/taskstats.h). pyroute2 has them
# too, but importing it costs the collector 22 MiB and 0.1 s; the unit tests check these against
# pyroute2's, and the family id we look up against the one pyroute2 looks up.
NETLINK_GENERIC = 16
NLMSG_ERROR = 2
NLM_F_REQUEST = 1
NLM_F_ACK = 4
GENL_ID_CTRL = 0x10
CTRL_CMD_NEWFAMILY = 1
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
TASKSTATS_GENL_NAME = "TASKSTATS"
TASKSTATS_GENL_VERSION = 1
TASKSTATS_CMD_GET = 1
TASKSTATS_CMD_NEW = 2
TASKSTATS_TYPE_PID = 1
TASKSTATS_TYPE_TGID = 2
TASKSTATS_TYPE_STATS = 3
TASKSTATS_TYPE_AGGR_PID = 4
TASKSTATS_TYPE_AGGR_TGID = 5
TASKSTATS_CMD_ATTR_REGISTER_CPUMASK = 3
TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK = 4
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER


DEFAULT_RCVBUF = 16 << 20
RECV_SIZE = 16 << 10  # one datagram: ~600 bytes per record today, two records at most

_NLMSGHDR = struct.Struct("=IHHII")
_GENLHDR = struct.Struct("=BBH")
_NLA = struct.Struct("=HH")
_U16 = struct.Struct("=H")
_U32 = struct.Struct("=I")
_I32 = struct.Struct("=i")
# the first 36 bytes of an exit message as the kernel builds it: nlmsghdr, genlmsghdr, the
# aggregate's header, its PID/TGID attribute (header and u32), the STATS attribute's header
_FAST = struct.Struct("=IHHIIBBHHHHHIHH")

# struct taskstats, the fields we read; "x" skips the rest. Shared head: version, pad, exitcode,
# flag, nice, pad to 16.
_HEAD = "=H2xIBB6x"
# From ac_comm to nivcsw: comm[32], ac_sched+pad (8), uid, gid, pid, ppid, btime, pad, etime,
# utime, stime, minflt, majflt, coremem and virtmem (2), hiwater_rss, hiwater_vm,
# read_char..write_syscalls (4), read_bytes, write_bytes, cancelled_write_bytes, nvcsw, nivcsw.
_MIDDLE = "32s8x8xIII4xQQQQQ16xQ8x32xQQ8xQQ"
# Versions 10-12: 6 delay u64s, cpu_run_real_total, cpu_run_virtual_total (read: the task's
# sum_exec_runtime, its exact CPU time in ns; utime/stime are samples at each tick), then the
# middle (288 bytes).
LAYOUT_V10 = struct.Struct(_HEAD + "56xQ" + _MIDDLE)
# Versions 13, 14, 16+: as 10-12, then the scaled times (3), freepages and thrashing pairs,
# ac_btime64, the compact pair, ac_tgid.
LAYOUT_V13 = struct.Struct(_HEAD + "56xQ" + _MIDDLE + "24x32x8x16xI")
# Version 15: 12 delay u64s plus 2 run totals before ac_comm, and max/min after each later pair.
LAYOUT_V15 = struct.Struct(_HEAD + "104xQ" + _MIDDLE + "24x64x8x32xI")
MIN_VERSION = 10
# The kernel's exit message (see _FAST) and its struct taskstats in the layout of 13, 14 and 16+
# (every kernel since 5.x but 6.x's version 15), read with one unpack: the engine decodes every
# member's record, ~50,000 a storm, and this halves the cost of one (bench/accounting/decode.py)
_FLAT = struct.Struct("=IHHIIBBHHHHHIHH" + LAYOUT_V13.format[1:])
_FLAT_STATS = _FLAT.size - 36


class TaskRecord(NamedTuple):
    """One task's exact account, sent by the kernel when it exited.

    ``aggregate`` records are a whole thread group's sums, sent when its last thread exits; their
    ``pid`` is the thread group's id, and the per-task fields the kernel does not sum (comm, ppid,
    exit status, btime, peak RSS, I/O) are zero. Times are in µs; ``btime`` is seconds since the
    epoch (wall clock, as the kernel's u32 ``ac_btime``).
    """

    pid: int  # the task (TASKSTATS_TYPE_PID), or the thread group for an aggregate
    aggregate: bool
    tgid: int  # ac_tgid (version >= 13), else 0; the pid itself for an aggregate
    ppid: int
    comm: str
    status: int  # ac_exitcode: a wait status (see tractui.events.ExitStatus)
    btime: int
    etime_us: int
    utime_us: int
    stime_us: int
    hiwater_rss_kib: int
    read_bytes: int
    write_bytes: int
    nvcsw: int
    nivcsw: int
    version: int
    # cpu_run_virtual_total: the task's exact CPU time (sum_exec_runtime, ns), of which
    # utime/stime (tick samples) give the user/system split, as getrusage() does
    run_ns: int = 0
    # the task's own page faults (ac_minflt, ac_majflt: its min_flt/maj_flt, as getrusage())
    minflt: int = 0
    majflt: int = 0


class DecodeStats:
    """What the decoder saw besides records."""

    __slots__ = ("malformed", "other", "unsupported")

    def __init__(self) -> None:
        self.malformed = 0  # short, truncated, inconsistent lengths
        self.unsupported = 0  # a struct taskstats version older than MIN_VERSION
        self.other = 0  # well-formed messages that carry no record (acks, other families)


def _stats_record(
    buf: bytes | bytearray | memoryview, pos: int, size: int, task: int, aggregate: bool
) -> TaskRecord | None:
    """The record in the ``size``-byte struct taskstats at ``pos``; None if unreadable."""
    if size < 2:
        return None
    version = _U16.unpack_from(buf, pos)[0]
    if version == 15:
        layout = LAYOUT_V15
    elif version >= 13:
        layout = LAYOUT_V13
    elif version >= MIN_VERSION:
        layout = LAYOUT_V10
    else:
        return None
    if size < layout.size:
        return None
    fields = layout.unpack_from(buf, pos)
    raw_comm = fields[5]
    comm = raw_comm.split(b"\0", 1)[0].decode("utf-8", "replace")
    tgid = fields[19] if len(fields) > 19 else 0
    if aggregate:
        tgid = task
    return TaskRecord(
        task,
        aggregate,
        tgid,
        fields[7],  # ppid
        comm,
        fields[1],  # exitcode
        fields[8],  # btime
        fields[9],  # etime
        fields[10],  # utime
        fields[11],  # stime
        fields[14],  # hiwater_rss
        fields[15],  # read_bytes
        fields[16],  # write_bytes
        fields[17],  # nvcsw
        fields[18],  # nivcsw
        version,
        fields[4],  # cpu_run_virtual_total
        fields[12],  # minflt
        fields[13],  # majflt
    )


def decode(
    buf: bytes | bytearray | memoryview,
    n: int,
    family: int,
    out: list[TaskRecord],
    stats: DecodeStats,
) -> int:
    """Append the records of one ``n``-byte datagram at the start of ``buf`` to ``out``.

    ``family`` is the TASKSTATS generic-netlink family id. Returns how many were appended.
    Malformed input is counted in ``stats`` and skipped, never raised.
    """
    try:
        n = min(n, len(buf))
        if n >= _FAST.size:
            # the kernel's own shape: one message whose first attribute is an aggregate that
            # starts with its id, then its stats; read with one unpack, the rest walked
            f = _FLAT.unpack_from(buf) if n >= _FLAT.size else _FAST.unpack_from(buf)
            (nl_len, nl_type, _f, _s, _p, cmd, _v, _r, a_len, a_type, i_len, i_type, task, s_len,
             s_type) = f[:15]  # fmt: skip
            a_end = 20 + a_len
            if (
                nl_type == family
                and cmd == TASKSTATS_CMD_NEW
                and nl_len == n
                and a_end <= n
                and i_len == 8
                and s_type == TASKSTATS_TYPE_STATS
                and 32 + s_len <= a_end
                and (
                    (a_type == TASKSTATS_TYPE_AGGR_PID and i_type == TASKSTATS_TYPE_PID)
                    or (a_type == TASKSTATS_TYPE_AGGR_TGID and i_type == TASKSTATS_TYPE_TGID)
                )
                and (32 + ((s_len + 3) & ~3)) >= a_end
            ):
                aggregate = a_type == TASKSTATS_TYPE_AGGR_TGID
                record: TaskRecord | None
                if len(f) > 15 and s_len - 4 >= _FLAT_STATS and (f[15] >= 16 or 13 <= f[15] <= 14):
                    # the fields _stats_record reads, 15 on: see LAYOUT_V13
                    record = tuple.__new__(
                        TaskRecord,
                        (task, aggregate, task if aggregate else f[34], f[22],
                         f[20].split(b"\0", 1)[0].decode("utf-8", "replace"), f[16], f[23], f[24],
                         f[25], f[26], f[29], f[30], f[31], f[32], f[33], f[15], f[19], f[27],
                         f[28]),
                    )  # fmt: skip
                else:
                    record = _stats_record(buf, 36, s_len - 4, task, aggregate)
                if record is None:
                    _count_bad_stats(buf, 36, s_len - 4, stats)
                    return _decode_attrs(buf, 20 + ((a_len + 3) & ~3), n, out, stats)
                out.append(record)
                return 1 + _decode_attrs(buf, 20 + ((a_len + 3) & ~3), n, out, stats)
        return _decode(buf, n, family, out, stats)
    except (struct.error, IndexError, ValueError):  # pragma: no cover - the checks should hold
        stats.malformed += 1
        return 0


# _FAST and the stats' version: what exit_key reads
_KEY = struct.Struct("=IHHIIBBHHHHHIHHH")
_TGID_AT_V13 = 36 + LAYOUT_V13.size - 4  # ac_tgid, from the start of the kernel's datagram
_TGID_AT_V15 = 36 + LAYOUT_V15.size - 4


def exit_key(raw: bytes) -> tuple[int, int] | None:
    """(task, tgid) of the task whose exit ``raw`` (one datagram as the kernel sent it) tells
    of, read without decoding the record: what matching needs to decide whether to decode it.

    ``tgid`` is the task itself when the struct has no ``ac_tgid`` (versions before 13). None
    when ``raw`` is not in the kernel's usual shape (one message, its task's AGGR_PID first):
    :func:`decode_raw` it then, which reads any shape or counts it malformed.
    """
    n = len(raw)
    if n < _KEY.size:
        return None
    (nl_len, _t, _f, _s, _p, cmd, _v, _r, a_len, a_type, i_len, i_type, task, s_len, s_type,
     version) = _KEY.unpack_from(raw)  # fmt: skip
    if (
        nl_len != n
        or cmd != TASKSTATS_CMD_NEW
        or a_type != TASKSTATS_TYPE_AGGR_PID
        or i_type != TASKSTATS_TYPE_PID
        or i_len != 8
        or s_type != TASKSTATS_TYPE_STATS
        or 32 + s_len > 20 + a_len
        or 20 + a_len > n
        or 32 + ((s_len + 3) & ~3) < 20 + a_len  # as decode's fast path: STATS comes last
    ):
        return None
    if version == 15:
        if s_len - 4 < LAYOUT_V15.size:
            return None
        tgid = _U32.unpack_from(raw, _TGID_AT_V15)[0]
    elif version >= 13:
        if s_len - 4 < LAYOUT_V13.size:
            return None
        tgid = _U32.unpack_from(raw, _TGID_AT_V13)[0]
    elif version >= MIN_VERSION and s_len - 4 >= LAYOUT_V10.size:
        tgid = 0
    else:
        return None
    return task, tgid or task


def exit_record(raw: bytes) -> TaskRecord | None:
    """The task's own record in ``raw``, a datagram :func:`exit_key` read (it checked the
    shape: call it first), for a struct taskstats of version 13, 14 or 16+, read with one
    unpack; None for another version or size: :func:`decode_raw` it then. What the engine
    does for each member's exit, ~50,000 in a storm: ~0.8 µs against decode_raw's ~1.7."""
    if len(raw) < _FLAT.size:
        return None
    f = _FLAT.unpack_from(raw)
    version = f[15]
    if f[13] - 4 < _FLAT_STATS or not (version >= 16 or 13 <= version <= 14):
        return None
    return tuple.__new__(
        TaskRecord,
        (f[12], False, f[34], f[22], f[20].split(b"\0", 1)[0].decode("utf-8", "replace"), f[16],
         f[23], f[24], f[25], f[26], f[29], f[30], f[31], f[32], f[33], version, f[19], f[27],
         f[28]),
    )  # fmt: skip


def decode_raw(raw: bytes, out: list[TaskRecord], stats: DecodeStats) -> int:
    """:func:`decode` for a datagram the collector passed on (its family checked there)."""
    if len(raw) < 6:
        stats.malformed += 1
        return 0
    return decode(raw, len(raw), _U16.unpack_from(raw, 4)[0], out, stats)


def _decode(
    buf: bytes | bytearray | memoryview,
    n: int,
    family: int,
    out: list[TaskRecord],
    stats: DecodeStats,
) -> int:
    found = 0
    offset = 0
    if n < 16:
        stats.malformed += 1
        return 0
    while offset + 16 <= n:
        nl_len, nl_type = _NLMSGHDR.unpack_from(buf, offset)[:2]
        end = offset + nl_len
        if nl_len < 16 or end > n:
            stats.malformed += 1
            return found
        if nl_type != family:
            stats.other += 1
        elif nl_len < 20:
            stats.malformed += 1
        elif buf[offset + 16] != TASKSTATS_CMD_NEW:
            stats.other += 1
        else:
            found += _decode_attrs(buf, offset + 20, end, out, stats)
        offset += (nl_len + 3) & ~3
    return found


def _decode_attrs(
    buf: bytes | bytearray | memoryview,
    pos: int,
    end: int,
    out: list[TaskRecord],
    stats: DecodeStats,
) -> int:
    """The AGGR_PID / AGGR_TGID attributes of one message, from ``pos`` to ``end``."""
    found = 0
    while pos + 4 <= end:
        alen, atype = _NLA.unpack_from(buf, pos)
        if alen < 4 or pos + alen > end:
            stats.malformed += 1
            return found
        atype &= NLA_TYPE_MASK
        if atype in (TASKSTATS_TYPE_AGGR_PID, TASKSTATS_TYPE_AGGR_TGID):
            record = _decode_aggr(buf, pos + 4, pos + alen, atype, stats)
            if record is not None:
                out.append(record)
                found += 1
        pos += (alen + 3) & ~3
    return found


def _decode_aggr(
    buf: bytes | bytearray | memoryview, pos: int, end: int, atype: int, stats: DecodeStats
) -> TaskRecord | None:
    task = -1
    stats_pos = stats_size = -1
    while pos + 4 <= end:
        alen, inner = _NLA.unpack_from(buf, pos)
        if alen < 4 or pos + alen > end:
            stats.malformed += 1
            return None
        inner &= NLA_TYPE_MASK
        if inner in (TASKSTATS_TYPE_PID, TASKSTATS_TYPE_TGID):
            if alen < 8:
                stats.malformed += 1
                return None
            task = _U32.unpack_from(buf, pos + 4)[0]
        elif inner == TASKSTATS_TYPE_STATS:
            stats_pos, stats_size = pos + 4, alen - 4
        pos += (alen + 3) & ~3
    if task < 0 or stats_pos < 0:
        stats.malformed += 1
        return None
    record = _stats_record(buf, stats_pos, stats_size, task, atype == TASKSTATS_TYPE_AGGR_TGID)
    if record is None:
        _count_bad_stats(buf, stats_pos, stats_size, stats)
    return record


def _count_bad_stats(
    buf: bytes | bytearray | memoryview, pos: int, size: int, stats: DecodeStats
) -> None:
    if size >= 2 and _U16.unpack_from(buf, pos)[0] < MIN_VERSION:
        stats.unsupported += 1
    else:
        stats.malformed += 1


# ---- the socket ------------------------------------------------------------------------------


class AccountingUnavailable(Exception):
    """Taskstats cannot be used here; ``message`` is one line saying why, for the header."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _unavailable(err: OSError, step: str) -> AccountingUnavailable:
    if err.errno in (errno.EPERM, errno.EACCES):
        return AccountingUnavailable(
            f"no permission to {step} kernel accounting: this process lacks CAP_NET_ADMIN; "
            "run tractui as root with that capability"
        )
    if err.errno in (errno.ENOENT, errno.EPROTONOSUPPORT, errno.EAFNOSUPPORT, errno.EINVAL):
        return AccountingUnavailable(
            f"cannot {step} kernel accounting: this kernel has no taskstats "
            "(CONFIG_TASKSTATS), or it is not reachable from this network namespace"
        )
    return AccountingUnavailable(f"cannot {step} kernel accounting: {err.strerror or err}")


def cpu_mask(count: int | None = None) -> str:
    """Every possible CPU, as the kernel's cpulist syntax ("0-N")."""
    count = count or os.cpu_count() or 1
    return "0" if count == 1 else f"0-{count - 1}"


def _attr(kind: int, payload: bytes) -> bytes:
    return _NLA.pack(4 + len(payload), kind) + payload + b"\0" * (-len(payload) % 4)


class TaskstatsSocket:
    """A taskstats listener registered for every CPU's exit records. Drain it with
    :meth:`read_raw_into` (then :func:`decode_raw` what you need); ``lost`` counts datagrams
    the kernel dropped, as far as we know."""

    def __init__(self, rcvbuf: int = DEFAULT_RCVBUF, mask: str | None = None) -> None:
        self.requested_rcvbuf = rcvbuf
        self.mask = mask or cpu_mask()
        self.sock: socket.socket | None = None
        self.family = 0
        self.rcvbuf = 0
        self.stats = DecodeStats()
        self.lost = 0
        self._drops_seen = 0
        self._seq = 0
        self._buf = bytearray(RECV_SIZE)
        self._view = memoryview(self._buf)
        self._early: list[bytes] = []  # exit datagrams that came while we waited for an ack

    # set-up

    def open(self, timeout: float = 1.0) -> TaskstatsSocket:
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        except OSError as err:
            raise _unavailable(err, "open") from err
        self.sock = sock
        try:
            sock.bind((0, 0))
            self.rcvbuf = size_rcvbuf(sock, self.requested_rcvbuf)
            self.family = self._lookup_family(timeout)
            self._request(
                self.family,
                TASKSTATS_CMD_GET,
                _attr(TASKSTATS_CMD_ATTR_REGISTER_CPUMASK, self.mask.encode() + b"\0"),
                "register for",
                timeout,
            )
            sock.setblocking(False)
        except OSError as err:
            self._drop()
            raise _unavailable(err, "register for") from err
        except BaseException:
            self._drop()
            raise
        return self

    def _lookup_family(self, timeout: float) -> int:
        """The TASKSTATS family id, asked of the generic-netlink controller."""
        name = _attr(CTRL_ATTR_FAMILY_NAME, TASKSTATS_GENL_NAME.encode() + b"\0")
        reply = self._request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, name, "look up", timeout)
        pos, end = 20, len(reply)
        while pos + 4 <= end:
            alen, atype = _NLA.unpack_from(reply, pos)
            if alen < 4:
                break
            if atype & NLA_TYPE_MASK == CTRL_ATTR_FAMILY_ID and alen >= 6:
                return int(_U16.unpack_from(reply, pos + 4)[0])
            pos += (alen + 3) & ~3
        raise AccountingUnavailable("kernel accounting: the controller did not name TASKSTATS")

    def _request(self, kind: int, cmd: int, attrs: bytes, step: str, timeout: float) -> bytes:
        """Send one request with an ack asked for; the reply of ``kind`` if one came, else b""."""
        assert self.sock is not None
        self._seq += 1
        body = _GENLHDR.pack(cmd, TASKSTATS_GENL_VERSION, 0) + attrs
        header = _NLMSGHDR.pack(16 + len(body), kind, NLM_F_REQUEST | NLM_F_ACK, self._seq, 0)
        self.sock.sendto(header + body, (0, 0))
        reply = b""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                n = self.sock.recv_into(self._buf)
            except TimeoutError:
                break
            except OSError as err:
                if err.errno == errno.ENOBUFS:
                    self.lost += 1
                    continue
                raise
            if n < 16:
                continue
            nl_len, nl_type, _f, seq, _p = _NLMSGHDR.unpack_from(self._buf)
            if seq != self._seq:  # an exit record already (of our family): keep it
                if nl_type == self.family:
                    self._early.append(bytes(self._buf[:n]))
            elif nl_type == NLMSG_ERROR and n >= 20:
                code = -_I32.unpack_from(self._buf, 16)[0]
                if code:
                    raise _unavailable(OSError(code, os.strerror(code)), step)
                return reply
            else:
                reply = bytes(self._buf[: min(n, nl_len)])
        raise AccountingUnavailable(f"kernel accounting: the kernel never answered ({step})")

    def fileno(self) -> int:
        assert self.sock is not None
        return self.sock.fileno()

    # the hot path

    def read_raw_into(self, out: list[Any], limit: int) -> int:
        """Append up to ``limit`` exit datagrams to ``out`` as the kernel's bytes, undecoded;
        return datagrams read. The collector's hot path: it passes them on, and the engine
        decodes only those of members (:func:`exit_key`, :func:`decode_raw`). Datagrams of
        another family are counted in ``stats.other`` and left out. Never blocks. On overflow
        the kernel raises ENOBUFS once and drops until the queue drains; we count it in
        ``lost`` (with the socket's drop counter) and keep reading.
        """
        assert self.sock is not None
        if self._early:  # they came while we waited for an ack
            out.extend(self._early)
            self._early.clear()
        # recv_into and a copy of the datagram's size: recv(RECV_SIZE) would allocate 16 KiB
        # and shrink it, which leaves each kept datagram a 16 KiB hole (66 MiB in a storm)
        recv_into = self.sock.recv_into
        buf = self._buf
        view = self._view
        append = out.append
        low, high = self.family & 0xFF, self.family >> 8
        n_read = 0
        while n_read < limit:
            try:
                n = recv_into(buf)
            except BlockingIOError:
                break
            except OSError as err:
                if err.errno == errno.ENOBUFS:
                    self._note_loss(at_least=1)
                    continue
                raise
            n_read += 1
            if n >= 16 and buf[4] == low and buf[5] == high:
                append(bytes(view[:n]))
            else:
                self.stats.other += 1
        return n_read

    def kernel_drops(self) -> int:
        """The socket's drop counter (SO_MEMINFO); -1 if the kernel does not tell."""
        assert self.sock is not None
        return socket_drops(self.sock)

    def check_drops(self) -> int:
        """Count drops since the last look into ``lost``; return how many were new."""
        return self._note_loss(at_least=0)

    def _note_loss(self, at_least: int) -> int:
        drops = self.kernel_drops()
        new = 0
        if drops >= 0:
            new = drops - self._drops_seen
            self._drops_seen = drops
        new = max(new, at_least)
        self.lost += new
        return new

    def _drop(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()

    def close(self) -> None:
        """Deregister (the kernel would also forget us at its next failed send), and close."""
        sock = self.sock
        if sock is None:
            return
        try:
            if self.family:
                sock.setblocking(True)
                attr = _attr(TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK, self.mask.encode() + b"\0")
                body = _GENLHDR.pack(TASKSTATS_CMD_GET, TASKSTATS_GENL_VERSION, 0) + attr
                sock.sendto(_NLMSGHDR.pack(16 + len(body), self.family, 1, 0, 0) + body, (0, 0))
        except OSError:
            pass
        finally:
            self._drop()

    def __enter__(self) -> TaskstatsSocket:
        return self.open() if self.sock is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()
