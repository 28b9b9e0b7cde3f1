"""The collector: reads the proc connector in a process of its own and sends batches on.

Beside it, it reads the kernel's exit records (taskstats: each ended task's exact CPU, memory and
I/O) from a second socket in the same loop, once the events are read (or, in a long drain,
when theirs is the fuller socket), and sends them in the same batches, undecoded: every exit
on the host sends one, most are no member's, and the engine decodes only its members'
(decoding each here doubled this process's CPU per exit, bench/storm). Without the privilege
they need it says why in its "ready" and works on.

A reader thread that shares the GIL with a busy UI lost 84% of a storm; a reader in its own
process lost none (README). So this process does only three things: drain the socket, read
/proc at each exec (the event carries only the pid, and a short program is gone at once), and
write batches to its stdout. It never blocks on that pipe: batches queue here while the consumer
is busy, so the kernel's queue keeps draining.

Run as ``python -m tractui.kernel.collector``; it ends when its parent does, on SIGTERM, or at EOF.
:class:`CollectorProcess` is the other end: the engine's handle on this child.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import errno
import fcntl
import logging
import os
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tractui import paths
from tractui.errors import UserError
from tractui.events import (
    DEFAULT_RCVBUF,
    SO_MEMINFO,
    ConnectorError,
    Loss,
    ProcConnector,
    ProcInfo,
)
from tractui.kernel import feed, procfs
from tractui.kernel.taskstats import AccountingUnavailable, TaskRecord, TaskstatsSocket

BATCH_MAX = 512
BATCH_INTERVAL = 0.05
# Events go on at once unless a storm is on: while they come at under QUIET_RATE a second
# (the host's, measured over the last batch), a batch is sent once the socket is drained and
# QUIET_GAP has passed since the last send (at most 250 batches a second; bench/daemon:
# fork-to-delta p50 42 -> 4 ms at 200 forks/s), not after BATCH_INTERVAL. In a storm the
# batches wait as before: each costs the engine and every subscriber a wake-up and a delta, so
# a storm's CPU per event stays what it was.
QUIET_RATE = 20_000.0
QUIET_GAP = 0.004
READ_CHUNK = 64
STORM_DRAIN = 2  # datagrams in one wake-up that mean a storm is on
STORM_PAUSE = 0.001  # the 16 MiB buffer holds ~20k events: 1 ms of a storm is ~100
MAX_PENDING_BYTES = 256 << 20  # a consumer this far behind loses batches, counted as lost
# The pipe to the engine: a storm's exit records are ~600 bytes each, and the default 64 KiB
# pipe made the engine read ~100 exits per wake-up
PIPE_SIZE = 1 << 20
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
START_TIMEOUT = 10.0  # for the engine's side: the collector subscribed, or it says why not
_MEMINFO_HEAD = struct.Struct("=II")  # SK_MEMINFO_RMEM_ALLOC, SK_MEMINFO_RCVBUF

log = logging.getLogger(__name__)


class Collector:
    def __init__(
        self,
        out_fd: int,
        rcvbuf: int = DEFAULT_RCVBUF,
        batch_max: int = BATCH_MAX,
        batch_interval: float = BATCH_INTERVAL,
        use_filter: bool | None = None,
        accounting: bool = True,
        quiet_gap: float = QUIET_GAP,
    ) -> None:
        self.out_fd = out_fd
        self.quiet_gap = quiet_gap
        self.batch_max = batch_max
        self.batch_interval = batch_interval
        self.connector = ProcConnector(rcvbuf=rcvbuf, use_filter=use_filter)
        self.rcvbuf = rcvbuf
        self.want_accounting = accounting
        self.acct: TaskstatsSocket | None = None  # None: accounting off (acct_error says why)
        self.acct_error = "" if accounting else "kernel accounting not asked for"
        self.acct_records = 0
        self.acct_shed = 0  # records in batches shed (the consumer too far behind)
        self.pending: collections.deque[bytes] = collections.deque()
        self.pending_bytes = 0
        self.dropped_by_us = 0
        self.unreported = 0  # events in shed batches that no Loss has told of yet
        self.datagrams = 0
        self.stopping = False
        self.cpu_at_ready = 0
        self._faults = -1  # page faults at the last read of the peak RSS
        self._peak_rss_kb = 0

    def _enqueue(self, message: feed.Frame) -> bool:
        """Queue a message for the consumer; False if a batch was shed (the backlog is full)."""
        frame = feed.encode(message)
        if self.pending_bytes + len(frame) > MAX_PENDING_BYTES and message[0] == "batch":
            return False
        self.pending.append(frame)
        self.pending_bytes += len(frame)
        return True

    def _flush(self) -> bool:
        """Write what the pipe takes now; False once the reader has gone."""
        while self.pending:
            frame = self.pending[0]
            try:
                written = os.write(self.out_fd, frame)
            except BlockingIOError:
                return True
            except BrokenPipeError:
                return False
            self.pending_bytes -= written
            if written < len(frame):
                self.pending[0] = frame[written:]
                return True
            self.pending.popleft()
        return True

    def _stats(self) -> dict[str, int]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        # the peak RSS grows only by a page fault: /proc/self/status read again only then (a
        # read per batch, up to 250 a second, was a fifth of this process's CPU: bench/ui)
        faults = usage.ru_minflt + usage.ru_majflt
        if faults != self._faults:
            self._faults = faults
            self._peak_rss_kb = procfs.peak_rss_kb()
        return {
            "datagrams": self.datagrams,
            "lost": self.connector.lost + self.dropped_by_us,
            "malformed": self.connector.stats.malformed,
            # CPU since we were ready: start-up (imports) is not per-event cost
            "cpu_ns": _cpu_ns(usage) - self.cpu_at_ready,
            "maxrss_kb": self._peak_rss_kb,
            "acct_records": self.acct_records,
            "acct_lost": (self.acct.lost if self.acct is not None else 0) + self.acct_shed,
        }

    def _open_accounting(self) -> None:
        """The taskstats socket; if it cannot be had, why (and we go on without it)."""
        if not self.want_accounting:
            return
        try:
            self.acct = TaskstatsSocket(rcvbuf=self.rcvbuf).open()
        except AccountingUnavailable as err:
            self.acct_error = err.message
        except OSError as err:  # pragma: no cover - open() turns these into the above
            self.acct_error = f"cannot open kernel accounting: {err}"

    def run(self) -> int:
        try:
            self.connector.open()
        except ConnectorError as err:
            self._enqueue(("error", err.exit_code, err.message))
            self._drain_blocking()
            return err.exit_code
        self._open_accounting()
        self.cpu_at_ready = _cpu_ns(resource.getrusage(resource.RUSAGE_SELF))
        info = {
            "filter": self.connector.use_filter,
            "rcvbuf": self.connector.rcvbuf,
            "accounting": self.acct_error,  # "" when on, else why it is off
        }
        self._enqueue(("ready", {**info, "pid": os.getpid()}))
        parent = os.getppid()
        os.set_blocking(self.out_fd, False)
        sock_fd = self.connector.fileno()
        fds = [sock_fd]
        batch: list[Any] = []  # Event | bytes (an exit datagram): both readers append to it
        batch_started = time.monotonic()
        quiet = True  # the last batch sent was small: send the next one soon (QUIET_GAP)
        last_sent = 0.0
        read_into = self.connector.read_into
        # The exit records are read at each wake-up for events, never woken for: each task's
        # record is queued before its exit event, so the event that wakes us finds it there
        # (a wake-up of its own per record cost the storm bench 30% more collector CPU).
        acct_read = self.acct.read_raw_into if self.acct is not None else None
        saw_exec = False

        def read_info(pid: int) -> ProcInfo | None:
            nonlocal saw_exec
            saw_exec = True
            return procfs.read_info(pid)

        try:
            while not self.stopping:
                if not batch:
                    wait = self.batch_interval
                elif quiet:
                    wait = max(0.0, last_sent + self.quiet_gap - time.monotonic())
                else:
                    wait = max(0.0, batch_started + self.batch_interval - time.monotonic())
                want_write = [self.out_fd] if self.pending else []
                drained = 0
                try:
                    readable, writable, _ = select.select(fds, want_write, [], wait)
                except InterruptedError:
                    continue
                if not readable and acct_read is not None:
                    batch = self._read_records(batch)  # a quiet moment: in case one is left
                if readable:
                    if not batch:
                        batch_started = time.monotonic()
                    while True:
                        n = read_into(batch, READ_CHUNK, read_info)
                        if n == 0:
                            if acct_read is not None:
                                # the exit records once the events are read: read before, or
                                # while events queue, a record comes before its process's
                                # fork event (it lived and died since); after, it may still
                                # precede its exit event, or follow it
                                batch = self._read_records(batch)
                            break
                        drained += n
                        self.datagrams += n
                        if len(batch) >= self.batch_max:
                            if acct_read is not None and self._records_fuller():
                                # and some after a batch of a long drain, when their queue is
                                # the fuller: read only once the events ran dry, a storm's
                                # records queued up to 23 of the socket's 32 MiB (bench/storm);
                                # read after each batch, a collector short of CPU spent it on
                                # records while the kernel dropped events. One read ahead of
                                # its fork event is kept by the tracker for a while (orphans).
                                batch = self._read_records(batch, self.batch_max)
                            if batch:
                                self._send(batch)
                            quiet = False
                            batch = []
                            batch_started = last_sent = time.monotonic()
                            if not self._flush():
                                return 0
                    if drained >= STORM_DRAIN and not saw_exec:
                        # Events come faster than we wake: let the queue fill for a moment so
                        # one wake-up drains many (bench/storm: 6.8 -> 4.5 us/event). Not after
                        # an exec: the next one's /proc entry may last under a millisecond.
                        time.sleep(STORM_PAUSE)
                    saw_exec = False
                now = time.monotonic()
                if batch and (
                    len(batch) >= self.batch_max
                    or now - batch_started >= self.batch_interval
                    or (quiet and now - last_sent >= self.quiet_gap and drained < READ_CHUNK)
                ):
                    quiet = len(batch) < QUIET_RATE * max(now - last_sent, self.quiet_gap)
                    self._send(batch)
                    batch = []
                    last_sent = now
                if (self.pending or writable) and not self._flush():
                    return 0  # the consumer went away
                if os.getppid() != parent:
                    return 0
        finally:
            self.connector.close()
            if self.acct is not None:
                self.acct.close()
        return 0

    def _records_fuller(self) -> bool:
        """The exit records' socket is at least as full as the events' (bytes queued against
        each one's limit): reading from the fuller first keeps both short of dropping."""
        assert self.acct is not None and self.connector.sock is not None
        return _fill(self.acct.sock) >= _fill(self.connector.sock)

    def _read_records(self, batch: list[Any], limit: int = 0) -> list[Any]:
        """The exit records queued now (at most ``limit`` if given), each task's datagram
        undecoded, into ``batch``, sent on whenever it is full (thousands may be queued: one
        batch of them all took the collector's peak RSS to 50 MiB); return the batch to go
        on with."""
        assert self.acct is not None
        read_raw_into = self.acct.read_raw_into
        left = limit
        while True:
            before = len(batch)
            n = read_raw_into(batch, READ_CHUNK)
            self.acct_records += len(batch) - before
            if len(batch) >= self.batch_max:
                self._send(batch)
                batch = []
            if n < READ_CHUNK:
                return batch
            if limit:
                left -= n
                if left <= 0:
                    return batch

    def _send(self, batch: list[Any]) -> None:
        self.connector.check_drops(batch)  # a Loss, if any, goes after what did arrive
        if self.acct is not None:
            self.acct.check_drops()  # counted, never a rescan: no event was lost
        if self.unreported:
            # batches we shed earlier: the consumer must know, to rescan /proc
            batch.append(Loss(time.monotonic_ns(), self.unreported))
        if self._enqueue(("batch", batch, self._stats())):
            self.unreported = 0
        else:
            records = sum(1 for e in batch if type(e) is bytes or type(e) is TaskRecord)
            shed = len(batch) - records - sum(1 for e in batch if type(e) is Loss)
            self.dropped_by_us += shed
            self.unreported += shed
            self.acct_shed += records

    def _drain_blocking(self) -> None:
        os.set_blocking(self.out_fd, True)
        self._flush()

    def stop(self, *_: object) -> None:
        self.stopping = True


def _fill(sock: socket.socket | None) -> float:
    """How full a socket's receive queue is: bytes queued over its limit (SO_MEMINFO)."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 8) if sock is not None else b""
    except OSError:
        return 0.0
    if len(raw) < 8:
        return 0.0
    queued, limit = _MEMINFO_HEAD.unpack_from(raw)
    return queued / limit if limit else 0.0


def _cpu_ns(usage: resource.struct_rusage) -> int:
    return int((usage.ru_utime + usage.ru_stime) * 1e9)


class CollectorProcess:
    """``python -m tractui.kernel.collector`` as a child in its own session, read through a pipe."""

    def __init__(
        self,
        extra_args: list[str] | None = None,
        verbose: bool = False,
        stderr_path: Path | None = None,
    ) -> None:
        self.extra_args = extra_args or []
        self.verbose = verbose  # its stderr is ours
        self.stderr_path = stderr_path  # else appended to this file; None: discarded
        self.proc: subprocess.Popen[bytes] | None = None
        self.reader: feed.FrameReader | None = None
        self.info: dict[str, Any] = {}

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self, timeout: float = START_TIMEOUT) -> dict[str, Any]:
        """Start it and wait until it is subscribed; raise ConnectorError with its reason."""
        stderr = self._open_stderr()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tractui.kernel.collector", *self.extra_args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,  # the terminal's Ctrl-C is not for it
                close_fds=True,
            )
        finally:
            if stderr is not None and stderr >= 0:
                os.close(stderr)
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        os.set_blocking(fd, False)
        with contextlib.suppress(OSError):  # a bigger pipe: each read of ours takes more
            fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)
        self.reader = feed.FrameReader(fd)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            feed.readable(fd, 0.1)
            for message in self.reader.read():
                if message[0] == "ready":
                    self.info = message[1]
                    return self.info
                if message[0] == "error":
                    self.stop()
                    raise ConnectorError(message[2], exit_code=message[1])
            if self.reader.eof:
                code = self.proc.wait()
                self.proc = None
                raise ConnectorError(f"the event collector exited at start (status {code})")
        self.stop()
        raise ConnectorError(f"the event collector did not start within {timeout:.0f} s")

    def _open_stderr(self) -> int | None:
        """The collector's stderr: ours (None), the log file (a descriptor), or DEVNULL."""
        if self.verbose:
            return None
        if self.stderr_path is None:
            return subprocess.DEVNULL
        try:
            paths.check_log_dir(self.stderr_path.parent)
            fd = paths.open_private(self.stderr_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        except (OSError, UserError) as err:
            log.warning("the collector's stderr is discarded: %s", err)
            return subprocess.DEVNULL
        # a traceback in an append-only log needs to say which run it belongs to
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        try:
            os.write(fd, f"--- {stamp} tractui {os.getpid()}: starting the collector\n".encode())
        except OSError as err:  # a full disk is no reason not to start
            log.warning("cannot write to %s: %s", self.stderr_path, err)
        return fd

    def fileno(self) -> int:
        assert self.reader is not None
        return self.reader.fd

    def alive(self) -> bool:
        return (
            self.proc is not None
            and self.proc.poll() is None
            and not (self.reader is not None and self.reader.eof)
        )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tractui.kernel.collector")
    parser.add_argument("--rcvbuf", type=int, default=DEFAULT_RCVBUF)
    parser.add_argument("--batch-max", type=int, default=BATCH_MAX)
    parser.add_argument("--batch-interval", type=float, default=BATCH_INTERVAL)
    parser.add_argument(
        "--quiet-gap", type=float, default=QUIET_GAP, help="s between two batches of a quiet host"
    )
    parser.add_argument("--no-filter", action="store_true", help="use the legacy subscription")
    parser.add_argument(
        "--no-accounting", action="store_true", help="no kernel exit records (taskstats)"
    )
    args = parser.parse_args(argv)
    out_fd = os.dup(sys.stdout.fileno())
    # Nothing else may write to the frame pipe: stdout now goes where stderr goes.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    collector = Collector(
        out_fd,
        rcvbuf=args.rcvbuf,
        batch_max=args.batch_max,
        batch_interval=args.batch_interval,
        use_filter=False if args.no_filter else None,
        accounting=not args.no_accounting,
        quiet_gap=args.quiet_gap,
    )
    signal.signal(signal.SIGTERM, collector.stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return collector.run()
    except OSError as err:
        if err.errno == errno.EPIPE:
            return 0
        collector.pending.clear()
        collector._enqueue(("error", 70, f"collector failed: {err}"))
        collector._drain_blocking()
        return 70


if __name__ == "__main__":
    raise SystemExit(main())
