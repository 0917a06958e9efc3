"""Typed settings read from the environment.

Settings are read when an app is created, never at import, so tests and
several apps in one process can each have their own.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

# Values that look like a secret but are not: refusing them in production
# stops a copied example configuration from going live.
_PLACEHOLDER_SECRETS = {"", "dev", "secret", "changeme", "change-me", "development"}
MIN_PRODUCTION_SECRET_LENGTH = 32


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the message names the setting."""


def _as_bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    ENV: str = "development"
    SECRET_KEY: str = ""
    DATABASE_URL: str = ""
    DB_POOL_SIZE: int = 8
    DB_CONNECT_TIMEOUT: int = 5
    INSTANCE_DIR: str = "instance"
    CONTENT_DIR: str = "content"
    BASE_URL: str = "http://127.0.0.1:5000"
    TRUSTED_PROXIES: int = 0
    # The search box's SEARCH events are written in one batch per this many seconds per
    # process (0: each at once, after its response); see portal.events.emit_batched.
    SEARCH_EVENT_BATCH_SECONDS: float = 0.5

    MEILI_URL: str = ""
    MEILI_MASTER_KEY: str = ""
    MEILI_API_KEY: str = ""
    MEILI_BIN: str = ""
    MEILI_INDEX_PREFIX: str = "portal"
    MEILI_MAX_INDEXING_MEMORY: str = "256MiB"
    MEILI_TIMEOUT: float = 2.0

    OPENAI_API_KEY: str = ""
    OPENAI_BASE_URL: str = ""
    CHAT_MODEL: str = "gpt-4o-mini"
    LLM_TIMEOUT: float = 20.0
    LLM_COOLDOWN: float = 30.0

    REDIS_URL: str = ""
    LOGIN_LIMIT_PER_ACCOUNT: int = 5
    LOGIN_LIMIT_PER_IP: int = 20
    LOGIN_LIMIT_WINDOW: int = 900
    REGISTER_LIMIT_PER_SESSION: int = 3
    REGISTER_LIMIT_PER_IP: int = 10
    REGISTER_LIMIT_WINDOW: int = 3600
    PASSWORD_RESET_LIMIT_PER_ADDRESS: int = 3
    PASSWORD_RESET_LIMIT_PER_IP: int = 10
    PASSWORD_RESET_LIMIT_WINDOW: int = 3600
    VERIFY_RESEND_LIMIT: int = 3
    VERIFY_RESEND_WINDOW: int = 3600
    # Signed links mailed to an address: how long each kind stays good.
    PASSWORD_RESET_MAX_AGE: int = 3600
    VERIFY_EMAIL_MAX_AGE: int = 3 * 24 * 3600
    # A session without "keep me signed in" ends after this long unused; one with it
    # ends this long after signing in, together with its cookie.
    SESSION_IDLE_DAYS: int = 14
    SESSION_REMEMBER_DAYS: int = 30
    # Bot answers (chat messages and /chat/suggest together) per CHAT_LIMIT_WINDOW seconds:
    # per anonymous browser, per signed-in account, and per address for everyone.
    CHAT_LIMIT_PER_SESSION: int = 20
    CHAT_LIMIT_PER_USER: int = 40
    CHAT_LIMIT_PER_IP: int = 60
    CHAT_LIMIT_WINDOW: int = 60
    # Tickets opened without an account, per browser and per address, per window (seconds).
    TICKET_LIMIT_PER_SESSION: int = 5
    TICKET_LIMIT_PER_IP: int = 20
    TICKET_LIMIT_WINDOW: int = 3600
    # Answer review (docs/metrics.md): the key of the sample's fixed random order, and how
    # many demo reviews `portal demo setup` records on a fresh portal (0: none).
    METRICS_REVIEW_SAMPLE_KEY: str = "answer-review"
    METRICS_REVIEW_SEED: int = 0

    # The agent copilot (docs/copilot.md): where it is computed when a customer writes
    # ("thread", "inline", "off"; empty: "thread", "off" under tests), and a ticket opened
    # before that ran ("deferred": the page shows and the card follows; "inline": the page
    # computes it; empty: "deferred", "inline" under tests).
    COPILOT_BACKGROUND: str = ""
    COPILOT_ON_OPEN: str = ""

    SMTP_HOST: str = ""
    SMTP_PORT: int = 25
    SMTP_USER: str = ""
    SMTP_PASSWORD: str = ""
    SMTP_STARTTLS: bool = False
    # Empty: mail comes from the support address in the content folder's _site.yml.
    MAIL_FROM: str = ""

    # Email intake (portal/tickets/mail): IMAP for `portal mail fetch`, the listener
    # for `portal mail serve`, and the limits both apply.
    MAIL_ADDRESSES: str = ""
    MAIL_IMAP_HOST: str = ""
    MAIL_IMAP_PORT: int = 0
    MAIL_IMAP_USER: str = ""
    MAIL_IMAP_PASSWORD: str = ""
    MAIL_IMAP_SSL: bool = True
    MAIL_IMAP_FOLDER: str = "INBOX"
    MAIL_LISTEN_HOST: str = "127.0.0.1"
    MAIL_LISTEN_PORT: int = 2525
    MAIL_LISTEN_MAX_BYTES: int = 50_000_000
    MAIL_MAX_MESSAGE_BYTES: int = 15_000_000
    MAIL_MAX_ATTACHMENT_BYTES: int = 10_000_000

    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None
    ) -> Settings:
        values: dict[str, Any] = {}
        overrides = dict(overrides or {})
        for spec in fields(cls):
            if spec.name == "extra":
                continue
            env_name = "PORTAL_ENV" if spec.name == "ENV" else spec.name
            if spec.name in overrides:
                values[spec.name] = overrides.pop(spec.name)
            elif env_name in environ:
                values[spec.name] = _coerce(spec.name, spec.type, environ[env_name])
        settings = cls(**values, extra=overrides)
        return settings.with_defaults()

    @property
    def is_production(self) -> bool:
        return self.ENV == "production"

    @property
    def instance_path(self) -> Path:
        return Path(self.INSTANCE_DIR).resolve()

    def with_defaults(self) -> Settings:
        """Fill what can be derived, and refuse what must not run."""
        instance = self.instance_path
        updates: dict[str, Any] = {}
        if not self.DATABASE_URL:
            updates["DATABASE_URL"] = f"sqlite:///{instance / 'portal.db'}"
        if not self.SECRET_KEY:
            if self.is_production:
                raise ConfigError(
                    "SECRET_KEY is not set: refusing to start in production without one "
                    f"(use at least {MIN_PRODUCTION_SECRET_LENGTH} random characters)."
                )
            updates["SECRET_KEY"] = _development_secret(instance)
        elif self.is_production and (
            self.SECRET_KEY.lower() in _PLACEHOLDER_SECRETS
            or len(self.SECRET_KEY) < MIN_PRODUCTION_SECRET_LENGTH
        ):
            raise ConfigError(
                "SECRET_KEY is too weak for production: use at least "
                f"{MIN_PRODUCTION_SECRET_LENGTH} random characters."
            )
        if self.is_production and self.MEILI_URL and self.MEILI_MASTER_KEY:
            raise ConfigError(
                "MEILI_MASTER_KEY is set for an external Meilisearch: give the portal an API key "
                "scoped to its indexes instead (MEILI_API_KEY; `portal meili create-key` makes "
                "one from the master key)."
            )
        if not updates:
            return self
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        current.update(updates)
        return Settings(**current)

    def engine_options(self) -> dict[str, Any]:
        # pool_pre_ping tests a pooled connection before handing it out, so the first
        # request after a database restart reconnects instead of failing.
        options: dict[str, Any] = {"pool_pre_ping": True}
        if self.DATABASE_URL.startswith("postgresql"):
            options.update(
                pool_size=self.DB_POOL_SIZE,
                max_overflow=self.DB_POOL_SIZE,
                pool_recycle=1800,
                pool_timeout=10,
                connect_args={"connect_timeout": self.DB_CONNECT_TIMEOUT},
            )
        return options

    def flask_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"
        }
        config.update(
            SQLALCHEMY_DATABASE_URI=self.DATABASE_URL,
            SQLALCHEMY_ENGINE_OPTIONS=self.engine_options(),
            SESSION_COOKIE_HTTPONLY=True,
            SESSION_COOKIE_SAMESITE="Lax",
            SESSION_COOKIE_SECURE=self.is_production,
            REMEMBER_COOKIE_HTTPONLY=True,
            REMEMBER_COOKIE_SAMESITE="Lax",
            REMEMBER_COOKIE_SECURE=self.is_production,
            REMEMBER_COOKIE_DURATION=timedelta(days=self.SESSION_REMEMBER_DAYS),
            WTF_CSRF_TIME_LIMIT=None,
            MAX_CONTENT_LENGTH=8 * 1024 * 1024,
        )
        config.update(self.extra)
        return config


def _coerce(name: str, annotation: Any, raw: str) -> Any:
    kind = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    try:
        if kind == "bool":
            return _as_bool(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a {kind}, got {raw!r}") from exc
    return raw


def _development_secret(instance: Path) -> str:
    """A per-checkout random key, kept so sessions survive restarts in development."""
    path = instance / ".secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        instance.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        os.chmod(path, 0o600)
        return key
