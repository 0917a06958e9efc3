"""Accounts: the only way other packages read or change users."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from portal.accounts.models import Role, User
from portal.clock import utcnow
from portal.events import EventKind, emit
from portal.extensions import db

__all__ = [
    "AccountError", "Role", "User", "UserSummary", "authenticate", "change_password",
    "create_user", "get_user", "normalise_email", "password_problem", "summarise",
    "users_with_role", "find_user_by_email", "load_session_user",
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
    email: str, name: str, password: str, role: Role = Role.CUSTOMER, *, commit: bool = True
) -> User:
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


def change_password(user: User, current: str, new: str) -> None:
    if not check_password_hash(user.password_hash, current):
        raise AccountError("current_password", "Your current password is not correct.")
    problem = password_problem(new, user.email)
    if problem:
        raise AccountError("new_password", problem)
    user.password_hash = generate_password_hash(new)
    user.session_token = secrets.token_hex(16)
    db.session.commit()


def get_user(user_id: int) -> User | None:
    return db.session.get(User, user_id)


def load_session_user(session_id: str) -> User | None:
    user_id, _, token = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not secrets.compare_digest(user.session_token, token):
        return None
    return user


def users_with_role(*roles: Role) -> list[User]:
    return list(db.session.scalars(select(User).where(User.role.in_(roles)).order_by(User.name)))
