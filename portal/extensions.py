"""Extension objects, created unbound and bound to an app in create_app."""

from __future__ import annotations

import sqlite3
from typing import Any

from flask import Flask
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so Alembic can alter and drop them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()


def use_write_ahead_log(app: Flask) -> None:
    """SQLite files (the default database) keep a write-ahead log instead of a rollback
    journal: a commit appends to the log with one sync instead of rewriting the file behind
    an exclusive lock, and readers never wait for a writer. The search box records every
    search just after answering; with the rollback journal that commit (about 20 ms of syncs)
    slowed the next searches: keywords over HTTP p50 14-16 -> 9-14 ms, p95 28-30 -> 14-27 ms
    (bench/kb_search.py, load 4-7). Durability is unchanged (synchronous stays FULL)."""
    with app.app_context():
        for engine in db.engines.values():
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _write_ahead_log)


def _write_ahead_log(connection: Any, _record: Any) -> None:
    if not isinstance(connection, sqlite3.Connection):
        return
    try:
        # Kept in the file: a no-op once set; an in-memory database stays as it is.
        connection.execute("PRAGMA journal_mode=WAL").close()
    except sqlite3.OperationalError:
        # Another process holds the file while switching it: it still works, journalled.
        pass
