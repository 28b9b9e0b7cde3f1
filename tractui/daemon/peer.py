"""One client connection as the daemon keeps it: its socket, who is at the other end, the
lines it has sent so far, the output it has not read yet, and what it subscribed to.

The server (:mod:`tractui.daemon.server`) makes and drops them; its requests
(:mod:`tractui.daemon.ops`) read who asks and what they subscribed to.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from tractui.daemon.protocol import LineReader

CLIENT_BUFFER = 16 << 20  # pending output a client may have before it is dropped


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
