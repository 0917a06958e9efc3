"""One handler per status; htmx requests get a fragment the page can show in place."""

from __future__ import annotations

import contextlib

from flask import Flask, jsonify, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError

from portal.extensions import db
from portal.web import htmx_response, is_htmx, render

MESSAGES = {
    400: ("Bad request", "The request could not be understood. Please check what you sent."),
    403: ("Not allowed", "Your account does not have access to this page."),
    404: ("Page not found", "We could not find that page. It may have moved or never existed."),
    405: ("Not allowed", "That action is not available here."),
    413: ("Too large", "What you sent is larger than we accept."),
    429: ("Slow down", "Too many attempts. Please wait a little and try again."),
    500: ("Something went wrong", "An unexpected error occurred. Nothing you sent was lost; "
          "please try again in a moment."),
    503: ("Temporarily unavailable", "A service we rely on is not answering. Please try again."),
}


def _error_response(status: int, detail: str | None = None, retry_after: int | None = None):
    title, message = MESSAGES.get(status, MESSAGES[500])
    message = detail or message
    wants_json = request.path.startswith("/api/") or request.path == "/healthz" or (
        request.accept_mimetypes.best == "application/json"
    )
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    if wants_json:
        return jsonify(error=title, message=message), status, headers
    if is_htmx():
        # Swap the message into the page's alert area instead of the request's target.
        body = render("errors/error.html", "errors/_alert.html",
                      status=status, title=title, message=message)
        response = htmx_response(body, status, retarget="#alerts", reswap="innerHTML")
        response.headers.update(headers)
        return response
    body = render("errors/error.html", status=status, title=title, message=message)
    return body, status, headers


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return _error_response(
            400, "Your form expired or was not sent from this site. Reload the page and try again."
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        if status >= 500:
            db.session.rollback()
        detail = error.description if status in (400, 413, 429) and _is_custom(error) else None
        retry_after = getattr(error, "retry_after", None)
        return _error_response(status, detail, retry_after)

    @app.teardown_appcontext
    def close_session_even_if_the_database_went_away(_error: BaseException | None) -> None:
        # Runs before Flask-SQLAlchemy's own teardown (registered earlier, run later). When
        # the database dropped the connection mid-request, the rollback in session.close()
        # fails again and would turn an answered request into a 500: drop it instead.
        try:
            db.session.close()
        except SQLAlchemyError:
            with contextlib.suppress(SQLAlchemyError):
                db.session().invalidate()

    @app.errorhandler(OperationalError)
    def database_unavailable(error: OperationalError):
        # The database went away (restart, failover): say so honestly, since unlike a
        # 500 nothing was saved, and let the pool reconnect on the next request.
        try:
            db.session.rollback()
        except SQLAlchemyError:
            db.session.remove()
        app.logger.warning("database unavailable on %s %s: %s", request.method, request.path,
                           str(error.orig or error).splitlines()[0])
        message = ("The database is not answering for a moment, so this was not saved. "
                   "Please try again in a few seconds.")
        try:
            return _error_response(503, message, retry_after=5)
        except SQLAlchemyError:
            # The page layout reads the signed-in user from the same database.
            db.session.remove()
            return message, 503, {"Retry-After": "5", "Content-Type": "text/plain"}

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        db.session.rollback()
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        return _error_response(InternalServerError.code)


def _is_custom(error: HTTPException) -> bool:
    # Werkzeug's default descriptions are written for developers, not customers.
    return type(error).description != error.description
