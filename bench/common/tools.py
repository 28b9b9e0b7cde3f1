"""What the benchmarks share to set up: printing as they go, compiling their C load generators,
installing the programs they compare with, and this environment's tractui."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
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


def ensure_program(name: str) -> tuple[str | None, str]:
    """The program ``name``, installed with apt-get (then apt-get update and again) if it is
    missing; else None and why not."""
    found = shutil.which(name)
    if found:
        return found, ""
    if os.geteuid() != 0:
        return None, f"{name} is not installed and installing it needs root (run under sudo)"
    if shutil.which("apt-get") is None:
        return None, f"{name} is not installed and there is no apt-get to install it with"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", name]
    for step in ([install], [["apt-get", "update"], install]):
        for cmd in step:
            say(f"{name} missing: running {shlex.join(cmd)}")
            result = subprocess.run(cmd, env=env, check=False)
            if result.returncode != 0:
                say(f"  {shlex.join(cmd)} failed (status {result.returncode})")
                break
        found = shutil.which(name)
        if found:
            return found, ""
    return None, f"apt-get could not install {name} (see its output above)"


def tractui_command() -> list[str]:
    """The tractui of this Python environment (the project venv)."""
    script = Path(sys.executable).with_name("tractui")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tractui"]


def add_report_options(parser: argparse.ArgumentParser, out: Path) -> None:
    """The options of a bench that runs ``tractui trace`` reports: --keep, --out, --json."""
    parser.add_argument("--keep", action="store_true", help="keep the reports (in --out)")
    parser.add_argument(
        "--out", type=Path, default=out, help="where reports go while read (bench/out)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")
