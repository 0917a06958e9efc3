"""Fixed-window rate limits, shared through Redis when REDIS_URL is set.

With several portal processes only Redis gives one count; memory is for a single
process (development, tests). If Redis fails the limiter keeps counting in memory
rather than locking everybody out.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import NoReturn, Protocol

from flask import Flask, current_app
from werkzeug.exceptions import TooManyRequests

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    count: int
    window_seconds: int


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int


class _Store(Protocol):
    def incr(self, key: str, window: int) -> tuple[int, int]: ...
    def get(self, key: str) -> tuple[int, int]: ...
    def reset(self, key: str) -> None: ...


class MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}

    def _live(self, key: str) -> tuple[int, float] | None:
        entry = self._counts.get(key)
        if entry and entry[1] <= time.monotonic():
            del self._counts[key]
            return None
        return entry

    def incr(self, key: str, window: int) -> tuple[int, int]:
        with self._lock:
            entry = self._live(key)
            count, expires = entry if entry else (0, time.monotonic() + window)
            self._counts[key] = (count + 1, expires)
            return count + 1, max(1, int(expires - time.monotonic()))

    def get(self, key: str) -> tuple[int, int]:
        with self._lock:
            entry = self._live(key)
            if not entry:
                return 0, 0
            return entry[0], max(1, int(entry[1] - time.monotonic()))

    def reset(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)


class RedisStore:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)

    def incr(self, key: str, window: int) -> tuple[int, int]:
        pipe = self._redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, window, nx=True)
        pipe.ttl(key)
        count, _, ttl = pipe.execute()
        return int(count), max(1, int(ttl))

    def get(self, key: str) -> tuple[int, int]:
        pipe = self._redis.pipeline()
        pipe.get(key)
        pipe.ttl(key)
        count, ttl = pipe.execute()
        return int(count or 0), max(0, int(ttl))

    def reset(self, key: str) -> None:
        self._redis.delete(key)


class RateLimiter:
    def __init__(self, redis_url: str = "", prefix: str = "portal:rl:") -> None:
        self._memory = MemoryStore()
        self._primary: _Store = RedisStore(redis_url) if redis_url else self._memory
        self.backend = "redis" if redis_url else "memory"
        self._prefix = prefix

    def _call(self, method: str, key: str, *args: int) -> tuple[int, int]:
        try:
            return getattr(self._primary, method)(self._prefix + key, *args)
        except Exception:  # noqa: BLE001 - a broken Redis must not lock users out
            log.warning("rate-limit store failed; counting in memory", exc_info=True)
            return getattr(self._memory, method)(self._prefix + key, *args)

    def check(self, key: str, limit: Limit) -> Verdict:
        """Is another attempt allowed, without counting one."""
        count, ttl = self._call("get", key)
        return Verdict(count < limit.count, ttl if count >= limit.count else 0)

    def hit(self, key: str, limit: Limit) -> Verdict:
        """Count an attempt; allowed is False once the limit is exceeded."""
        count, ttl = self._call("incr", key, limit.window_seconds)
        return Verdict(count <= limit.count, ttl if count > limit.count else 0)

    def reset(self, key: str) -> None:
        try:
            self._primary.reset(self._prefix + key)
        except Exception:  # noqa: BLE001
            log.warning("rate-limit store failed on reset", exc_info=True)
        self._memory.reset(self._prefix + key)


def init_app(app: Flask) -> None:
    app.extensions["portal.ratelimiter"] = RateLimiter(
        app.config.get("REDIS_URL", ""), prefix=f"{app.config['MEILI_INDEX_PREFIX']}:rl:"
    )


def limiter() -> RateLimiter:
    return current_app.extensions["portal.ratelimiter"]


def too_many_requests(message: str, retry_after: int) -> NoReturn:
    """Stop the request with a 429 whose message the user sees and a Retry-After header."""
    error = TooManyRequests(message)
    error.retry_after = retry_after
    raise error
