"""The server under test: one uvicorn process on 127.0.0.1, started and stopped by the bench."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``uvicorn app.main:create_app --factory`` with one worker: the "one server process" of
    DESIGN §6. Only loopback."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        root: Path = ROOT,
        app: str = "app.main:create_app",
    ) -> None:
        # ``root``: the checkout whose ``app`` is served (``python -m bench ab`` serves two);
        # ``app``: the factory (``bench.bare:create_app``, the bare endpoint of ``bench wrk``).
        self.root = root
        self.app = app
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        handle = self.log.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                self.app,
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=self.root,
            # The bench's own directory stays importable when another checkout is served.
            env=self.env | {"PYTHONPATH": f"{self.root}:{ROOT}"},
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited; see {self.log}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"the server did not become ready in {timeout:.0f}s; see {self.log}")

    def memory(self) -> dict[str, int]:
        """VmHWM (peak resident set) and VmRSS of the server process, in KiB."""
        if self.proc is None:
            return {}
        out: dict[str, int] = {}
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in {"VmHWM", "VmRSS"}:
                    out[key] = int(value.split()[0])
        except OSError:
            pass
        return out

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
