from __future__ import annotations

import logging
import math

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.exc import SQLAlchemyError

from portal import security
from portal.accounts import services, sessions
from portal.accounts.decorators import public
from portal.accounts.forms import (
    EmptyForm,
    ForgotPasswordForm,
    LoginForm,
    PasswordChangeForm,
    RegisterForm,
    ResetPasswordForm,
)
from portal.accounts.models import Role, User
from portal.extensions import db, login_manager
from portal.ratelimit import Limit, limiter, too_many_requests
from portal.visitor import current_visitor_id
from portal.web import render, safe_next_url

bp = Blueprint("accounts", __name__, template_folder="templates")
log = logging.getLogger(__name__)

LINK_STATUS = {services.LinkProblem.INVALID: 400, services.LinkProblem.EXPIRED: 410,
               services.LinkProblem.USED: 410}


@login_manager.user_loader
def load_user(cookie_value: str) -> User | None:
    # The remember-me cookie comes through here too, so it ends with its session row.
    loaded = sessions.load(cookie_value)
    if loaded is None:
        return None
    user, row = loaded
    if sessions.needs_touch(row):
        g.account_session_to_touch = row.id
    return user


@bp.after_app_request
def record_last_seen(response: Response) -> Response:
    session_id = g.pop("account_session_to_touch", None)
    # A refused request (forged, invalid, failed) is not activity worth a write.
    if session_id and response.status_code < 400:
        try:
            sessions.touch(session_id)
        except SQLAlchemyError:
            db.session.rollback()
            log.warning("could not record when session was last seen", exc_info=True)
    return response


def home_for(role: Role) -> str:
    """Where each role starts its day."""
    return {
        Role.AGENT: "/tickets/queue",
        Role.EDITOR: "/kb/editor",
        Role.MANAGER: "/metrics",
        Role.ADMIN: "/tickets/queue",
    }.get(role, "/")


def _limit(count_setting: str, window_setting: str) -> Limit:
    config = current_app.config
    return Limit(int(config[count_setting]), int(config[window_setting]))


def _client_ip() -> str:
    return request.remote_addr or "unknown"


def _wait(retry_after: int) -> str:
    minutes = max(1, math.ceil(retry_after / 60))
    return f"{minutes} minute{'s' if minutes > 1 else ''}"


def _start_session(user: User, remember: bool = False) -> None:
    services.sign_in(user, remember=remember, user_agent=request.user_agent.string,
                     ip=_client_ip(), visitor_id=current_visitor_id())
    login_user(user, remember=remember)


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user.role))
    form = LoginForm()
    if form.validate_on_submit():
        email = (form.email.data or "").strip().lower()
        per_account = _limit("LOGIN_LIMIT_PER_ACCOUNT", "LOGIN_LIMIT_WINDOW")
        per_ip = _limit("LOGIN_LIMIT_PER_IP", "LOGIN_LIMIT_WINDOW")
        counters = ((f"login:acct:{email}", per_account), (f"login:ip:{_client_ip()}", per_ip))
        rate = limiter()
        for key, limit in counters:
            verdict = rate.check(key, limit)
            if not verdict.allowed:
                body = render("accounts/locked.html", wait=_wait(verdict.retry_after))
                return body, 429, {"Retry-After": str(verdict.retry_after)}
        user = services.authenticate(email, form.password.data or "")
        if user is None:
            # Only failures count: signing in successfully, however often, locks nobody out.
            for key, limit in counters:
                rate.hit(key, limit)
            form.password.errors.append("That email and password do not match an account.")
        else:
            rate.reset(f"login:acct:{email}")
            _start_session(user, remember=bool(form.remember.data))
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
        window = "REGISTER_LIMIT_WINDOW"
        # Per browser for the person who keeps going, per address for the script that
        # throws its cookies away.
        counters = ((f"register:v:{current_visitor_id()}",
                     _limit("REGISTER_LIMIT_PER_SESSION", window)),
                    (f"register:ip:{_client_ip()}", _limit("REGISTER_LIMIT_PER_IP", window)))
        rate = limiter()
        for key, limit in counters:
            verdict = rate.check(key, limit)
            if not verdict.allowed:
                too_many_requests(
                    "Too many new accounts from here. Please wait "
                    f"{_wait(verdict.retry_after)} and try again, or sign in to the account "
                    "you already made.", verdict.retry_after)
        try:
            user = services.create_user(
                form.email.data or "", form.name.data or "", form.password.data or "",
                verified=False,
            )
        except services.AccountError as error:
            getattr(form, error.field).errors.append(error.message)
        else:
            for key, limit in counters:
                rate.hit(key, limit)
            _start_session(user)
            services.send_verification(user)
            flash("Your account is ready. We have sent you a link to confirm your e-mail "
                  "address.", "success")
            return redirect(safe_next_url(request.args.get("next"), "/"))
    status = 422 if form.errors else 200
    return render("accounts/register.html", form=form), status


