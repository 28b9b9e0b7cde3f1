"""Regenerate the README's screenshots from the replay (no kernel needed):
``.venv/bin/python docs/screenshots.py``."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from tractui.app import TractApp
from tractui.replay import demo_session

HERE = Path(__file__).parent


async def shoot(name: str, *keys: str) -> None:
    app = TractApp(demo_session(), host="demo", kernel="6.18.0", save_settings=False)
    async with app.run_test(size=(120, 30)) as pilot:
        while not app.snapshot.groups:
            await pilot.pause(0.05)
        await pilot.press(*keys)
        await pilot.pause(0.3)
        app.save_screenshot(filename=f"{name}.svg", path=str(HERE))


async def main() -> None:
    os.environ["TZ"] = "UTC"
    time.tzset()
    await shoot("main")
    await shoot("signal", "down", "down", "k")
    await shoot("timeline", "end", "up", "up", "v")


if __name__ == "__main__":
    asyncio.run(main())
