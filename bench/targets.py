"""The targets of issue 15 and how a figure is printed next to its target.

Ratios are against the floor measured in the same run (the machines are shared and noisy);
latencies are wrk's p99 at 32 connections.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.sms_webhook import ROOT

RATIO_SQLITE = 0.6
RATIO_PG = 0.5
P99_MS = 50.0
SEGMENTS = 6
WORKER_MB = 150.0


def verdict(ok: bool) -> str:
    return "met" if ok else "not met"


def at_least(value: float, target: float, fmt: str = "{:.2f}", unit: str = "") -> str:
    """'0.31 (target >= 0.6: not met)'; '0.597 (... not met)' where the rounded figure
    would read as the target itself."""
    shown = _shown(value, fmt, lambda v: v >= target) + unit
    return f"{shown} (target >= {target:g}{unit}: {verdict(value >= target)})"


def at_most(value: float, target: float, fmt: str = "{:.1f}", unit: str = "") -> str:
    """'41.0 ms (target <= 50 ms: met)'."""
    shown = _shown(value, fmt, lambda v: v <= target) + unit
    return f"{shown} (target <= {target:g}{unit}: {verdict(value <= target)})"


def _shown(value: float, fmt: str, meets: Callable[[float], bool]) -> str:
    """The value as `fmt` prints it, with more decimals while the printed figure and the
    value itself fall on different sides of the target (0.595 is not 0.60)."""
    shown = fmt.format(value)
    for decimals in (3, 4):
        if meets(float(shown)) == meets(value):
            break
        shown = f"{value:.{decimals}f}"
    return shown


def machine() -> str:
    """Date, CPU, cores, kernel, Python and the commit measured: enough to file a figure."""
    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.exists():
        for line in info.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores ({cpu}), "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"commit {commit()}"
    )


def commit() -> str:
    """The checkout's HEAD, marked '+changes' when the work tree differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + ("+changes" if dirty else "")
