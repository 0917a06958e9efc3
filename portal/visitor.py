"""A long-lived random id for the browser, so anonymous activity can be tied together.

Used for one vote per visitor, anonymous chats, and linking a later sign-in or ticket
to earlier self-service (the deflection definitions need it).
"""

from __future__ import annotations

import re
import secrets

from flask import Flask, Response, g, request

COOKIE_NAME = "portal_visitor"
_VALID = re.compile(r"[A-Za-z0-9_-]{20,64}")
ONE_YEAR = 365 * 24 * 3600


def current_visitor_id() -> str:
    visitor = g.get("visitor_id")
    if visitor is None:
        cookie = request.cookies.get(COOKIE_NAME, "")
        visitor = cookie if _VALID.fullmatch(cookie) else secrets.token_urlsafe(24)
        g.visitor_id = visitor
        g.visitor_is_new = visitor != cookie
    return visitor


def init_app(app: Flask) -> None:
    @app.after_request
    def keep_visitor_cookie(response: Response) -> Response:
        if g.get("visitor_is_new"):
            response.set_cookie(
                COOKIE_NAME,
                g.visitor_id,
                max_age=ONE_YEAR,
                httponly=True,
                samesite="Lax",
                secure=app.config.get("ENV") == "production",
            )
        return response
