"""Signed, expiring tracking links for requesters without an account."""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SALT = "portal.tickets.tracking"
DEFAULT_MAX_AGE_DAYS = 30


class TrackingLinkError(ValueError):
    def __init__(self, message: str, *, expired: bool) -> None:
        super().__init__(message)
        self.message = message
        self.expired = expired


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=SALT)  # type: ignore[arg-type]


def make_token(ticket_id: int, email: str) -> str:
    return str(_serializer().dumps({"t": ticket_id, "e": email.lower()}))


def read_token(token: str) -> tuple[int, str]:
    days = int(current_app.config.get("TICKET_LINK_MAX_AGE_DAYS", DEFAULT_MAX_AGE_DAYS))
    try:
        data = _serializer().loads(token, max_age=days * 24 * 3600)
    except SignatureExpired as exc:
        raise TrackingLinkError(
            "This tracking link has expired. Use the newest email we sent you, "
            "or reply to it and we will send a fresh link.",
            expired=True,
        ) from exc
    except BadSignature as exc:
        raise TrackingLinkError(
            "This tracking link is not valid. Please check that you copied all of it.",
            expired=False,
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("t"), int):
        raise TrackingLinkError("This tracking link is not valid.", expired=False)
    return data["t"], str(data.get("e", ""))
