from __future__ import annotations

import sqlite3
import time

import pytest

from portal import create_app
from portal.accounts.models import Role
from portal.config import ConfigError
from portal.extensions import db


def test_healthz_reports_each_component(client):
    body = client.get("/healthz").json
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["search"]["ok"] is True and body["search"]["version"].startswith("1.21")
    assert body["llm"]["mode"] == "local"


def test_unknown_url_gets_a_helpful_404_page(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "We could not find that page" in response.get_data(as_text=True)


def test_htmx_errors_come_back_as_a_fragment_for_the_alert_area(client):
    response = client.get("/no/such/page", headers={"HX-Request": "true"})
    assert response.status_code == 404
    assert response.headers["HX-Retarget"] == "#alerts"
    assert "<html" not in response.get_data(as_text=True)


@pytest.mark.parametrize("url", ["/tickets/queue", "/kb/editor", "/metrics"])
def test_customer_opening_staff_pages_gets_403(client, login_as, url):
    login_as(Role.CUSTOMER)
    response = client.get(url)
    assert response.status_code == 403
    assert "does not have access" in response.get_data(as_text=True)


def test_anonymous_visitor_is_sent_to_sign_in_for_staff_pages(client):
    response = client.get("/tickets/queue")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_security_headers(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_navigation_follows_the_role(client, login_as):
    anonymous = client.get("/login").get_data(as_text=True)
    assert ">Help<" in anonymous and ">Queue<" not in anonymous
    login_as(Role.AGENT)
    agent = client.get("/account").get_data(as_text=True)
    assert ">Queue<" in agent and ">Metrics<" not in agent


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app({"ENV": "production", "INSTANCE_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match="too weak"):
        create_app({"ENV": "production", "SECRET_KEY": "changeme", "INSTANCE_DIR": str(tmp_path)})
    app = create_app({"ENV": "production", "SECRET_KEY": "k" * 40, "INSTANCE_DIR": str(tmp_path)})
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CHAT_MODEL", "some-model")
    monkeypatch.setenv("LOGIN_LIMIT_PER_IP", "7")
    app = create_app({"INSTANCE_DIR": str(tmp_path)})
    assert app.config["CHAT_MODEL"] == "some-model"
    assert app.config["LOGIN_LIMIT_PER_IP"] == 7
    monkeypatch.setenv("LOGIN_LIMIT_PER_IP", "many")
    with pytest.raises(ConfigError, match="LOGIN_LIMIT_PER_IP must be a int"):
        create_app({"INSTANCE_DIR": str(tmp_path)})


def test_database_url_pointing_nowhere_is_a_clear_startup_error(tmp_path):
    app = create_app({
        "INSTANCE_DIR": str(tmp_path),
        "DATABASE_URL": "postgresql+psycopg://portal@127.0.0.1:1/portal",
    })
    from flask.cli import ScriptInfo

    from portal.cli import main

    result = app.test_cli_runner().invoke(main, ["run"], obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code != 0
    assert "DATABASE_URL: cannot connect to postgresql+psycopg://portal@127.0.0.1:1/portal" in (
        result.output
    )


@pytest.mark.sqlite_only
def test_pages_answer_while_another_process_is_writing_to_the_sqlite_file(client):
    # The search box writes an event after every search, and a sync or the mail intake
    # may be writing from another process: readers must not wait for them.
    writer = sqlite3.connect(str(db.engine.url.database), timeout=0)
    try:
        writer.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        response = client.get("/kb")
        assert response.status_code == 200
        assert time.monotonic() - started < 2
    finally:
        writer.rollback()
        writer.close()
