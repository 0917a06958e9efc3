"""Does a page contain anything a browser would run? A parser-based check, no regexes.

The standard library's HTML tokenizer reads the page; every element and attribute that can
execute script or send the reader elsewhere is reported. The portal's own markup passes
(its CSP forbids inline script anyway), so any finding came from a payload.
"""

from __future__ import annotations

from html.parser import HTMLParser

# A word every payload carries, so a finding can be tied to a payload and a page can be
# shown to have displayed the payload at all.
MARK = "xss7q"

PAYLOADS = (
    f'<script>alert("{MARK}")</script>',
    f'<img src=x onerror=alert("{MARK}")>',
    f'<svg onload=alert("{MARK}")>{MARK}</svg>',
    f'"><script>alert("{MARK}")</script>',
    f"'><img src=x onerror=alert('{MARK}')>",
    f'<a href="javascript:alert(\'{MARK}\')">{MARK} link</a>',
    f'<a href=" jav&#x09;ascript:alert(1)">{MARK} encoded</a>',
    f'<iframe src="javascript:alert(\'{MARK}\')"></iframe>',
    f'<div hx-post="/logout" hx-trigger="load" hx-target="#{MARK}">{MARK}</div>',
    f'<details open ontoggle=alert("{MARK}")>{MARK}</details>',
    f'</textarea><script>alert("{MARK}")</script>',
    f'</title><script>alert("{MARK}")</script>',
    f'<math><mtext><table><mglyph><style><img src=x onerror=alert("{MARK}")>',
    f'<base href="https://evil.example/{MARK}/">',
    f'<meta http-equiv="refresh" content="0;url=https://evil.example/{MARK}">',
    f'<object data="data:text/html,<script>alert(\'{MARK}\')</script>"></object>',
    f'<form action="https://evil.example/{MARK}"><button formaction="javascript:alert(1)">go',
    f'<style>@import "https://evil.example/{MARK}.css";</style>',
    f'{{{{ 7*7 }}}} {MARK} {{% raw %}}',
)
# Markdown's own ways to make a link or an image: inert text outside Markdown fields.
MARKDOWN_PAYLOADS = (
    f"[{MARK} md link](javascript:alert(1))",
    f"![{MARK} md image](javascript:alert(1))",
    f"[{MARK} data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    f"<{MARK}@evil.example> <javascript:alert(1)>",
)
ALL_PAYLOADS = "\n\n".join(PAYLOADS + MARKDOWN_PAYLOADS)

FORBIDDEN_ELEMENTS = {"iframe", "frame", "frameset", "object", "embed", "applet", "base",
                      "style", "math", "portal"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "poster", "background",
                  "xlink:href", "cite", "ping", "srcset", "lowsrc", "dynsrc"}
SAFE_DATA_IMAGES = ("data:image/png", "data:image/gif", "data:image/jpeg", "data:image/webp")


def _scheme_of(url: str) -> str:
    # Browsers drop ASCII whitespace and control characters before reading a scheme.
    compact = "".join(ch for ch in url if ord(ch) > 32).lower()
    return compact.split(":", 1)[0] + ":" if ":" in compact.split("/", 1)[0] else ""


def _without_query(value: str) -> str:
    return value.split("?", 1)[0] if value.startswith("/") else value


class _Inspector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._script_open = False

    def _report(self, what: str) -> None:
        line, column = self.getpos()
        self.problems.append(f"line {line}:{column}: {what}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag in FORBIDDEN_ELEMENTS:
            self._report(f"<{tag}> element")
        if tag == "script":
            self._script_open = True
            if not values.get("src", "").startswith("/static/"):
                self._report("<script> that is not one of the portal's static files")
        if tag == "meta" and "http-equiv" in values:
            self._report("<meta http-equiv>")
        if tag == "form" and MARK in values.get("action", ""):
            self._report("<form> posting to a payload's address")
        for name, value in values.items():
            if name.startswith("on"):
                self._report(f"event handler attribute {name}")
            elif name.startswith(("hx-on", "data-hx-on")):
                self._report(f"htmx handler attribute {name}")
            elif name.startswith(("hx-", "data-hx-")) and MARK in _without_query(value):
                # The portal's own hx-get URLs carry search terms in their query string.
                self._report(f"htmx attribute {name} from a payload")
            elif name == "srcdoc":
                self._report("srcdoc attribute")
            elif name == "style" and MARK in value:
                self._report("style attribute from a payload")
            elif name in URL_ATTRIBUTES:
                scheme = _scheme_of(value)
                if scheme in ("javascript:", "vbscript:") or (
                    scheme == "data:" and not (tag == "img" and value.startswith(SAFE_DATA_IMAGES))
                ):
                    self._report(f"{name}={value[:60]!r} on <{tag}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "script":
            self._script_open = False

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script_open = False

    def handle_data(self, data: str) -> None:
        if self._script_open and data.strip():
            self._report(f"inline script {data.strip()[:60]!r}")


def live_markup(html: str) -> list[str]:
    """What in `html` a browser would run, or that would take the page elsewhere."""
    inspector = _Inspector()
    inspector.feed(html)
    inspector.close()
    return inspector.problems
