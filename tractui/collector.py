"""The collector: reads the proc connector in a process of its own and sends batches on.

A reader thread that shares the GIL with a busy UI lost 84% of a storm; a reader in its own
process lost none (DESIGN.md). So this process does only three things: drain the socket, read
/proc at each exec (the event carries only the pid, and a short program is gone at once), and
write batches to its stdout. It never blocks on that pipe: batches queue here while the consumer
is busy, so the kernel's queue keeps draining.

Run as ``python -m tractui.collector``; it ends when its parent does, on SIGTERM, or at EOF.
"""

from __future__ import annotations

import argparse
import collections
import errno
import os
import resource
import select
import signal
import sys
import time

from tractui import feed, procfs
from tractui.events import (
    DEFAULT_RCVBUF,
    ConnectorError,
    Event,
    Loss,
    ProcConnector,
    ProcInfo,
)

BATCH_MAX = 512
BATCH_INTERVAL = 0.05
READ_CHUNK = 64
STORM_DRAIN = 2  # datagrams in one wake-up that mean a storm is on
STORM_PAUSE = 0.001  # the 16 MiB buffer holds ~20k events: 1 ms of a storm is ~100
MAX_PENDING_BYTES = 256 << 20  # a consumer this far behind loses batches, counted as lost


class Collector:
    def __init__(
        self,
        out_fd: int,
        rcvbuf: int = DEFAULT_RCVBUF,
        batch_max: int = BATCH_MAX,
        batch_interval: float = BATCH_INTERVAL,
        use_filter: bool | None = None,
    ) -> None:
        self.out_fd = out_fd
        self.batch_max = batch_max
        self.batch_interval = batch_interval
        self.connector = ProcConnector(rcvbuf=rcvbuf, use_filter=use_filter)
        self.pending: collections.deque[bytes] = collections.deque()
        self.pending_bytes = 0
        self.dropped_by_us = 0
        self.unreported = 0  # events in shed batches that no Loss has told of yet
        self.datagrams = 0
        self.stopping = False
        self.cpu_at_ready = 0

    def _enqueue(self, message: feed.Message) -> bool:
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
        return {
            "datagrams": self.datagrams,
            "lost": self.connector.lost + self.dropped_by_us,
            "malformed": self.connector.stats.malformed,
            # CPU since we were ready: start-up (imports) is not per-event cost
            "cpu_ns": _cpu_ns(usage) - self.cpu_at_ready,
            "maxrss_kb": procfs.peak_rss_kb(),
        }

    def run(self) -> int:
        try:
            self.connector.open()
        except ConnectorError as err:
            self._enqueue(("error", err.exit_code, err.message))
            self._drain_blocking()
            return err.exit_code
        self.cpu_at_ready = _cpu_ns(resource.getrusage(resource.RUSAGE_SELF))
        info = {"filter": self.connector.use_filter, "rcvbuf": self.connector.rcvbuf}
        self._enqueue(("ready", {**info, "pid": os.getpid()}))
        parent = os.getppid()
        os.set_blocking(self.out_fd, False)
        sock_fd = self.connector.fileno()
        batch: list[Event] = []
        batch_started = time.monotonic()
        read_into = self.connector.read_into
        saw_exec = False

        def read_info(pid: int) -> ProcInfo | None:
            nonlocal saw_exec
            saw_exec = True
            return procfs.read_info(pid)

        try:
            while not self.stopping:
                wait = (
                    self.batch_interval
                    if not batch
                    else max(0.0, batch_started + self.batch_interval - time.monotonic())
                )
                want_write = [self.out_fd] if self.pending else []
                try:
                    readable, writable, _ = select.select([sock_fd], want_write, [], wait)
                except InterruptedError:
                    continue
                if readable:
                    if not batch:
                        batch_started = time.monotonic()
                    drained = 0
                    while True:
                        n = read_into(batch, READ_CHUNK, read_info)
                        if n == 0:
                            break
                        drained += n
                        self.datagrams += n
                        if len(batch) >= self.batch_max:
                            self._send(batch)
                            batch = []
                            batch_started = time.monotonic()
                            if not self._flush():
                                return 0
                    if drained >= STORM_DRAIN and not saw_exec:
                        # Events come faster than we wake: let the queue fill for a moment so
                        # one wake-up drains many (bench/storm: 6.8 -> 4.5 us/event). Not after
                        # an exec: the next one's /proc entry may last under a millisecond.
                        time.sleep(STORM_PAUSE)
                    saw_exec = False
                if batch and (
                    len(batch) >= self.batch_max
                    or time.monotonic() - batch_started >= self.batch_interval
                ):
                    self._send(batch)
                    batch = []
                if (self.pending or writable) and not self._flush():
                    return 0  # the consumer went away
                if os.getppid() != parent:
                    return 0
        finally:
            self.connector.close()
        return 0

    def _send(self, batch: list[Event]) -> None:
        self.connector.check_drops(batch)  # a Loss, if any, goes after what did arrive
        if self.unreported:
            # batches we shed earlier: the consumer must know, to rescan /proc
            batch.append(Loss(time.monotonic_ns(), self.unreported))
        if self._enqueue(("batch", batch, self._stats())):
            self.unreported = 0
        else:
            shed = sum(1 for e in batch if type(e) is not Loss)
            self.dropped_by_us += shed
            self.unreported += shed

    def _drain_blocking(self) -> None:
        os.set_blocking(self.out_fd, True)
        self._flush()

    def stop(self, *_: object) -> None:
        self.stopping = True


def _cpu_ns(usage: resource.struct_rusage) -> int:
    return int((usage.ru_utime + usage.ru_stime) * 1e9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tractui.collector")
    parser.add_argument("--rcvbuf", type=int, default=DEFAULT_RCVBUF)
    parser.add_argument("--batch-max", type=int, default=BATCH_MAX)
    parser.add_argument("--batch-interval", type=float, default=BATCH_INTERVAL)
    parser.add_argument("--no-filter", action="store_true", help="use the legacy subscription")
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
