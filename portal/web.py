"""The one module that touches htmx_flask: whole page or fragment from one URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, render_template
from htmx_flask import Htmx
from htmx_flask import make_response as htmx_response
from htmx_flask import request as htmx_request

htmx = Htmx()

__all__ = ["htmx", "init_app", "is_htmx", "render", "htmx_response", "safe_next_url"]


def init_app(app: Flask) -> None:
    htmx.init_app(app)


def is_htmx() -> bool:
    # History restores want the whole page even though htmx asked for them.
    headers = getattr(htmx_request, "htmx", None)
    return headers is not None and bool(headers) and not headers.history_restore_request


def render(page: str, fragment: str | None = None, **context: Any) -> str:
    """Render the page, or only the fragment the page includes when htmx asks."""
    if fragment is not None and is_htmx():
        return render_template(fragment, **context)
    return render_template(page, **context)


def hx_redirect(url: str) -> Response:
    """Redirect that works for plain form posts and for htmx requests alike."""
    if is_htmx():
        return htmx_response("", redirect=url)
    from flask import redirect

    return redirect(url)  # type: ignore[return-value]


def safe_next_url(target: str | None, fallback: str) -> str:
    """Only same-site paths: a `next` parameter must not send users elsewhere."""
    if not target:
        return fallback
    target = target.strip().replace("\\", "/")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return fallback
    return target