@bp.route("/logout", methods=["POST"])
@public
def logout():
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    if current_user.is_authenticated:
        services.sign_out(current_user._get_current_object())
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("accounts.login"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    user = current_user._get_current_object()
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            services.change_password(
                user, form.current_password.data or "", form.new_password.data or ""
            )
        except services.AccountError as error:
            getattr(form, error.field).errors.append(error.message)
        else:
            flash("Your password has been changed. Other devices are signed out.", "success")
            return redirect(url_for("accounts.account"))
    return render("accounts/account.html", form=form, action_form=EmptyForm(),
                  sessions=services.active_sessions(user),
                  verified=services.is_verified(user)), 422 if form.errors else 200


@bp.route("/account/sessions/end-all", methods=["POST"])
@login_required
def sign_out_everywhere():
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    services.sign_out_everywhere(current_user._get_current_object())
    logout_user()
    security.mark_private()  # signed out by now, but the answer was for this account
    flash("You are signed out on every device, this one included.", "info")
    return redirect(url_for("accounts.login"))


# --- forgotten passwords ---------------------------------------------------------------------


@bp.route("/password/forgot", methods=["GET", "POST"])
@public
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        address = (form.email.data or "").strip().lower()
        window = "PASSWORD_RESET_LIMIT_WINDOW"
        rate = limiter()
        for key, limit in ((f"reset:addr:{address}",
                            _limit("PASSWORD_RESET_LIMIT_PER_ADDRESS", window)),
                           (f"reset:ip:{_client_ip()}",
                            _limit("PASSWORD_RESET_LIMIT_PER_IP", window))):
            verdict = rate.hit(key, limit)
            if not verdict.allowed:
                too_many_requests(
                    f"Too many reset links asked for. Please wait {_wait(verdict.retry_after)} "
                    "and try again; the links already sent keep working.", verdict.retry_after)
        services.request_password_reset(address)
        # The same page whether or not the address has an account: nothing to enumerate.
        return render("accounts/forgot_sent.html",
                      valid_for=_wait(int(current_app.config["PASSWORD_RESET_MAX_AGE"])))
    return render("accounts/forgot.html", form=form), 422 if form.errors else 200


def _link_problem(problem: services.LinkProblem, kind: str):
    body = render("accounts/link_problem.html", problem=problem.value, kind=kind)
    return body, LINK_STATUS[problem]


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@public
def reset_password(token: str):
    # The link is a password for this account until used: no cache may keep the page.
    security.mark_private()
    try:
        user = services.check_reset_link(token)
    except services.LinkError as error:
        return _link_problem(error.problem, "reset")
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            user = services.reset_password(token, form.password.data or "")
        except services.LinkError as error:
            return _link_problem(error.problem, "reset")
        except services.AccountError as error:
            form.password.errors.append(error.message)
        else:
            # Proving the mailbox is stronger than the guesses that locked the account.
            limiter().reset(f"login:acct:{user.email.lower()}")
            if current_user.is_authenticated:  # someone else was signed in here
                services.sign_out(current_user._get_current_object())
            logout_user()
            _start_session(user)
            flash("Your new password is set, and you are signed in. Every other device "
                  "has been signed out.", "success")
            return redirect(home_for(user.role))
    status = 422 if form.errors else 200
    return render("accounts/reset.html", form=form, email=user.email), status


# --- verifying the address -------------------------------------------------------------------


@bp.route("/account/verify/<token>")
@public
def verify_email(token: str):
    security.mark_private()
    try:
        user = services.verify_email(token)
    except services.LinkError as error:
        return _link_problem(error.problem, "verify")
    return render("accounts/verified.html", email=user.email)


@bp.route("/account/verify", methods=["POST"])
@login_required
def resend_verification():
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    user = current_user._get_current_object()
    if not services.is_verified(user):
        verdict = limiter().hit(f"verify:user:{user.id}",
                                _limit("VERIFY_RESEND_LIMIT", "VERIFY_RESEND_WINDOW"))
        if not verdict.allowed:
            too_many_requests(
                f"We have sent several links already. Please wait {_wait(verdict.retry_after)} "
                "and check your spam folder before asking again.", verdict.retry_after)
        services.send_verification(user)
        flash(f"We have sent a new link to {user.email}.", "success")
    return redirect(url_for("accounts.account"))
