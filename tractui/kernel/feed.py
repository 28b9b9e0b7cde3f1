"""The collector -> engine message protocol: length-prefixed frames over a pipe.

The collector is tractui's own child, so frames carry pickles of plain values (typed events).
The daemon's clients speak JSON lines instead (see the daemon); this link never leaves the host.

Frames, each a tuple whose first item is its kind:

- ``("ready", info)``: subscribed; ``info`` holds ``filter``, ``rcvbuf``, ``pid``, and
  ``accounting``: "" when the kernel's exit records come too, else why they do not.
- ``("error", exit_code, message)``: the collector could not start or had to stop.
- ``("batch", events, stats)``: up to ~512 events or ~50 ms of them, in kernel order, with
  the exit records among them as read, each task's taskstats datagram as ``bytes``, undecoded
  (the tracker decodes its members': :func:`~tractui.kernel.taskstats.exit_key`);
  ``stats`` holds running totals: ``datagrams`` (proc-connector events), ``lost``,
  ``malformed``, ``cpu_ns``, ``maxrss_kb``, ``acct_records`` (exit datagrams: one per exiting
  task) and ``acct_lost``.
"""

from __future__ import annotations

import errno
import os
import pickle
import select
import struct
from typing import Any

_LEN = struct.Struct("=I")
MAX_FRAME = 64 << 20

Frame = tuple[Any, ...]  # a frame's content: see the kinds above


def readable(fd: int, timeout: float) -> bool:
    """Whether ``fd`` has something to read, waiting up to ``timeout`` s. poll(2), not
    select(2): select refuses a descriptor numbered 1024 or more, and the UI's sampler keeps
    thousands of /proc files open (a collector or a link opened after them gets such a number).
    An error or a hang-up on the fd counts as readable: the read says what it is; a descriptor
    that is not open raises OSError (EBADF), as select does."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    ready = poller.poll(max(0, int(timeout * 1000 + 0.999)))
    if ready and ready[0][1] & select.POLLNVAL:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))
    return bool(ready)


def encode(message: Frame) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LEN.pack(len(body)) + body


class FrameReader:
    """Accumulates bytes from a non-blocking fd and yields whole frames."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buf = bytearray()
        self.eof = False

    def read(self, max_bytes: int = 1 << 20) -> list[Frame]:
        """Read what is there now (never blocks on a non-blocking fd); return whole frames."""
        try:
            chunk = os.read(self.fd, max_bytes)
        except BlockingIOError:
            chunk = None
        if chunk is not None:
            if not chunk:
                self.eof = True
            self._buf += chunk
        return self._split()

    def _split(self) -> list[Frame]:
        out: list[Frame] = []
        buf = self._buf
        pos = 0
        while len(buf) - pos >= 4:
            (size,) = _LEN.unpack_from(buf, pos)
            if size > MAX_FRAME:
                raise ValueError(f"collector frame of {size} bytes is larger than {MAX_FRAME}")
            if len(buf) - pos - 4 < size:
                break
            out.append(pickle.loads(buf[pos + 4 : pos + 4 + size]))
            pos += 4 + size
        if pos:
            del buf[:pos]
        return out
