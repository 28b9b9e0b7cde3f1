"""What the benchmarks share: printing as they go, and compiling their C load generators."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path


def say(text: str = "") -> None:
    print(text, flush=True)


def compile_c(source: Path, binary: Path) -> Path:
    """Compile ``source`` into ``binary`` (when missing or older than its source)."""
    binary.parent.mkdir(parents=True, exist_ok=True)
    if binary.exists() and binary.stat().st_mtime >= source.stat().st_mtime:
        return binary
    cc = os.environ.get("CC", "cc")
    cmd = [cc, "-O2", "-Wall", "-Wextra", "-o", str(binary), str(source)]
    say(f"build: {shlex.join(cmd)}")
    try:
        subprocess.run(cmd, check=True)
    except FileNotFoundError:
        sys.exit(f"run.py: no C compiler ({cc}): install one (apt-get install gcc) and retry")
    except subprocess.CalledProcessError as err:
        sys.exit(f"run.py: compiling {source.name} failed (status {err.returncode})")
    return binary
