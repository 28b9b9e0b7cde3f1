"""systemd's service notification (sd_notify), written by hand: ``READY=1`` once the daemon
serves, ``WATCHDOG=1`` while its loop turns, ``STOPPING=1`` as it stops.

The protocol is one datagram to the UNIX socket named by ``$NOTIFY_SOCKET`` (a path, or an
abstract name written with a leading ``@``); without that variable every call does nothing, so
the daemon behaves the same outside systemd. ``$WATCHDOG_USEC`` (set by ``WatchdogSec=``) asks
for a ping at least that often: the loop pings at half of it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Notifies systemd if it asked to be (``NOTIFY_SOCKET``); otherwise does nothing."""

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        environ = os.environ if environ is None else environ
        name = environ.get("NOTIFY_SOCKET", "")
        self.address = "\0" + name[1:] if name.startswith("@") else name
        self.clock = clock
        self.interval = 0.0  # seconds between watchdog pings; 0: no watchdog asked
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.interval = int(usec) / 1e6 / 2
        self._next = 0.0
        self._warned = False

    @property
    def on(self) -> bool:
        return bool(self.address)

    def send(self, message: str) -> bool:
        """One notification; False if it could not be sent (logged once)."""
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.sendto(message.encode(), self.address)
        except OSError as err:
            if not self._warned:
                log.warning("cannot notify systemd at $NOTIFY_SOCKET: %s", err)
                self._warned = True
            return False
        return True

    def ready(self, status: str = "") -> None:
        self.send("READY=1\n" + (f"STATUS={status}\n" if status else ""))

    def stopping(self) -> None:
        self.send("STOPPING=1\n")

    def tick(self) -> None:
        """From the daemon's loop: a watchdog ping when one is due."""
        if not self.interval:
            return
        now = self.clock()
        if now >= self._next:
            self._next = now + self.interval
            self.send("WATCHDOG=1\n")
