"""Settings a deployment relies on; the processes themselves are tested in tests/production."""

from __future__ import annotations

from typing import Any

import pytest

from portal import create_app
from portal.config import ConfigError, Settings

STRONG = "k" * 40


def test_production_refuses_the_master_key_of_an_external_meilisearch(tmp_path) -> None:
    with pytest.raises(ConfigError, match="MEILI_API_KEY") as refused:
        create_app({"ENV": "production", "SECRET_KEY": STRONG, "INSTANCE_DIR": str(tmp_path),
                    "MEILI_URL": "http://search.internal:7700", "MEILI_MASTER_KEY": "master"})
    assert "portal meili create-key" in str(refused.value)
    app = create_app({"ENV": "production", "SECRET_KEY": STRONG, "INSTANCE_DIR": str(tmp_path),
                      "MEILI_URL": "http://search.internal:7700", "MEILI_API_KEY": "scoped"})
    assert app.config["MEILI_API_KEY"] == "scoped"


def test_postgresql_connections_are_checked_before_use_and_time_out() -> None:
    settings = Settings.from_env({"DATABASE_URL": "postgresql+psycopg://db/portal",
                                  "DB_POOL_SIZE": "12", "DB_CONNECT_TIMEOUT": "3"})
    options = settings.flask_config()["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["pool_pre_ping"] is True
    assert options["pool_size"] == 12 and options["max_overflow"] == 12
    assert options["connect_args"] == {"connect_timeout": 3}


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"TRUSTED_PROXIES": 1, "LOGIN_LIMIT_PER_IP": 2}


def _attempt(client: Any, address: str) -> int:
    response = client.post("/login", data={"email": "nobody@example.com", "password": "wrong"},
                           headers={"X-Forwarded-For": address})
    return int(response.status_code)


def test_behind_a_proxy_each_client_address_has_its_own_sign_in_limit(client) -> None:
    # Documentation-range addresses (RFC 5737), as the proxy forwards them.
    assert [_attempt(client, "203.0.113.1") for _ in range(3)] == [422, 422, 429]
    assert _attempt(client, "203.0.113.2") == 422
