"""Security headers on every response, and input no database can take cleaned up front."""

from __future__ import annotations

from itertools import chain
from typing import Any

from flask import Flask, Response, abort, current_app, g, request, session
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.routing import IntegerConverter, Map

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# Row ids and ticket numbers are 32-bit integers: a longer number in a URL is no row.
MAX_ROW_ID = 2**31 - 1
NUL_MESSAGE = ("That address contains a NUL character, so it names no page. "
               "Check the link and try again.")
FILE_MESSAGE = ("This form takes typed text, not files, and nothing was saved. "
                "Go back, type your answer into the form and send it again.")


def mark_private() -> None:
    """This response is for one visitor only, though nobody is signed in: a page opened
    with a ticket's tracking link, or a browser's own chat."""
    g.private_response = True


def _is_private() -> bool:
    # Stylesheets and scripts are the same for everyone and should stay cached.
    if request.endpoint == "static":
        return False
    if g.get("private_response"):
        return True
    # Read from the cookies, never the database: this runs on the 503 page too, when the
    # database is what failed, and loading the user there turned that page into a 500.
    remember_cookie = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    return "_user_id" in session or remember_cookie in request.cookies


class RowIdConverter(IntegerConverter):
    """`<int:...>` limited to what the database's integer columns hold (404 beyond)."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(map, *args, **kwargs)


def _without_nul(values: MultiDict[str, str]) -> ImmutableMultiDict[str, str] | None:
    """The same parameters with NUL characters removed, or None when there were none."""
    if not any("\x00" in value for value in chain.from_iterable(values.listvalues())):
        return None
    return ImmutableMultiDict([
        (key.replace("\x00", ""), value.replace("\x00", ""))
        for key, value in values.items(multi=True)
    ])


def _drop_nul_characters() -> None:
    """PostgreSQL cannot store NUL in text, and no one means to type it: the parameters
    each view sees are the same without it, so a stray NUL costs the person nothing."""
    # Werkzeug caches the parsed parameters in the request's __dict__; replacing them
    # there is what every later reader (forms, CSRF, views) sees.
    cleaned_args = _without_nul(request.args)
    if cleaned_args is not None:
        request.__dict__["args"] = cleaned_args
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        cleaned_form = _without_nul(request.form)
        if cleaned_form is not None:
            request.__dict__["form"] = cleaned_form


def init_app(app: Flask) -> None:
    # Set before any blueprint adds its routes, so every <int:...> uses it.
    app.url_map.converters["int"] = RowIdConverter

    @app.before_request
    def refuse_nul_characters() -> None:
        # A NUL in the path names no page; in parameters it is dropped (see above).
        if "\x00" in request.path:
            abort(400, NUL_MESSAGE)
        _drop_nul_characters()

    @app.before_request
    def refuse_file_parts() -> None:
        # No portal form takes a file, and a file where a form expects text reaches code
        # that only ever sees strings (WTForms merges files into its form data).
        if request.mimetype == "multipart/form-data" and request.files:
            abort(400, FILE_MESSAGE)

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config.get("ENV") == "production":
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if _is_private():
            # A shared proxy or the browser's back button must not show one person's
            # tickets, exports or account to the next: replaces what a view chose.
            headers["Cache-Control"] = "no-store"
            headers.pop("Expires", None)
        return response
