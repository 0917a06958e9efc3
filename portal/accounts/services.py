"""Accounts: the only way other packages read or change users."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from portal import mail
from portal.accounts import sessions, tokens
from portal.accounts.models import Role, User
from portal.accounts.tokens import LinkError, LinkProblem
from portal.clock import utcnow
from portal.events import EventKind, emit
from portal.extensions import db

__all__ = [
    "AccountError", "LinkError", "LinkProblem", "Role", "User", "UserSummary", "authenticate",
    "change_password", "create_user", "get_user", "is_verified", "normalise_email",
    "password_problem", "summarise", "users_with_role", "find_user_by_email",
    "load_session_user", "sign_in", "sign_out", "sign_out_everywhere", "active_sessions",
    "request_password_reset", "reset_password", "send_verification", "verify_email",
]

MIN_PASSWORD_LENGTH = 10
MAX_NAME_LENGTH = 120
MAX_PASSWORD_LENGTH = 200
_COMMON_PASSWORDS = {
    "password123", "1234567890", "qwertyuiop", "iloveyou12", "password12",
    "letmein123", "welcome123", "administrator", "passw0rd123", "0123456789",
}
# Computed once so a login for an unknown email costs as much as a real check.
_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A user-facing problem with account data; `field` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class UserSummary:
    id: int
    email: str
    name: str
    role: Role


def summarise(user: User) -> UserSummary:
    return UserSummary(user.id, user.email, user.name, user.role)


def normalise_email(raw: str) -> str:
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError("email", f"That email address is not valid: {exc}") from exc


def password_problem(password: str, email: str = "") -> str | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters."
    if password.lower() in _COMMON_PASSWORDS or len(set(password)) < 4:
        return "That password is too easy to guess."
    local_part = email.split("@")[0].lower()
    if local_part and len(local_part) >= 4 and local_part in password.lower():
        return "Do not use your email address in your password."
    return None


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def create_user(
    email: str, name: str, password: str, role: Role = Role.CUSTOMER, *, commit: bool = True,
    verified: bool = True,
) -> User:
    """A new account. Only self-registration passes verified=False: there the address is
    a claim until its owner opens the link we mail to it; the CLI, the demo and seeding
    create accounts for addresses an operator vouches for."""
    email = normalise_email(email)
    name = " ".join(name.split())
    if not name:
        raise AccountError("name", "Please tell us your name.")
    if len(name) > MAX_NAME_LENGTH:
        raise AccountError("name", f"Names are limited to {MAX_NAME_LENGTH} characters.")
    problem = password_problem(password, email)
    if problem:
        raise AccountError("password", problem)
    if find_user_by_email(email):
        raise AccountError("email", "An account with this email already exists. Try signing in.")
    user = User(
        email=email,
        name=name,
        password_hash=generate_password_hash(password),
        role=role,
        session_token=secrets.token_hex(16),
        email_verified_at=utcnow() if verified else None,
    )
    db.session.add(user)
    db.session.flush()
    emit(EventKind.USER_REGISTERED, user_id=user.id, role=str(role))
    if commit:
        db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    user = find_user_by_email(email)
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    return user


def record_sign_in(user: User, visitor_id: str | None) -> None:
    user.last_login_at = utcnow()
    # Ties the browser's anonymous self-service to the account for the metrics.
    emit(EventKind.USER_SIGNED_IN, user_id=user.id, visitor_id=visitor_id)
    db.session.commit()


def sign_in(user: User, *, remember: bool, user_agent: str, ip: str,
            visitor_id: str | None) -> None:
    """Open a server-side session for this browser; `user.get_id()` then names it."""
    sessions.start(user, remember=remember, user_agent=user_agent, ip=ip)
    record_sign_in(user, visitor_id)


def load_session_user(cookie_value: str) -> User | None:
    loaded = sessions.load(cookie_value)
    return loaded[0] if loaded else None


def sign_out(user: User) -> None:
    if user.signed_in_session_id:
        sessions.end(user.signed_in_session_id)
        db.session.commit()


def sign_out_everywhere(user: User) -> int:
    ended = sessions.end_all(user)
    db.session.commit()
    return ended


def active_sessions(user: User) -> list[sessions.SessionSummary]:
    return sessions.active(user)


def change_password(user: User, current: str, new: str) -> None:
    """Set a new password; every other signed-in browser is signed out, this one stays."""
    if not check_password_hash(user.password_hash, current):
        raise AccountError("current_password", "Your current password is not correct.")
    problem = password_problem(new, user.email)
    if problem:
        raise AccountError("new_password", problem)
    user.password_hash = generate_password_hash(new)
    sessions.end_all(user, keep=user.signed_in_session_id or None)
    db.session.commit()


def get_user(user_id: int) -> User | None:
    return db.session.get(User, user_id)


def is_verified(user: User) -> bool:
    """Has the owner proven the address by opening a link we mailed to it."""
    return user.email_verified_at is not None


# --- links mailed to the address -------------------------------------------------------------


def _link(path: str) -> str:
    # BASE_URL, never the request's Host header: a forged Host must not put an attacker's
    # site in a mail that carries a valid token.
    return current_app.config["BASE_URL"].rstrip("/") + path


def _in_words(seconds: int) -> str:
    if seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day{'s' if days != 1 else ''}"
    minutes = max(1, seconds // 60)
    return f"{minutes} minutes" if minutes < 120 else f"{minutes // 60} hours"


def request_password_reset(email: str) -> None:
    """Mail a reset link if the address has an active account; say nothing either way."""
    user = find_user_by_email(email)
    if user is None or not user.active:
        return
    link = _link(f"/password/reset/{tokens.reset_token(user)}")
    valid_for = _in_words(int(current_app.config["PASSWORD_RESET_MAX_AGE"]))
    mail.send(user.email, "Reset your password", (
        f"Hi {user.name},\n\nSomeone (hopefully you) asked to reset the password of your "
        f"help center account. To choose a new one, open this link within {valid_for}:\n\n"
        f"{link}\n\nThe link works once. If you did not ask for it, ignore this message: "
        "your password stays as it is.\n"
    ))


def check_reset_link(token: str) -> User:
    """The account a reset link is for; LinkError says why it is no good."""
    return tokens.user_for_reset(token)


def reset_password(token: str, new: str) -> User:
    """Set the password a reset link asked for and end every session of the account.

    Opening a link mailed to the address also proves the address is the owner's.
    """
    user = tokens.user_for_reset(token)
    problem = password_problem(new, user.email)
    if problem:
        raise AccountError("password", problem)
    user.password_hash = generate_password_hash(new)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    sessions.end_all(user)
    db.session.commit()
    return user


def send_verification(user: User) -> bool:
    """Mail the link that proves the address; False when there is nothing to prove."""
    if is_verified(user):
        return False
    link = _link(f"/account/verify/{tokens.verify_token(user)}")
    valid_for = _in_words(int(current_app.config["VERIFY_EMAIL_MAX_AGE"]))
    mail.send(user.email, "Confirm your e-mail address", (
        f"Hi {user.name},\n\nPlease confirm that this address is yours by opening this link "
        f"within {valid_for}:\n\n{link}\n\nUntil then, articles for customers stay "
        "hidden from your account. If you did not create an account, ignore this message.\n"
    ))
    return True


def verify_email(token: str) -> User:
    user = tokens.user_for_verification(token)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        db.session.commit()
    return user


def users_with_role(*roles: Role) -> list[User]:
    return list(db.session.scalars(select(User).where(User.role.in_(roles)).order_by(User.name)))
