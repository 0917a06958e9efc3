"""Reading the knowledge base's Markdown files: front matter, validation, problems.

A file that cannot be trusted is reported with its path and line and left out;
the rest of the content still loads. Nothing here touches the database.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

try:  # the C loader is ~10x faster on a large KB; fall back when libyaml is absent
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

STATUSES = ("published", "draft", "archived")
AUDIENCES = ("public", "customers", "internal")
# \A...\Z, not ^...$: "$" also matches before a final newline, and "account\n" would pass
# as a folder name. Callers use fullmatch all the same.
SLUG_RE = re.compile(r"\A(?:[a-z0-9][a-z0-9-]{0,118}[a-z0-9]|[a-z0-9])\Z")
MAX_TITLE_LENGTH = 200
MAX_SUMMARY_LENGTH = 500
# Markdown links whose target is a bare slug (optionally with an anchor) are internal.
INTERNAL_TARGET_RE = re.compile(r"\A(?:/kb/)?([a-z0-9][a-z0-9-]*)(#[\w-]*)?\Z")
LINK_RE = re.compile(r"(?<!!)\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE_RE = re.compile(r"^\s{0,3}(```|~~~)")
HEADING_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


@dataclass(frozen=True)
class ParsedArticle:
    slug: str
    title: str
    category: str
    tags: tuple[str, ...]
    summary: str
    status: str  # "published" | "draft" | "archived"
    audience: str  # "public" | "customers" | "internal"
    updated: date | None
    body: str  # Markdown without front matter
    path: str  # relative to the content dir
    content_hash: str


@dataclass(frozen=True)
class Problem:
    """Something wrong with one file. Errors skip the file; warnings do not."""

    path: str
    line: int | None
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.severity}: {self.message}"


class ArticleError(ValueError):
    """One file cannot be used; carries the problem (file, line, message)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@dataclass
class ContentFile:
    path: str  # relative, with forward slashes
    data: bytes
    content_hash: str


@dataclass
class LoadResult:
    articles: list[ParsedArticle] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_skipped(relative: str) -> bool:
    parts = relative.split("/")
    name = parts[-1]
    return (
        parts[0] == "macros"
        or any(part.startswith(("_", ".")) for part in parts)
        or name.lower() == "readme.md"
        or not name.endswith(".md")
    )


def iter_content_files(root: Path) -> Iterator[ContentFile | Problem]:
    """Every Markdown file the KB owns, or a Problem for files that must not be read.

    Symlinks are followed only while they stay inside the content directory, so a
    link cannot publish a file from elsewhere on the machine.
    """
    root_real = Path(os.path.realpath(root))
    for folder, dirnames, filenames in os.walk(root, followlinks=False):
        folder_path = Path(folder)
        dirnames.sort()
        for dirname in list(dirnames):
            candidate = folder_path / dirname
            relative = candidate.relative_to(root).as_posix()
            if is_skipped(relative + "/x.md"):
                dirnames.remove(dirname)
                continue
            if candidate.is_symlink() and not _inside(candidate, root_real):
                yield Problem(relative, None, "symlink points outside the content directory")
        for name in sorted(filenames):
            candidate = folder_path / name
            relative = candidate.relative_to(root).as_posix()
            if is_skipped(relative):
                continue
            if candidate.is_symlink() and not _inside(candidate, root_real):
                yield Problem(relative, None, "symlink points outside the content directory")
                continue
            try:
                data = candidate.read_bytes()
            except OSError as exc:
                yield Problem(relative, None, f"cannot read the file: {exc.strerror}")
                continue
            yield ContentFile(relative, data, content_hash(data))


def _inside(path: Path, root_real: Path) -> bool:
    real = Path(os.path.realpath(path))
    return real == root_real or root_real in real.parents


def split_front_matter(text: str) -> tuple[str | None, str, int]:
    """(front matter YAML or None, body, line number where the body starts)."""
    if not text.startswith("---"):
        return None, text, 1
    lines = text.split("\n")
    if lines[0].strip() != "---":
        return None, text, 1
    for number, line in enumerate(lines[1:], start=1):
        # Only a fence at the start of a line ends the YAML: an indented "---" is part of
        # a multi-line value (a title typed with line breaks, dumped by the editor).
        if line.rstrip() in ("---", "..."):
            return "\n".join(lines[1:number]), "\n".join(lines[number + 1 :]), number + 2
    return "\n".join(lines[1:]), "", len(lines) + 1


def _front_matter_line(front: str, key: str) -> int:
    for number, line in enumerate(front.split("\n"), start=2):
        if line.startswith(f"{key}:"):
            return number
    return 1


