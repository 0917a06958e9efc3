"""The only module that talks to Meilisearch.

`SearchEngine` hands out a configured client and knows whether the server is
reachable. Callers translate `EngineUnavailable` into the database fallback.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import meilisearch
from flask import Flask, current_app
from meilisearch.errors import (
    MeilisearchApiError,
    MeilisearchCommunicationError,
    MeilisearchTimeoutError,
)

from portal.kb.meili_process import ManagedMeilisearch, MeiliStartError

log = logging.getLogger(__name__)

T = TypeVar("T")
HEALTH_RECHECK_SECONDS = 2.0


class EngineUnavailable(RuntimeError):
    """Meilisearch cannot be reached (not configured, not started, or down)."""


# Re-exported so callers can tell a refused request from an unreachable engine
# without importing meilisearch themselves.
EngineApiError = MeilisearchApiError


class _ErrorResponse:
    """Just enough of a `requests.Response` for MeilisearchApiError to read."""

    def __init__(self, status: int, payload: bytes) -> None:
        self.status_code = status
        self.text = payload.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.text)


class SearchEngine:
    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        index_prefix: str,
        timeout: float = 2.0,
        managed: ManagedMeilisearch | None = None,
    ) -> None:
        self.url = url
        self.api_key = api_key
        self.index_prefix = index_prefix
        self.timeout = timeout
        self.managed = managed
        self.start_error: str | None = None
        self._client: meilisearch.Client | None = None
        self._lock = threading.Lock()
        self._healthy: bool | None = None
        self._checked_at = 0.0
        # One kept-alive connection per thread for `post_json`.
        self._connections = threading.local()

    @property
    def is_managed(self) -> bool:
        return self.managed is not None

    def index_name(self, name: str) -> str:
        return f"{self.index_prefix}_{name}"

    def start(self) -> None:
        """Connect, starting the managed child first when the portal runs its own."""
        with self._lock:
            if self._client is not None:
                return
            if self.managed is not None and not self.url:
                try:
                    endpoint = self.managed.ensure_running()
                except MeiliStartError as exc:
                    if self.start_error != str(exc):
                        log.error("%s", exc)
                    self.start_error = str(exc)
                    raise EngineUnavailable(str(exc)) from exc
                self.url, self.api_key = endpoint.url, endpoint.master_key
            if not self.url:
                raise EngineUnavailable("MEILI_URL is not set")
            self._client = meilisearch.Client(
                self.url, self.api_key or None, timeout=self.timeout  # type: ignore[arg-type]
            )
            self.start_error = None

    @property
    def client(self) -> meilisearch.Client:
        if self._client is None:
            self.start()
        if self._client is None:
            raise EngineUnavailable("Meilisearch client could not be created")
        return self._client

    def available(self) -> bool:
        """Cheap, cached reachability check used to choose the fallback path."""
        now = time.monotonic()
        if self._healthy is not None and now - self._checked_at < HEALTH_RECHECK_SECONDS:
            return self._healthy
        try:
            healthy = bool(self.client.is_healthy())
        except EngineUnavailable:
            healthy = False
        self._healthy, self._checked_at = healthy, now
        return healthy

    def mark_down(self) -> None:
        self._healthy, self._checked_at = False, time.monotonic()

    def call(self, operation: Callable[[meilisearch.Client], T]) -> T:
        """Run one client operation; connection trouble becomes EngineUnavailable."""
        try:
            return operation(self.client)
        except (MeilisearchCommunicationError, MeilisearchTimeoutError) as exc:
            self.mark_down()
            raise EngineUnavailable(str(exc)) from exc

    def post_json(self, path: str, body: Any) -> Any:
        """POST to the Meilisearch API with the standard library (the search hot path).

        The client library costs several milliseconds per call in `requests`; here a
        search costs little more than Meilisearch itself. Each thread keeps its connection
        open between calls. http.client writes the headers and the body apart, and Nagle's
        algorithm held the body back until the server's delayed ACK of the headers (~40 ms
        stalls on a kept-alive connection), so the socket sends at once (TCP_NODELAY).
        """
        if self._client is None:
            self.start()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        payload = json.dumps(body).encode()
        target = f"{self._path_prefix}/{path}"
        kept: http.client.HTTPConnection | None = getattr(self._connections, "current", None)
        self._connections.current = None
        try:
            if kept is not None:
                try:
                    response, data = _exchange(kept, target, payload, headers)
                except (OSError, http.client.HTTPException) as exc:
                    if isinstance(exc, TimeoutError):
                        raise
                    # The server may close an idle kept-alive connection: retry on a new one.
                    kept.close()
                    kept = None
            if kept is None:
                kept = self._connect()
                response, data = _exchange(kept, target, payload, headers)
        except (OSError, http.client.HTTPException) as exc:
            if kept is not None:
                kept.close()
            self.mark_down()
            raise EngineUnavailable(str(exc)) from exc
        if response.will_close:
            kept.close()
        else:
            self._connections.current = kept
        if response.status >= 400:
            raise EngineApiError(
                data.decode("utf-8", "replace"),
                _ErrorResponse(response.status, data),  # type: ignore[arg-type]
            )
        return json.loads(data)

    @property
    def _path_prefix(self) -> str:
        return urlsplit(self.url).path.rstrip("/")

    def _connect(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.url)
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(parts.netloc, timeout=self.timeout)
        connection.connect()
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def wait_for_tasks(self, task_uids: list[int], timeout: float = 60.0) -> list[str]:
        """Wait until the tasks finish; returns the errors of failed ones.

        Polls on its own instead of the client's wait_for_task, whose timeout would
        look like an unreachable engine. Raises EngineUnavailable on timeout.
        """
        errors: list[str] = []
        deadline = time.monotonic() + timeout
        pause = 0.005
        for uid in task_uids:
            while True:
                task = self.call(lambda c, uid=uid: c.get_task(uid))  # type: ignore[misc]
                if task.status in ("succeeded", "failed", "canceled"):
                    if task.status != "succeeded":
                        errors.append(str((task.error or {}).get("message", task.status)))
                    break
                if time.monotonic() > deadline:
                    raise EngineUnavailable(f"Meilisearch task {uid} still {task.status}")
                time.sleep(pause)
                pause = min(pause * 2, 0.1)
        return errors

    def health(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "managed": self.is_managed,
            "url": self.url or None,
        }
        ok = self.available()
        state["ok"] = ok
        if ok:
            try:
                state["version"] = self.call(lambda c: c.get_version()).get("pkgVersion")
            except (EngineUnavailable, MeilisearchApiError):
                pass
        elif self.start_error:
            state["error"] = self.start_error
        return state

    def stop(self) -> None:
        if self.managed is not None:
            self.managed.stop()


# What the portal does with Meilisearch, and nothing more: no key management, no dumps,
# no snapshots, no access to other applications' indexes.
PORTAL_KEY_ACTIONS = (
    "search", "documents.add", "documents.get", "documents.delete",
    "indexes.create", "indexes.get", "indexes.update", "indexes.delete", "indexes.swap",
    "settings.get", "settings.update", "stats.get", "tasks.get", "version",
)


def _exchange(
    connection: http.client.HTTPConnection, target: str, payload: bytes, headers: dict[str, str]
) -> tuple[http.client.HTTPResponse, bytes]:
    connection.request("POST", target, payload, headers)
    response = connection.getresponse()
    return response, response.read()


def create_scoped_key(url: str, master_key: str, index_prefix: str, timeout: float = 5.0) -> str:
    """An API key limited to the portal's actions on indexes named `<prefix>_*`.

    The master key is used for this one call and never kept.
    """
    admin = meilisearch.Client(url, master_key, timeout=timeout)  # type: ignore[arg-type]
    try:
        key = admin.create_key({
            "name": f"portal-{index_prefix}",
            "description": f"Portal ({index_prefix}_* indexes), made by `portal meili create-key`",
            "actions": list(PORTAL_KEY_ACTIONS),
            "indexes": [f"{index_prefix}_*"],
            "expiresAt": None,
        })
    except (MeilisearchCommunicationError, MeilisearchTimeoutError) as exc:
        raise EngineUnavailable(f"cannot reach Meilisearch at {url}: {exc}") from exc
    return str(key.key)


def init_app(app: Flask) -> None:
    url = app.config.get("MEILI_URL", "")
    managed = None
    if not url:
        managed = ManagedMeilisearch(
            Path(app.config["INSTANCE_DIR"]).resolve(),
            meili_bin=app.config.get("MEILI_BIN", ""),
            max_indexing_memory=app.config.get("MEILI_MAX_INDEXING_MEMORY", "256MiB"),
        )
    key = app.config.get("MEILI_API_KEY") or app.config.get("MEILI_MASTER_KEY", "")
    app.extensions["portal.search_engine"] = SearchEngine(
        url,
        key,
        index_prefix=app.config["MEILI_INDEX_PREFIX"],
        timeout=float(app.config.get("MEILI_TIMEOUT", 2.0)),
        managed=managed,
    )


def get_engine(app: Flask | None = None) -> SearchEngine:
    return (app or current_app).extensions["portal.search_engine"]
