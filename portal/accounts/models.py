from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, Enum, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import utcnow
from portal.extensions import Base


class Role(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    EDITOR = "editor"
    MANAGER = "manager"
    ADMIN = "admin"


class User(UserMixin, Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(
        Enum(Role, name="user_role", native_enum=False, length=20,
             values_callable=lambda roles: [r.value for r in roles]),
        default=Role.CUSTOMER,
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Retired: sign-in sessions are rows of AccountSession now. The column is NOT NULL
    # until a migration drops it, so new accounts still get a random value.
    session_token: Mapped[str] = mapped_column(String(64))
    # Set when the owner opened the link mailed to the address; until then the address
    # is only a claim.
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime)

    # The AccountSession this request is signed in with (set when signing in or when the
    # cookie is loaded); not a column.
    signed_in_session_id = ""

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        # What flask-login keeps in the session and remember-me cookies: without a live
        # session row it no longer signs anyone in.
        return f"{self.id}:{self.signed_in_session_id}"

    @property
    def is_staff(self) -> bool:
        return self.role != Role.CUSTOMER


class AccountSession(Base):
    """One signed-in browser, so signing out ends it on the server and not only in the cookie."""

    __tablename__ = "account_session"

    # A random secret; the session and remember-me cookies carry it.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    remember: Mapped[bool] = mapped_column(Boolean, default=False)
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    ip: Mapped[str] = mapped_column(String(45), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
