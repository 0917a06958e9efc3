"""Markdown to safe HTML, a table of contents, and plain-text sections.

Raw HTML in Markdown is never passed through: markdown-it escapes it (html off)
and nh3 sanitises the result again, so `<script>`, event attributes and
`javascript:` links render inert even if a rule above ever changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.anchors import anchors_plugin

from portal.kb.documents import FENCE_RE, HEADING_RE, INTERNAL_TARGET_RE

ALLOWED_TAGS = {
    "a", "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong",
    "em", "b", "i", "code", "pre", "blockquote", "table", "thead", "tbody", "tr", "th", "td",
    "img", "del", "s", "kbd", "sup", "sub", "mark", "span",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "h1": {"id"}, "h2": {"id"}, "h3": {"id"}, "h4": {"id"}, "h5": {"id"}, "h6": {"id"},
    "th": {"align"}, "td": {"align"},
    "code": {"class"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}


@dataclass(frozen=True)
class TocEntry:
    level: int
    anchor: str
    text: str


@dataclass(frozen=True)
class Rendered:
    html: str
    toc: tuple[TocEntry, ...]


@dataclass(frozen=True)
class Section:
    anchor: str
    heading: str
    level: int
    text: str


def slugify_heading(text: str) -> str:
    slug = re.sub(r"[^\w\s-]", "", text.lower()).strip()
    return re.sub(r"[\s_-]+", "-", slug)[:80] or "section"


def _rewrite_internal_links(md: MarkdownIt) -> None:
    def rule(state: Any) -> None:
        for block in state.tokens:
            for token in block.children or ():
                if token.type != "link_open":
                    continue
                href = str(token.attrGet("href") or "")
                match = INTERNAL_TARGET_RE.match(href)
                if match:
                    token.attrSet("href", f"/kb/{match.group(1)}{match.group(2) or ''}")

    md.core.ruler.push("kb_internal_links", rule)


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.use(anchors_plugin, min_level=2, max_level=3, slug_func=slugify_heading)
    _rewrite_internal_links(md)
    return md


def sanitise(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def render_markdown(body: str) -> Rendered:
    md = _markdown()
    tokens = md.parse(body)
    toc: list[TocEntry] = []
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag in ("h2", "h3"):
            inline: Token = tokens[index + 1]
            text = "".join(
                child.content for child in inline.children or () if child.type in
                ("text", "code_inline")
            )
            toc.append(TocEntry(int(token.tag[1]), str(token.attrGet("id") or ""), text))
    html = md.renderer.render(tokens, md.options, {})
    return Rendered(sanitise(html), tuple(toc))


_INLINE_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`|~~)")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")
_TAG = re.compile(r"<[^>]{0,200}>")


# plain_text drops a table row's pipes, so "| Member | Yes | No |" reads "Member   Yes   No":
# its cells three spaces apart.
TABLE_CELL_GAP = "   "


def is_table_row(plain_line: str) -> bool:
    """Whether a line of plain_text was a table row of three or more cells."""
    return plain_line.count(TABLE_CELL_GAP) >= 2


def plain_text(markdown: str) -> str:
    """Readable text for search and snippets: markup stripped, words kept."""
    out: list[str] = []
    for line in markdown.split("\n"):
        if FENCE_RE.match(line) or _TABLE_RULE.match(line):
            continue
        line = _LIST_MARK.sub("", line)
        line = _INLINE_LINK.sub(r"\1", line)
        line = _TAG.sub(" ", line)
        line = _EMPHASIS.sub("", line).replace("|", " ").lstrip("> ").strip()
        if line:
            out.append(line)
    return " ".join(out)


def split_sections(title: str, body: str) -> list[Section]:
    """The body cut at its level 2 and 3 headings; the text before the first is the intro."""
    sections: list[Section] = []
    heading, anchor, level = title, "", 1
    lines: list[str] = []
    used: dict[str, int] = {}
    in_fence = False

    def close() -> None:
        text = plain_text("\n".join(lines))
        if text or anchor:
            sections.append(Section(anchor, heading, level, text))

    for line in body.split("\n"):
        if FENCE_RE.match(line):
            in_fence = not in_fence
        match = None if in_fence else HEADING_RE.match(line)
        if match and len(match.group(1)) in (2, 3):
            close()
            heading = _EMPHASIS.sub("", _INLINE_LINK.sub(r"\1", match.group(2)))
            level = len(match.group(1))
            base = slugify_heading(heading)
            # Same de-duplication as the anchors plugin, so links from search land right.
            count = used.get(base, 0)
            used[base] = count + 1
            anchor = base if count == 0 else f"{base}-{count}"
            lines = []
            continue
        lines.append(line)
    close()
    return sections
