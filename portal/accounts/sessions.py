"""Signed-in browsers kept as rows, so signing out ends a session on the server.

The session and remember-me cookies carry only "{user id}:{row id}"; a cookie copied
before sign-out, or kept on a lost phone, stops working as soon as its row is revoked.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from portal.accounts.models import AccountSession, User
from portal.clock import utcnow
from portal.extensions import db
from portal.inputs import parse_row_id

# last_seen_at is for people reading the session list and for the idle expiry, both
# measured in days: a write every few minutes is plenty, a write per request is not.
LAST_SEEN_EVERY = timedelta(minutes=5)
MAX_USER_AGENT = 200
MAX_IP = 45


@dataclass(frozen=True)
class SessionSummary:
    id: str
    browser: str
    ip: str
    signed_in_at: datetime
    last_seen_at: datetime
    remembered: bool
    is_current: bool


def start(user: User, *, remember: bool, user_agent: str, ip: str) -> AccountSession:
    """A new session row for this browser; the caller commits."""
    now = utcnow()
    row = AccountSession(
        id=secrets.token_urlsafe(32), user_id=user.id, remember=remember,
        user_agent=user_agent[:MAX_USER_AGENT], ip=ip[:MAX_IP], created_at=now,
        last_seen_at=now,
    )
    db.session.add(row)
    user.signed_in_session_id = row.id
    return row


def _ends_at(row: AccountSession) -> datetime:
    config = current_app.config
    if row.remember:
        return row.created_at + timedelta(days=int(config["SESSION_REMEMBER_DAYS"]))
    return row.last_seen_at + timedelta(days=int(config["SESSION_IDLE_DAYS"]))


def load(cookie_value: str) -> tuple[User, AccountSession] | None:
    """The user and live session a cookie names, or None when either has ended."""
    raw_user_id, _, session_id = cookie_value.partition(":")
    user_id = parse_row_id(raw_user_id)
    if user_id is None or not session_id or len(session_id) > 64:
        return None
    row = db.session.get(AccountSession, session_id)
    if row is None or row.user_id != user_id or row.revoked_at is not None:
        return None
    if utcnow() >= _ends_at(row):
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    user.signed_in_session_id = row.id
    return user, row


def needs_touch(row: AccountSession) -> bool:
    return utcnow() - row.last_seen_at >= LAST_SEEN_EVERY


def touch(session_id: str) -> None:
    db.session.execute(update(AccountSession).where(AccountSession.id == session_id)
                       .values(last_seen_at=utcnow()))
    db.session.commit()


def end(session_id: str) -> None:
    db.session.execute(update(AccountSession)
                       .where(AccountSession.id == session_id, AccountSession.revoked_at.is_(None))
                       .values(revoked_at=utcnow()))


def end_all(user: User, *, keep: str | None = None) -> int:
    """Revoke every live session of `user` except `keep`; the caller commits."""
    query = update(AccountSession).where(
        AccountSession.user_id == user.id, AccountSession.revoked_at.is_(None))
    if keep:
        query = query.where(AccountSession.id != keep)
    result = db.session.execute(query.values(revoked_at=utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def active(user: User) -> list[SessionSummary]:
    rows = db.session.scalars(
        select(AccountSession)
        .where(AccountSession.user_id == user.id, AccountSession.revoked_at.is_(None))
        .order_by(AccountSession.last_seen_at.desc())
    )
    now = utcnow()
    return [
        SessionSummary(row.id, describe_browser(row.user_agent), row.ip, row.created_at,
                       row.last_seen_at, row.remember, row.id == user.signed_in_session_id)
        for row in rows if now < _ends_at(row)
    ]


# Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
             ("FxiOS/", "Firefox"), ("CriOS/", "Chrome"), ("Chrome/", "Chrome"),
             ("Safari/", "Safari"))
_SYSTEMS = (("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"),
            ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
            ("Linux", "Linux"))
_WORD = re.compile(r"^[\w.-]+")


def describe_browser(user_agent: str) -> str:
    """'Firefox on Linux': enough for a person to recognise their own device."""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), None)
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or system or ""
    word = _WORD.match(user_agent)
    return word.group(0)[:40] if word else "Unknown browser"
