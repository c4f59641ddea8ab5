"""Sampling profiles of the server during a scenario, with py-spy when it is installed
(``pip install py-spy``; it is a tool, not a dependency of the service). The collapsed stacks
are reduced to the functions that hold the most samples, inclusive and self, so the report can
say what a missed target is spending its time on."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def executable() -> str | None:
    """py-spy beside this Python (a virtualenv's bin/) or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def available() -> bool:
    return executable() is not None


class Recorder:
    def __init__(self, pid: int, out: Path, seconds: float) -> None:
        self.out = out
        self.proc = subprocess.Popen(
            [
                executable() or "py-spy",
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(max(1, int(seconds))),
                "--rate",
                "200",
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def finish(self, timeout: float = 60.0) -> dict[str, Any] | None:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None
        return summarise(self.out) if self.out.exists() else None


def _frame(frame: str) -> str:
    # "function (path/to/file.py:123)" → "function (file.py)"; line numbers split one function.
    name, _, where = frame.partition(" (")
    path = where.split(":", 1)[0]
    short = "/".join(path.split("/")[-2:]) if path else ""
    return f"{name} ({short})" if short else name


def summarise(path: Path, top: int = 12) -> dict[str, Any]:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for f in set(frames):
            inclusive[f] += count

    def share(c: Counter[str]) -> list[tuple[str, float]]:
        return [(f, round(100.0 * n / total, 1)) for f, n in c.most_common(top)] if total else []

    # Frames every sample passes through (thread entry points, the event loop) say nothing.
    interesting = Counter(
        {
            f: n
            for f, n in inclusive.items()
            if n < 0.97 * total
            and ("app/" in f or "services/" in f or "routers/" in f or "api/" in f or "auth/" in f)
        }
    )
    return {
        "samples": total,
        "self": share(own),
        "app_inclusive": share(interesting),
    }
