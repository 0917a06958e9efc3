"""A Meilisearch child process for single-machine installs (no MEILI_URL).

Data and a generated master key live under instance/meili/. Several portal
processes on one machine (CLI commands, workers) share one child through a state
file; the process that started it stops it and restarts it if it dies.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import secrets
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from portal.kb.meili_binary import locate_binary

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 20.0
WATCHDOG_INTERVAL_SECONDS = 2.0


class MeiliStartError(RuntimeError):
    pass


@dataclass(frozen=True)
class Endpoint:
    url: str
    master_key: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def is_healthy(url: str, timeout: float = 0.5) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


class ManagedMeilisearch:
    def __init__(
        self,
        instance_dir: Path,
        meili_bin: str = "",
        max_indexing_memory: str = "256MiB",
        data_dir: Path | None = None,
    ) -> None:
        self.root = instance_dir / "meili"
        self.data_dir = data_dir or self.root / "data"
        self.meili_bin = meili_bin
        self.instance_dir = instance_dir
        self.max_indexing_memory = max_indexing_memory
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._stopping = threading.Event()
        self._watchdog: threading.Thread | None = None
        self.restarts = 0

    @property
    def master_key(self) -> str:
        path = self.root / "master_key"
        if not path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()

    @property
    def owns_process(self) -> bool:
        return self._process is not None

    def _state_path(self) -> Path:
        return self.root / "process.json"

    def _shared_endpoint(self) -> Endpoint | None:
        try:
            state = json.loads(self._state_path().read_text())
        except (OSError, ValueError):
            return None
        url = f"http://127.0.0.1:{state.get('port')}"
        if _pid_alive(int(state.get("pid", 0))) and is_healthy(url):
            return Endpoint(url, self.master_key)
        return None

    def ensure_running(self) -> Endpoint:
        """Reuse a healthy shared child or start one; raises MeiliStartError."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "start.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            shared = self._shared_endpoint()
            if shared:
                return shared
            endpoint = self._start(port=None)
            self._watchdog = threading.Thread(
                target=self._watch, name="meili-watchdog", daemon=True
            )
            self._watchdog.start()
            atexit.register(self.stop)
            return endpoint

    def _start(self, port: int | None) -> Endpoint:
        binary = locate_binary(self.meili_bin, self.instance_dir)
        if binary is None:
            raise MeiliStartError(
                "Meilisearch binary not found: set MEILI_BIN, put `meilisearch` on PATH, or run "
                "`portal meili fetch`. Search falls back to the database until then."
            )
        self._port = port or free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_file = open(self.root / "meilisearch.log", "ab")  # noqa: SIM115 - child keeps it
        self._process = subprocess.Popen(
            [
                str(binary),
                "--db-path", str(self.data_dir),
                "--dump-dir", str(self.root / "dumps"),
                "--http-addr", f"127.0.0.1:{self._port}",
                # One argument: a generated key may start with "-" and read as an option.
                f"--master-key={self.master_key}",
                "--env", "development",
                "--no-analytics",
                "--max-indexing-memory", self.max_indexing_memory,
                "--log-level", "WARN",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log_file.close()
        url = f"http://127.0.0.1:{self._port}"
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise MeiliStartError(
                    f"Meilisearch exited at start (code {self._process.returncode}); "
                    f"see {self.root / 'meilisearch.log'}"
                )
            if is_healthy(url):
                self._state_path().write_text(
                    json.dumps({"pid": self._process.pid, "port": self._port})
                )
                return Endpoint(url, self.master_key)
            time.sleep(0.05)
        self.stop()
        raise MeiliStartError(f"Meilisearch did not answer within {START_TIMEOUT_SECONDS:.0f} s")

    def _watch(self) -> None:
        while not self._stopping.wait(WATCHDOG_INTERVAL_SECONDS):
            process = self._process
            if process is not None and process.poll() is not None:
                log.warning("Meilisearch exited (code %s); restarting", process.returncode)
                try:
                    self._start(port=self._port)
                    self.restarts += 1
                except MeiliStartError:
                    log.exception("could not restart Meilisearch")

    def stop(self) -> None:
        self._stopping.set()
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        with contextlib.suppress(OSError):
            self._state_path().unlink()
