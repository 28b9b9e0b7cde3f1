"""The gate the UI closes while it answers a key (or draws a snapshot), and the session
thread's work waits at.

The UI thread and the session thread (engine, sampler, snapshots) share one GIL: while both run,
each has it a switch interval at a time, so a key's answer takes about twice its own time, and
longer when the session thread is in a long call that holds the GIL throughout. So the UI
closes the gate when a key arrives and opens it once the answer is on the screen (likewise
while it draws a snapshot, unless a command waits to run), and the
session thread's long loops (the sampler's reads, a snapshot's rows, a poll's phases) call
:meth:`Gate.pause` every few hundred microseconds of work: a closed gate parks them, holding no
GIL, until it opens. Whatever happens, a hold lasts ``longest`` seconds at most from when it
was closed, however many pauses meet it: a release that never came must not stop the engine.

bench/ui at 30,000 processes: the slow keys were those that came during a snapshot's build
(tens of ms), which the session thread checked for a held key only before it began.

No Textual here: domain code.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator


class Gate:
    """Closed by :meth:`hold` (UI thread), opened by :meth:`release` or ``longest`` s later."""

    def __init__(self, longest: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.longest = longest
        self.clock = clock
        self._open = threading.Event()
        self._open.set()
        self._until = 0.0  # when the current hold ends, released or not
        self.paused = 0  # how many pauses waited (tests, bench)
        self._exempt = False  # see exempt()

    def hold(self) -> None:
        self._until = self.clock() + self.longest  # before the gate closes: pause reads it
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def is_open(self) -> bool:
        return self._open.is_set()

    def pause(self) -> bool:
        """Wait while the gate is closed, up to the end of its hold (the session thread's
        long loops call it often: an open gate costs one check). True if it waited: what the
        caller read of the clock before is that much older. A hold that began while it
        waited (another key) is waited for until its own end, not cut short."""
        if self._open.is_set() or self._exempt:
            return False
        waited = False
        while not self._open.is_set():
            rest = self._until - self.clock()
            if rest <= 0:
                self._open.set()  # the hold is over: released or not, the work goes on
                break
            self.paused += 1
            waited = True
            self._open.wait(rest)
        return waited

    @contextlib.contextmanager
    def exempt(self) -> Iterator[None]:
        """Work the UI waits for (a command it submitted) never pauses: within this block
        :meth:`pause` returns at once, whatever the gate."""
        self._exempt = True
        try:
            yield
        finally:
            self._exempt = False


def no_pause() -> bool:
    """The pause of work that no UI waits for."""
    return False
