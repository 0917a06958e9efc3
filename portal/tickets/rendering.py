"""Message bodies are Markdown written by customers and agents: raw HTML is never honoured."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True})
_ALLOWED_TAGS = {"p", "br", "strong", "em", "a", "ul", "ol", "li", "code", "pre", "blockquote",
                 "h1", "h2", "h3", "h4", "hr"}


def message_html(body: str) -> Markup:
    html = _markdown.render(body)
    cleaned = nh3.clean(html, tags=_ALLOWED_TAGS, attributes={"a": {"href"}},
                        url_schemes={"http", "https", "mailto"}, link_rel="nofollow noopener")
    return Markup(cleaned)  # noqa: S704 - sanitised by nh3 just above
