"""Describes the machine an evaluation or benchmark ran on, for its results."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def machine_info() -> str:
    """One line: CPU, cores, Python, OS, load average at the time, date."""
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}, "
        f"load average {load_average()} (1/5/15 min), {dt.date.today().isoformat()}"
    )