def parse_article(relative: str, data: bytes, digest: str | None = None) -> ParsedArticle:
    """Parse one file; raises ArticleError naming the file and line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ArticleError(Problem(relative, line, "the file is not valid UTF-8")) from exc
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    front, body, _ = split_front_matter(text)
    if front is None:
        raise ArticleError(
            Problem(relative, 1, "missing front matter: start the file with --- and a title")
        )
    try:
        meta = yaml.load(front, Loader=_Loader) or {}  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        # The context mark is where the broken construct starts; the problem mark is
        # often the end of the front matter, which points the editor at the wrong line.
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        reason = getattr(exc, "problem", None) or "invalid YAML"
        raise ArticleError(Problem(relative, line, f"broken front matter: {reason}")) from exc
    if not isinstance(meta, dict):
        raise ArticleError(Problem(relative, 2, "front matter must be key: value pairs"))
    return article_from_meta(relative, meta, body, front, digest or content_hash(data))


def _fail(relative: str, front: str, key: str, message: str) -> ArticleError:
    return ArticleError(Problem(relative, _front_matter_line(front, key), message))


def article_from_meta(
    relative: str, meta: dict[str, Any], body: str, front: str, digest: str
) -> ParsedArticle:
    parts = relative.split("/")
    title = meta.get("title")
    if title is None or not str(title).strip():
        raise ArticleError(Problem(relative, 1, "the front matter has no title"))
    title = str(title).strip()
    if len(title) > MAX_TITLE_LENGTH:
        raise _fail(relative, front, "title", f"the title is longer than {MAX_TITLE_LENGTH}")
    slug = str(meta.get("slug") or parts[-1][: -len(".md")]).strip()
    if not SLUG_RE.fullmatch(slug):
        raise _fail(
            relative, front, "slug",
            f"slug {slug!r} must be lowercase letters, digits and hyphens",
        )
    category = str(meta.get("category") or (parts[0] if len(parts) > 1 else "general")).strip()
    if not SLUG_RE.fullmatch(category):
        raise _fail(relative, front, "category", f"category {category!r} is not a valid name")
    status = str(meta.get("status") or "published").strip().lower()
    if status not in STATUSES:
        raise _fail(relative, front, "status", f"status must be one of {', '.join(STATUSES)}")
    audience = str(meta.get("audience") or "public").strip().lower()
    if audience not in AUDIENCES:
        raise _fail(
            relative, front, "audience", f"audience must be one of {', '.join(AUDIENCES)}"
        )
    tags = meta.get("tags") or ()
    if isinstance(tags, str):
        tags = [t for t in (part.strip() for part in tags.split(",")) if t]
    if not isinstance(tags, list | tuple) or not all(
        isinstance(t, str | int | float) for t in tags
    ):
        raise _fail(relative, front, "tags", "tags must be a list of words")
    updated = meta.get("updated")
    if isinstance(updated, datetime):
        updated = updated.date()
    elif isinstance(updated, str):
        try:
            updated = date.fromisoformat(updated.strip())
        except ValueError:
            raise _fail(relative, front, "updated", "updated must be a date (YYYY-MM-DD)") from None
    elif updated is not None and not isinstance(updated, date):
        raise _fail(relative, front, "updated", "updated must be a date (YYYY-MM-DD)")
    summary = str(meta.get("summary") or "").strip()[:MAX_SUMMARY_LENGTH]
    return ParsedArticle(
        slug=slug,
        title=title,
        category=category,
        tags=tuple(str(t).strip() for t in tags if str(t).strip()),
        summary=summary,
        status=status,
        audience=audience,
        updated=updated,
        body=body.strip("\n") + "\n",
        path=relative,
        content_hash=digest,
    )


def internal_links(body: str) -> list[tuple[str, int]]:
    """(slug, line within the body) for every link that targets another article."""
    found: list[tuple[str, int]] = []
    in_fence = False
    for number, line in enumerate(body.split("\n"), start=1):
        if FENCE_RE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        for match in LINK_RE.finditer(line):
            target = INTERNAL_TARGET_RE.match(match.group(1))
            if target:
                found.append((target.group(1), number))
    return found


def link_problems(
    article: ParsedArticle, known_slugs: set[str] | frozenset[str], source: str | None = None
) -> list[Problem]:
    """Warnings for links to slugs that do not exist, with the line in the file."""
    offset = 0
    text = article.body
    if source is not None:
        _, text, body_start = split_front_matter(source.replace("\r\n", "\n"))
        offset = body_start - 1
    return [
        Problem(article.path, offset + line, f"link to a missing article: {slug}", "warning")
        for slug, line in internal_links(text)
        if slug not in known_slugs
    ]


def headings(body: str) -> list[tuple[int, str]]:
    """(level, text) of the body's headings, ignoring fenced code."""
    found: list[tuple[int, str]] = []
    in_fence = False
    for line in body.split("\n"):
        if FENCE_RE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else HEADING_RE.match(line)
        if match:
            found.append((len(match.group(1)), match.group(2)))
    return found


def serialise(article_meta: dict[str, Any], body: str) -> str:
    """A Markdown file: YAML front matter, a blank line, then the body."""
    front = yaml.safe_dump(article_meta, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{front}---\n\n{body.strip()}\n"


def load_content(root: Path) -> LoadResult:
    """Parse every file under root (no incremental shortcuts; used by tests and tools)."""
    result = LoadResult()
    seen: dict[str, str] = {}
    for item in iter_content_files(root):
        if isinstance(item, Problem):
            result.problems.append(item)
            continue
        try:
            article = parse_article(item.path, item.data, item.content_hash)
        except ArticleError as exc:
            result.problems.append(exc.problem)
            continue
        if article.slug in seen:
            result.problems.append(
                Problem(item.path, 1,
                        f"duplicate slug {article.slug!r} (also in {seen[article.slug]})")
            )
            continue
        seen[article.slug] = item.path
        result.articles.append(article)
    known = set(seen)
    for article in result.articles:
        source = (root / article.path).read_text(encoding="utf-8")
        result.problems.extend(link_problems(article, known, source))
    return result
