"""Signed links mailed to an address: password reset and address verification.

Each kind has its own salt, so one kind of token is never accepted as the other. A reset
token carries a fingerprint of the password hash it was issued against: setting a new
password changes the hash, so the link works once and dies, with nothing stored.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from portal.accounts.models import User
from portal.extensions import db

RESET_SALT = "portal.accounts.password-reset"
VERIFY_SALT = "portal.accounts.verify-email"
MAX_TOKEN_LENGTH = 1000


class LinkProblem(StrEnum):
    INVALID = "invalid"
    EXPIRED = "expired"
    USED = "used"


class LinkError(ValueError):
    def __init__(self, problem: LinkProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def _read(token: str, salt: str, max_age: int) -> dict[str, Any]:
    if len(token) > MAX_TOKEN_LENGTH:
        raise LinkError(LinkProblem.INVALID)
    try:
        payload = _serializer(salt).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise LinkError(LinkProblem.EXPIRED) from exc
    except BadSignature as exc:
        raise LinkError(LinkProblem.INVALID) from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), int):
        raise LinkError(LinkProblem.INVALID)
    return payload


def _password_fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:20]


def reset_token(user: User) -> str:
    return str(_serializer(RESET_SALT).dumps({"u": user.id, "p": _password_fingerprint(user)}))


def user_for_reset(token: str) -> User:
    payload = _read(token, RESET_SALT, int(current_app.config["PASSWORD_RESET_MAX_AGE"]))
    user = db.session.get(User, payload["u"])
    if user is None or not user.active:
        raise LinkError(LinkProblem.INVALID)
    if payload.get("p") != _password_fingerprint(user):
        raise LinkError(LinkProblem.USED)
    return user


def verify_token(user: User) -> str:
    return str(_serializer(VERIFY_SALT).dumps({"u": user.id, "e": user.email}))


def user_for_verification(token: str) -> User:
    payload = _read(token, VERIFY_SALT, int(current_app.config["VERIFY_EMAIL_MAX_AGE"]))
    user = db.session.get(User, payload["u"])
    # A link proves the address it was sent to, not whatever the account holds now.
    if user is None or payload.get("e") != user.email:
        raise LinkError(LinkProblem.INVALID)
    return user
