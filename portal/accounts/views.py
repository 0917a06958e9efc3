from __future__ import annotations

import math
from typing import NoReturn

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from portal.accounts import services
from portal.accounts.decorators import public
from portal.accounts.forms import EmptyForm, LoginForm, PasswordChangeForm, RegisterForm
from portal.accounts.models import Role
from portal.extensions import login_manager
from portal.ratelimit import Limit, limiter, too_many_requests
from portal.visitor import current_visitor_id
from portal.web import render, safe_next_url

bp = Blueprint("accounts", __name__, template_folder="templates")


@login_manager.user_loader
def load_user(session_id: str):
    return services.load_session_user(session_id)


def home_for(role: Role) -> str:
    """Where each role starts its day."""
    return {
        Role.AGENT: "/tickets/queue",
        Role.EDITOR: "/kb/editor",
        Role.MANAGER: "/metrics",
        Role.ADMIN: "/tickets/queue",
    }.get(role, "/")


def _limits() -> tuple[Limit, Limit]:
    from flask import current_app

    window = int(current_app.config["LOGIN_LIMIT_WINDOW"])
    return (
        Limit(int(current_app.config["LOGIN_LIMIT_PER_ACCOUNT"]), window),
        Limit(int(current_app.config["LOGIN_LIMIT_PER_IP"]), window),
    )


def _too_many(retry_after: int) -> NoReturn:
    minutes = max(1, math.ceil(retry_after / 60))
    too_many_requests(
        f"Too many sign-in attempts. Please wait {minutes} minute{'s' if minutes > 1 else ''} "
        "and try again, or reset your password.",
        retry_after,
    )


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user.role))
    form = LoginForm()
    if form.validate_on_submit():
        email = (form.email.data or "").strip().lower()
        ip = request.remote_addr or "unknown"
        per_account, per_ip = _limits()
        rate = limiter()
        for key, limit in ((f"login:acct:{email}", per_account), (f"login:ip:{ip}", per_ip)):
            verdict = rate.check(key, limit)
            if not verdict.allowed:
                _too_many(verdict.retry_after)
        rate.hit(f"login:ip:{ip}", per_ip)
        user = services.authenticate(email, form.password.data or "")
        if user is None:
            rate.hit(f"login:acct:{email}", per_account)
            form.password.errors.append("That email and password do not match an account.")
        else:
            rate.reset(f"login:acct:{email}")
            login_user(user, remember=bool(form.remember.data))
            services.record_sign_in(user, current_visitor_id())
            flash(f"Welcome back, {user.name}.", "success")
            return redirect(safe_next_url(request.args.get("next"), home_for(user.role)))
    return render("accounts/login.html", form=form), 200 if not form.errors else 422


@bp.route("/register", methods=["GET", "POST"])
@public
def register():
    if current_user.is_authenticated:
        return redirect(url_for("accounts.account"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = services.create_user(
                form.email.data or "", form.name.data or "", form.password.data or ""
            )
        except services.AccountError as error:
            getattr(form, error.field).errors.append(error.message)
        else:
            login_user(user)
            services.record_sign_in(user, current_visitor_id())
            flash("Your account is ready.", "success")
            return redirect(safe_next_url(request.args.get("next"), "/"))
    status = 422 if form.errors else 200
    return render("accounts/register.html", form=form), status


@bp.route("/logout", methods=["POST"])
@public
def logout():
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("accounts.login"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            services.change_password(
                current_user._get_current_object(),
                form.current_password.data or "",
                form.new_password.data or "",
            )
        except services.AccountError as error:
            getattr(form, error.field).errors.append(error.message)
        else:
            # The session token changed; sign in again on this device only.
            login_user(current_user._get_current_object())
            flash("Your password has been changed. Other devices are signed out.", "success")
            return redirect(url_for("accounts.account"))
    return render("accounts/account.html", form=form), 422 if form.errors else 200
