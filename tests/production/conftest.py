"""A production-like stack for the multi-node and fault tests.

Real processes only: a private PostgreSQL cluster (initdb into a temp dir, its own
port, so restarting it never touches the shared server other tests use), a private
Meilisearch started with a master key (the portal only ever gets a scoped API key),
Redis on 127.0.0.1:6379 under a key prefix unique to this run, and `portal serve`
nodes started by the tests.

These tests run in the PostgreSQL pass (`pytest --db=postgresql`, the second pass of
`make test` and CI). Several nodes on one SQLite file is not a supported deployment,
so under --db=sqlite they are deselected, and the summary says so.
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy

from bench.load import prepare_accounts
from bench.stack import PortalNode, PrivateMeili, PrivatePostgres
from portal.kb.meili_binary import locate_binary

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/0"
DEMO_PASSWORD = "demo-password-1"
KB_PARTS = ("_synonyms.yml", "account", "troubleshooting")
LOAD_ACCOUNTS = (12, 4)  # customers, agents
_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


@dataclass
class Stack:
    pg: PrivatePostgres
    meili: PrivateMeili
    database_url: str
    workdir: Path
    settings: dict[str, Any]
    nodes: list[PortalNode] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return str(self.settings["MEILI_INDEX_PREFIX"])

    def env(self, **extra: Any) -> dict[str, str]:
        """Settings as a node's environment (ENV is read from PORTAL_ENV)."""
        merged = {**self.settings, **extra}
        return {("PORTAL_ENV" if k == "ENV" else k): str(v) for k, v in merged.items()}

    def node(self, name: str, **extra: Any) -> PortalNode:
        workers = int(extra.pop("workers", 1))
        node = PortalNode(name, self.env(**extra), self.workdir, workers=workers, threads=16)
        self.nodes.append(node)
        node.start()
        return node

    def sql(self, statement: str, **params: Any) -> list[Any]:
        """Query the database directly, as an operator checking after an incident would."""
        engine = sqlalchemy.create_engine(self.database_url, pool_pre_ping=True)
        try:
            with engine.begin() as connection:
                result = connection.execute(sqlalchemy.text(statement), params)
                return list(result) if result.returns_rows else []
        finally:
            engine.dispose()

    def meili_documents(self, index: str, query: str) -> list[dict[str, Any]]:
        """Search Meilisearch itself (with the master key), bypassing the portal."""
        response = requests.post(
            f"{self.meili.url}/indexes/{self.prefix}_{index}/search",
            json={"q": query}, timeout=5,
            headers={"Authorization": f"Bearer {self.meili.master_key}"},
        )
        response.raise_for_status()
        return list(response.json()["hits"])


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    binary = locate_binary("", REPO / "instance")
    if binary is None:
        pytest.fail("No Meilisearch binary: run `make test` (it fetches one) or set MEILI_BIN.")
    workdir = tmp_path_factory.mktemp("production")
    pg = PrivatePostgres()
    meili = PrivateMeili(workdir / "meili", binary)
    prefix = f"prod{secrets.token_hex(3)}"
    try:
        pg.init()
        pg.start()
        database_url = pg.create_database("portal")
        meili.start()
        from portal.kb.engine import create_scoped_key

        content = workdir / "content"
        content.mkdir()
        # A third of the demo KB: embedding all of it for the chat would double set-up time.
        for part in KB_PARTS:
            copy = shutil.copytree if (REPO / "content" / part).is_dir() else shutil.copy
            copy(REPO / "content" / part, content / part)
        settings: dict[str, Any] = {
            "ENV": "development",
            "SECRET_KEY": secrets.token_urlsafe(40),
            "DATABASE_URL": database_url,
            "INSTANCE_DIR": str(workdir / "instance"),
            "CONTENT_DIR": str(content),
            "MEILI_URL": meili.url,
            "MEILI_API_KEY": create_scoped_key(meili.url, meili.master_key, prefix),
            "MEILI_INDEX_PREFIX": prefix,
            "REDIS_URL": REDIS_URL,
            "TRUSTED_PROXIES": 1,
        }
        _prepare(settings)
        stack = Stack(pg, meili, database_url, workdir, settings)
        yield stack
        for node in stack.nodes:
            node.stop()
    finally:
        meili.stop()
        pg.destroy()
        _clear_redis(prefix)


def _prepare(settings: dict[str, Any]) -> None:
    """Schema, the KB (keyword and chat indexes), demo accounts, load accounts."""
    from flask_migrate import upgrade

    from portal import create_app
    from portal.accounts.cli import ensure_demo_users
    from portal.extensions import db
    from portal.kb import services as kb_services

    app = create_app(settings)
    with app.app_context():
        upgrade()
        report = kb_services.sync_content(settings["CONTENT_DIR"], wait=True)
        assert not report.errors and not report.index_queued, report.summary()
        ensure_demo_users()
        prepare_accounts(*LOAD_ACCOUNTS)
        db.engine.dispose()


def _clear_redis(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


class Visitor:
    """One person's browser: one cookie jar for every node, like behind a load balancer."""

    def __init__(self, address: str = "203.0.113.7") -> None:
        self.http = requests.Session()
        # A documentation-range address (RFC 5737) as the proxy would forward it.
        self.http.headers["X-Forwarded-For"] = address
        self.csrf = ""

    def get(self, node: PortalNode, path: str, **kwargs: Any) -> requests.Response:
        response = self.http.get(node.url + path, timeout=30, **kwargs)
        found = _CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, node: PortalNode, path: str, data: dict[str, Any] | None = None,
             **kwargs: Any) -> requests.Response:
        if not self.csrf:
            self.get(node, "/login")
        headers = {"X-CSRFToken": self.csrf, **kwargs.pop("headers", {})}
        return self.http.post(node.url + path, data=data or {}, headers=headers,
                              allow_redirects=False, timeout=30, **kwargs)

    def login(self, node: PortalNode, email: str, password: str = DEMO_PASSWORD) -> None:
        self.get(node, "/login")
        response = self.post(node, "/login", {"email": email, "password": password})
        assert response.status_code == 302, response.text[:300]
        self.get(node, "/")  # a fresh CSRF token for the signed-in session


def wait_for(check: Any, timeout: float, interval: float = 0.02, what: str = "") -> float:
    """Seconds until check() is truthy; fails the test after `timeout`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what or 'the condition'} not within {timeout} s")
        time.sleep(interval)
    return time.monotonic() - started
