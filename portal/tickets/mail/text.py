"""Turning an email body into the text a ticket shows: HTML flattened, history trimmed."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

from portal.tickets.mail.tokens import REPLY_ABOVE_MARKER

# Lines where the quoted previous message starts; everything from there on is history.
_HISTORY_STARTS = (
    re.compile(r"^On\b.{1,300}\bwrote:\s*$"),  # Gmail, Apple Mail, Thunderbird
    re.compile(r"^Am\b.{1,300}\bschrieb.{0,80}:\s*$"),
    re.compile(r"^Le\b.{1,300}\ba écrit\s*:\s*$"),
    re.compile(r"^-{2,}\s*Original Message\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^_{20,}\s*$"),  # Outlook's rule above the quoted header block
)
_OUTLOOK_HEADER = re.compile(r"^\*?From:\*?\s.+")
_OUTLOOK_NEXT = re.compile(r"^\*?(Sent|Date|To|Subject):\*?\s", re.IGNORECASE)
_SIGNATURE_STARTS = (
    re.compile(r"^--\s?$"),  # the standard delimiter "-- "
    re.compile(r"^Sent from my \w+", re.IGNORECASE),
    re.compile(r"^Get Outlook for \w+", re.IGNORECASE),
)


def _history_start(lines: list[str]) -> int | None:
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped == REPLY_ABOVE_MARKER or any(p.match(stripped) for p in _HISTORY_STARTS):
            return index
        # Gmail wraps a long "On <date>, <name> <address>" line before "wrote:".
        if stripped.startswith("On ") and index + 1 < len(lines) \
                and lines[index + 1].strip().endswith("wrote:"):
            return index
        if _OUTLOOK_HEADER.match(stripped) and any(
                _OUTLOOK_NEXT.match(following.strip()) for following in lines[index + 1:index + 4]):
            return index
    return None


def trim_reply(text: str) -> str:
    """The new part of a message: without quoted history and the sender's signature.

    When trimming would leave nothing (a message that is all quote), the whole text is
    kept: an over-eager trim must never lose what the customer wrote.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = _history_start(lines)
    if cut is not None:
        lines = lines[:cut]
    for index, line in enumerate(lines):
        if any(p.match(line.rstrip()) for p in _SIGNATURE_STARTS):
            lines = lines[:index]
            break
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith(">")):
        lines.pop()
    trimmed = "\n".join(lines).strip()
    return trimmed or text.strip()


_BLOCK_TAGS = {"p", "div", "br", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
               "ul", "ol", "table", "hr", "pre", "section", "article"}
_SKIPPED_TAGS = {"script", "style", "head", "title", "template"}


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping += 1
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def sanitise_html(html: str) -> str:
    """What is kept of an HTML body: no scripts, styles, event handlers or odd URL schemes."""
    return nh3.clean(html, url_schemes={"http", "https", "mailto", "cid"})


def html_to_text(html: str) -> str:
    collector = _TextCollector()
    collector.feed(sanitise_html(html))
    collector.close()
    lines = [" ".join(line.split()) for line in "".join(collector.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
