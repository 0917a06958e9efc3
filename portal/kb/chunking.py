"""Chunking: articles cut into passages the embedding model can read whole.

Articles are cut along their level 2/3 headings (the same anchors as the article
page), long sections into pieces of about `CHUNK_WORDS` words at line boundaries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from portal.kb.documents import FENCE_RE, HEADING_RE, ParsedArticle
from portal.kb.rendering import plain_text, slugify_heading

CHUNK_WORDS = 120
MIN_TAIL_WORDS = 30


@dataclass(frozen=True)
class Chunk:
    id: str
    slug: str
    title: str
    heading: str
    anchor: str
    category: str
    audience: str
    position: int
    text: str

    @property
    def embed_text(self) -> str:
        prefix = self.title if self.heading == self.title else f"{self.title} — {self.heading}"
        return f"{prefix}\n{self.text}"



def _sections(title: str, body: str) -> list[tuple[str, str, list[str]]]:
    """(anchor, heading, plain lines) per level 2/3 section; anchors match the article page."""
    out: list[tuple[str, str, list[str]]] = []
    heading, anchor = title, ""
    lines: list[str] = []
    used: dict[str, int] = {}
    in_fence = False
    for line in body.split("\n"):
        if FENCE_RE.match(line):
            in_fence = not in_fence
        match = None if in_fence else HEADING_RE.match(line)
        if match and len(match.group(1)) in (2, 3):
            out.append((anchor, heading, lines))
            heading = plain_text(match.group(2)) or match.group(2)
            base = slugify_heading(heading)
            count = used.get(base, 0)
            used[base] = count + 1
            anchor = base if count == 0 else f"{base}-{count}"
            lines = []
            continue
        if match and len(match.group(1)) == 1 and plain_text(match.group(2)) == title:
            continue  # a repeated title adds nothing
        text = plain_text(line)
        if text:
            # Keep list items recognisable for the extractive answerer.
            lines.append(("- " if re.match(r"^\s*(?:[-*+]|\d+[.)])\s+", line) else "") + text)
    out.append((anchor, heading, lines))
    return [(a, h, ls) for a, h, ls in out if ls or a]


def _pieces(lines: list[str], max_words: int) -> list[list[str]]:
    """Consecutive lines grouped into pieces of at most max_words (long lines are split)."""
    units: list[str] = []
    for line in lines:
        words = line.split()
        if len(words) <= max_words:
            units.append(line)
            continue
        sentences = re.split(r"(?<=[.!?])\s+", line)
        current: list[str] = []
        for sentence in sentences:
            for start in range(0, len(sentence.split()), max_words):
                part = " ".join(sentence.split()[start : start + max_words])
                if current and len(" ".join(current).split()) + len(part.split()) > max_words:
                    units.append(" ".join(current))
                    current = []
                current.append(part)
        if current:
            units.append(" ".join(current))
    pieces: list[list[str]] = []
    count = 0
    for unit in units:
        size = len(unit.split())
        if pieces and count + size <= max_words:
            pieces[-1].append(unit)
            count += size
        else:
            pieces.append([unit])
            count = size
    # A short tail reads better with the piece before it.
    if len(pieces) > 1 and sum(len(u.split()) for u in pieces[-1]) < MIN_TAIL_WORDS:
        pieces[-2].extend(pieces.pop())
    return pieces


def build_chunks(article: ParsedArticle, max_words: int = CHUNK_WORDS) -> list[Chunk]:
    chunks: list[Chunk] = []
    for anchor, heading, lines in _sections(article.title, article.body):
        if not lines:
            lines = [heading]
        for piece in _pieces(lines, max_words):
            position = len(chunks)
            chunks.append(
                Chunk(
                    id=f"{_safe_id(article.slug)}__{position}",
                    slug=article.slug,
                    title=article.title,
                    heading=heading,
                    anchor=anchor,
                    category=article.category,
                    audience=article.audience,
                    position=position,
                    text="\n".join(piece),
                )
            )
    return chunks


def _safe_id(slug: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", slug)
