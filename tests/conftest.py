"""Fixtures: real Meilisearch, a real database (SQLite or PostgreSQL), app, clients.

Run on PostgreSQL with `pytest --db=postgresql`; a database of its own is created
for the session and dropped afterwards.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import text
from werkzeug.serving import make_server

from portal import create_app
from portal.accounts import services as account_services
from portal.accounts.models import Role, User
from portal.extensions import db
from portal.kb.meili_binary import locate_binary
from portal.kb.meili_process import Endpoint, ManagedMeilisearch

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PASSWORD = "correct-horse-battery"
PG_ADMIN_URL = os.environ.get(
    "PORTAL_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=["sqlite", "postgresql"],
        default=os.environ.get("PORTAL_TEST_DB", "sqlite"),
        help="database backend for the suite",
    )


# Tests of one backend's own behaviour, by marker: the backend they run on.
BACKEND_ONLY = {"sqlite_only": "sqlite", "postgresql_only": "postgresql"}
_other_backend: dict[str, list[pytest.Item]] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked for one backend leave the other backend's pass instead of passing there
    as skipped (`make test` and CI run both passes)."""
    backend = config.getoption("--db")
    for marker, only_on in BACKEND_ONLY.items():
        if only_on == backend:
            continue
        theirs = [item for item in items if item.get_closest_marker(marker)]
        if theirs:
            _other_backend[only_on] = theirs
            items[:] = [item for item in items if item not in theirs]
            config.hook.pytest_deselected(items=theirs)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for only_on, theirs in _other_backend.items():
        terminalreporter.write_line(
            f"{len(theirs)} tests deselected in this pass: they run in the {only_on} pass "
            f"(--db={only_on}), which `make test` and CI also run.")


# --- session-wide real components -------------------------------------------------


@pytest.fixture(scope="session")
def meili(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """A real Meilisearch for the whole session (the binary `make test` fetched)."""
    binary = locate_binary(os.environ.get("MEILI_BIN", ""), REPO / "instance")
    if binary is None:
        pytest.fail("No Meilisearch binary: run `make test` (it fetches one) or set MEILI_BIN.")
    root = tmp_path_factory.mktemp("meili")
    process = ManagedMeilisearch(root, meili_bin=str(binary))
    endpoint = process.ensure_running()
    yield endpoint
    process.stop()


@pytest.fixture(scope="session")
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    backend = request.config.getoption("--db")
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal.db'}"
        return
    import sqlalchemy

    name = f"portal_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def index_prefix() -> str:
    return f"test{secrets.token_hex(3)}"


@pytest.fixture(scope="session")
def base_overrides(
    database_url: str, meili: Endpoint, index_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    instance = tmp_path_factory.mktemp("instance")
    return {
        "ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "DATABASE_URL": database_url,
        "INSTANCE_DIR": str(instance),
        "CONTENT_DIR": str(REPO / "content"),
        "MEILI_URL": meili.url,
        "MEILI_MASTER_KEY": meili.master_key,
        "MEILI_INDEX_PREFIX": index_prefix,
        "BASE_URL": "http://localhost",
        # Tests read a search's event right after its response (tests/test_events.py
        # covers the batches).
        "SEARCH_EVENT_BATCH_SECONDS": 0,
    }


@pytest.fixture(scope="session")
def _schema(base_overrides: dict[str, Any]) -> None:
    """The schema comes from the Alembic migrations, as in production."""
    from flask_migrate import upgrade

    app = create_app(base_overrides)
    with app.app_context():
        upgrade()
        db.engine.dispose()


def _truncate_all() -> None:
    tables = [t for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()


# --- per-test app and clients -----------------------------------------------------


class PortalClient(FlaskClient):
    """A test client that sends a valid CSRF token with every form, like a browser would.

    Pass `csrf=False` to send a forged post without one.
    """

    def csrf_token(self) -> str:
        app = self.application
        with self.session_transaction() as session:
            raw = session.get("csrf_token")
            if raw is None:
                raw = hashlib.sha1(os.urandom(64)).hexdigest()  # noqa: S324 - as Flask-WTF
                session["csrf_token"] = raw
        serializer = URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token")
        return str(serializer.dumps(raw))

    def open(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        send_csrf = kwargs.pop("csrf", True)
        method = kwargs.get("method", "GET").upper()
        if send_csrf and method in {"POST", "PUT", "PATCH", "DELETE"} and not kwargs.get("json"):
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRFToken", self.csrf_token())
            kwargs["headers"] = headers
        # A fresh app context per request, as in production: `g` (the signed-in user,
        # the visitor id) and the database session must not leak between requests.
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its app."""
    return {}


@pytest.fixture
def app(base_overrides: dict[str, Any], app_overrides: dict[str, Any], _schema: None):
    app = create_app({**base_overrides, **app_overrides})
    app.test_client_class = PortalClient
    with app.app_context():
        yield app
        db.session.rollback()
        _truncate_all()
        db.session.remove()


@pytest.fixture
def client(app: Flask) -> PortalClient:
    return app.test_client()  # type: ignore[return-value]


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


_emails = itertools.count(1)


@pytest.fixture
def make_user(app: Flask):
    """Factory: make_user(role=Role.AGENT, email=..., name=..., password=..., verified=...).

    Accounts have a verified address unless `verified=False`: only self-registration
    leaves it unproven, and that is tested on its own.
    """

    def factory(
        role: Role = Role.CUSTOMER,
        email: str | None = None,
        name: str | None = None,
        password: str = DEFAULT_PASSWORD,
        verified: bool = True,
    ) -> User:
        number = next(_emails)
        return account_services.create_user(
            email or f"{role.value}{number}@example.com",
            name or f"{role.value.title()} Number{number}",
            password,
            role,
            verified=verified,
        )

    return factory


@pytest.fixture
def login(client: PortalClient):
    """login(user) signs the test client in through the real form."""

    def do_login(user: User, password: str = DEFAULT_PASSWORD, the_client=None):
        target = the_client or client
        response = target.post("/login", data={"email": user.email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return target

    return do_login


@pytest.fixture
def login_as(make_user, login):
    """login_as(Role.AGENT) -> the signed-in user."""

    def do(role: Role = Role.CUSTOMER, **kwargs: Any) -> User:
        user = make_user(role, **kwargs)
        login(user)
        return user

    return do


@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    """A writable copy of the demo KB for tests that change content."""
    target = tmp_path / "content"
    shutil.copytree(REPO / "content", target)
    return target


# --- a live server and a real browser -------------------------------------------------


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Browser tests must run in CI but {CHROMIUM} is missing.")
        pytest.skip(f"{CHROMIUM} not installed (run `make test` to install it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-quic",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    # Assertions wait as long as actions do: a streamed chat answer on two busy cores can
    # take longer than Playwright's 5 s default to start, and that is not what is tested.
    from playwright.sync_api import expect

    expect.set_options(timeout=10_000)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def screenshot(page, name: str) -> Path:
    """Keep a named screenshot as a test artifact."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
