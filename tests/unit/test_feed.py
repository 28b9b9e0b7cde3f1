"""The collector -> engine frame protocol survives partial reads."""

from __future__ import annotations

import os

import pytest

from tractui.events import Exec, Fork, ProcInfo
from tractui.kernel import feed


def test_frames_arrive_whole_however_the_bytes_are_split() -> None:
    info = ProcInfo(7, 100, 1, "sleep", ("sleep", "1"), "/bin/sleep", 0, 1, "S", False)
    messages = [
        ("ready", {"pid": 1, "filter": True, "rcvbuf": 1}),
        ("batch", [Fork(1, 2, 2, 3, 3), Exec(2, 7, 7, info)], {"lost": 0}),
    ]
    data = b"".join(feed.encode(m) for m in messages)
    r, w = os.pipe()
    try:
        os.set_blocking(r, False)
        reader = feed.FrameReader(r)
        got: list[feed.Frame] = []
        for i in range(0, len(data), 7):  # dribble it in 7-byte pieces
            os.write(w, data[i : i + 7])
            got.extend(reader.read())
        assert got == messages
        assert reader.read() == [] and not reader.eof
        os.close(w)
        w = -1
        assert reader.read() == [] and reader.eof
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_an_oversized_frame_is_refused() -> None:
    r, w = os.pipe()
    try:
        os.write(w, (feed.MAX_FRAME + 1).to_bytes(4, "little"))
        with pytest.raises(ValueError, match="larger than"):
            feed.FrameReader(r).read()
    finally:
        os.close(r)
        os.close(w)
