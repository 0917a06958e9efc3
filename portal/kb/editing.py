"""The editor's workflow: edit, create, rename, archive, restore.

A save is checked against the file on disk (refused with a diff if it changed
since the editor opened it), validated exactly as sync would parse it, written
atomically, recorded as a revision and committed, and only then sent to the
search indexes, so a slow or absent Meilisearch never costs an editor their work.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from flask import current_app
from sqlalchemy import String, cast, delete, func, insert, or_, select

from portal import site
from portal.clock import utcnow
from portal.extensions import db
from portal.kb import fallback, search_index, sync
from portal.kb.documents import (
    AUDIENCES,
    SLUG_RE,
    ArticleError,
    ParsedArticle,
    content_hash,
    link_problems,
    parse_article,
    split_front_matter,
)
from portal.kb.engine import EngineApiError, EngineUnavailable
from portal.kb.models import KbArticle, KbRevision, KbSection
from portal.kb.rendering import render_markdown, split_sections

log = logging.getLogger(__name__)

EDITABLE_STATUSES = ("published", "draft", "archived")
RESERVED_SLUGS = {"search", "editor", "category"}
MAX_BODY_CHARS = 200_000


@dataclass(frozen=True)
class Editor:
    id: int | None
    name: str


@dataclass
class ArticleForm:
    """What the edit page shows and posts back."""

    title: str = ""
    slug: str = ""
    category: str = ""
    tags: str = ""
    summary: str = ""
    status: str = "draft"
    audience: str = "public"
    body: str = ""
    base_hash: str = ""

    @classmethod
    def from_mapping(cls, data: Any) -> ArticleForm:
        return cls(**{
            name: str(data.get(name, "") or "").replace("\r\n", "\n")
            for name in cls.__dataclass_fields__
        })


class EditError(ValueError):
    """Validation problems, by form field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class EditConflict(RuntimeError):
    """The file changed on disk after the editor opened it."""

    def __init__(self, diff: str, disk_hash: str) -> None:
        super().__init__("the file changed on disk since you opened it")
        self.diff = diff
        self.disk_hash = disk_hash


@dataclass(frozen=True)
class SaveResult:
    slug: str
    indexed: bool
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EditorRow:
    slug: str
    title: str
    category: str
    status: str
    audience: str
    views: int
    helpful_yes: int
    helpful_no: int
    last_editor: str | None
    changed_at: Any

    @property
    def helpful_percent(self) -> int | None:
        total = self.helpful_yes + self.helpful_no
        return round(100 * self.helpful_yes / total) if total else None


@dataclass(frozen=True)
class RevisionView:
    id: int
    author: str
    created_at: Any
    action: str
    diff: str


# Words a customer's question carries that no article title would: dropping them lets a
# content-gap query such as "how do I pair my phone" find the article about pairing.
_FILLER_WORDS = frozenset(
    "a an and are can could do does for from how i in is it me my of on or should the to "
    "what when where which why with you your".split()
)


def editor_articles(status: str | None = None, text: str | None = None) -> list[EditorRow]:
    """Articles for the editor's list; `text` narrows it to titles, slugs, tags or summaries
    containing every word, so a content gap from the dashboard lands on what already covers it."""
    query = select(KbArticle).order_by(KbArticle.category, KbArticle.title)
    if status in EDITABLE_STATUSES:
        query = query.where(KbArticle.status == status)
    words = [w for w in re.findall(r"\w+", (text or "").lower()) if w not in _FILLER_WORDS]
    for word in words[:8]:
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(*(
            func.lower(column).like(pattern, escape="\\")
            for column in (KbArticle.title, KbArticle.slug, cast(KbArticle.tags, String),
                           KbArticle.summary)
        )))
    return [
        EditorRow(r.slug, r.title, r.category, r.status, r.audience, r.views, r.helpful_yes,
                  r.helpful_no, r.last_editor_name, r.changed_at)
        for r in db.session.scalars(query)
    ]


def _article_row(slug: str) -> KbArticle | None:
    return db.session.scalar(select(KbArticle).where(KbArticle.slug == slug))


def _disk_text(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return None


def load_form(slug: str) -> ArticleForm | None:
    """The article as it is on disk now (the source of truth), with its hash."""
    row = _article_row(slug)
    if row is None:
        return None
    path = site.content_root() / row.path
    text = _disk_text(path)
    base_hash = content_hash(text.encode()) if text is not None else ""
    article = sync.parsed_from_row(row)
    if text is not None:
        try:
            article = parse_article(row.path, text.encode(), base_hash)
        except ArticleError:
            pass  # the file is broken on disk; edit the last good version
    return ArticleForm(
        title=article.title, slug=article.slug, category=article.category,
        tags=", ".join(article.tags), summary=article.summary, status=article.status,
        audience=article.audience, body=article.body, base_hash=base_hash,
    )


def preview(body: str) -> tuple[str, list[str]]:
    """Sanitised HTML for the live preview, and warnings about links to missing slugs."""
    rendered = render_markdown(body[:MAX_BODY_CHARS])
    probe = ParsedArticle("preview", "preview", "general", (), "", "draft", "public", None,
                          body, "preview.md", "")
    known = set(db.session.scalars(select(KbArticle.slug)))
    return rendered.html, [p.message for p in link_problems(probe, known)]


def _validate(form: ArticleForm, *, slug_owner: int | None) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not form.title.strip():
        errors["title"] = "Give the article a title."
    elif len(form.title) > 200:
        errors["title"] = "Keep the title under 200 characters."
    if not SLUG_RE.fullmatch(form.slug):
        errors["slug"] = "Use lowercase letters, digits and hyphens (for example reset-password)."
    elif form.slug in RESERVED_SLUGS:
        errors["slug"] = "That address is used by the help centre itself; choose another."
    else:
        other = _article_row(form.slug)
        if other is not None and other.id != slug_owner:
            errors["slug"] = f"Another article already uses {form.slug!r}."
    if not SLUG_RE.fullmatch(form.category):
        errors["category"] = "Use a folder name: lowercase letters, digits and hyphens."
    if form.status not in EDITABLE_STATUSES:
        errors["status"] = "Choose published, draft or archived."
    if form.audience not in AUDIENCES:
        errors["audience"] = "Choose public, customers or internal."
    if not form.body.strip():
        errors["body"] = "Write the article's text."
    elif len(form.body) > MAX_BODY_CHARS:
        errors["body"] = f"The text is longer than {MAX_BODY_CHARS:,} characters."
    return errors


def _existing_meta(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    front, _, _ = split_front_matter(text.replace("\r\n", "\n"))
    try:
        meta = yaml.safe_load(front or "") or {}
    except yaml.YAMLError:
        return {}
    return meta if isinstance(meta, dict) else {}


def compose(form: ArticleForm, relative: str, previous_text: str | None) -> str:
    """The file's new text: known keys from the form, unknown keys kept as they were."""
    meta = _existing_meta(previous_text)
    parts = relative.split("/")
    meta["title"] = form.title.strip()
    default_slug = parts[-1][: -len(".md")]
    if form.slug != default_slug:
        meta["slug"] = form.slug
    else:
        meta.pop("slug", None)
    if form.category != (parts[0] if len(parts) > 1 else "general"):
        meta["category"] = form.category
    else:
        meta.pop("category", None)
    tags = [t.strip() for t in form.tags.split(",") if t.strip()]
    meta["tags"] = tags
    meta["summary"] = form.summary.strip()
    meta["status"] = form.status
    meta["audience"] = form.audience
    meta["updated"] = date.today().isoformat()
    known = ("title", "slug", "category", "tags", "summary", "status", "audience", "updated")
    ordered: dict[str, Any] = {k: meta[k] for k in known if k in meta}
    ordered.update({k: v for k, v in meta.items() if k not in ordered})
    front = yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{front}---\n\n{form.body.strip()}\n"


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, then renamed
        "w", encoding="utf-8", dir=path.parent, prefix=".", suffix=".tmp", delete=False
    )
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def unified_diff(before: str, after: str, before_name: str, after_name: str) -> str:
    return "".join(difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True),
        fromfile=before_name, tofile=after_name,
    ))


def _store(
    row: KbArticle | None,
    article: ParsedArticle,
    *,
    editor: Editor,
    action: str,
    previous_text: str,
    new_text: str,
) -> KbArticle:
    sections = split_sections(article.title, article.body)
    if row is None:
        row = KbArticle(views=0, helpful_yes=0, helpful_no=0)
        db.session.add(row)
    elif not db.session.scalar(
        select(KbRevision.id).where(KbRevision.article_id == row.id).limit(1)
    ) and previous_text:
        # Keep the version the editor started from, so the first edit can be undone too.
        db.session.add(KbRevision(
            article_id=row.id, slug=row.slug, author_id=None, author_name="content sync",
            action="original", diff="", text=previous_text,
            content_hash=content_hash(previous_text.encode()), created_at=row.changed_at,
        ))
    sync.fill_row(row, article, sections)
    row.last_editor_id, row.last_editor_name = editor.id, editor.name
    db.session.flush()
    db.session.execute(delete(KbSection).where(KbSection.article_id == row.id))
    if sections:
        db.session.execute(insert(KbSection), sync.section_rows(row.id, sections))
    db.session.add(KbRevision(
        article_id=row.id, slug=article.slug, author_id=editor.id, author_name=editor.name,
        created_at=utcnow(), action=action,
        diff=unified_diff(previous_text, new_text, "before", "after"),
        text=new_text, content_hash=article.content_hash,
    ))
    fallback.index_rows([sync.fts_row(article, sections)])
    return row


def _reindex(article: ParsedArticle, removed_slugs: list[str]) -> bool:
    """Tell Meilisearch about one article at once; queue it if the engine is away."""
    sections = split_sections(article.title, article.body)
    gone = list(removed_slugs)
    indexed = True
    try:
        if article.status == "published":
            search_index.upsert_documents([sync.document_for(article, sections)])
        else:
            gone.append(article.slug)
        search_index.delete_documents(gone)
    except (EngineUnavailable, EngineApiError) as exc:
        log.warning("index update for %s queued: %s", article.slug, exc)
        sync.queue_updates([article.slug, *removed_slugs], sync.ARTICLES, str(exc))
        indexed = False
    if current_app.config.get("KB_EDITOR_CHUNKS", True):
        published = [article] if article.status == "published" else []
        indexed = sync._run_chunk_hook(published, gone, False) and indexed
    return indexed


def _parse_or_raise(relative: str, text: str) -> ParsedArticle:
    data = text.encode("utf-8")
    try:
        return parse_article(relative, data, content_hash(data))
    except ArticleError as exc:
        raise EditError({"body": exc.problem.message}) from exc


def save_article(slug: str | None, form: ArticleForm, editor: Editor) -> SaveResult:
    """Create (slug None) or update an article; raises EditError or EditConflict."""
    row = _article_row(slug) if slug else None
    if slug and row is None:
        raise EditError({"slug": "That article no longer exists."})
    if row is not None:
        # Renames have their own action; the edit form keeps slug and folder.
        form.slug = row.slug
    errors = _validate(form, slug_owner=row.id if row else None)
    if errors:
        raise EditError(errors)
    root = site.content_root()
    relative = row.path if row is not None else f"{form.category}/{form.slug}.md"
    path = root / relative
    disk_text = _disk_text(path)
    if row is None and disk_text is not None:
        raise EditError({"slug": f"A file {relative} already exists; choose another slug."})
    previous_text = disk_text if disk_text is not None else ""
    new_text = compose(form, relative, disk_text)
    if row is not None:
        disk_hash = content_hash(disk_text.encode()) if disk_text is not None else ""
        if form.base_hash != disk_hash:
            raise EditConflict(
                unified_diff(disk_text or "", new_text, "on disk now", "your version"), disk_hash
            )
    article = _parse_or_raise(relative, new_text)
    write_atomically(path, new_text)
    row = _store(row, article, editor=editor, action="create" if slug is None else "edit",
                 previous_text=previous_text, new_text=new_text)
    db.session.commit()
    warnings = [p.message for p in link_problems(
        article, set(db.session.scalars(select(KbArticle.slug))), new_text)]
    return SaveResult(article.slug, _reindex(article, []), warnings)


def rename_article(slug: str, new_slug: str, editor: Editor) -> SaveResult:
    row = _article_row(slug)
    if row is None:
        raise EditError({"new_slug": "That article no longer exists."})
    # Only spaces are forgiven: a slug sent with a newline was not typed in the form.
    new_slug = (new_slug or "").strip(" ").lower()
    if new_slug == slug:
        raise EditError({"new_slug": "That is already the article's slug."})
    if not SLUG_RE.fullmatch(new_slug) or new_slug in RESERVED_SLUGS:
        raise EditError({"new_slug": "Use lowercase letters, digits and hyphens."})
    if _article_row(new_slug) is not None:
        raise EditError({"new_slug": f"Another article already uses {new_slug!r}."})
    root = site.content_root()
    old_path = root / row.path
    folder = row.path.rsplit("/", 1)[0] if "/" in row.path else ""
    relative = f"{folder}/{new_slug}.md" if folder else f"{new_slug}.md"
    if (root / relative).exists():
        raise EditError({"new_slug": f"A file {relative} already exists."})
    previous_text = _disk_text(old_path) or ""
    meta = _existing_meta(previous_text)
    meta.pop("slug", None)
    _, body, _ = split_front_matter(previous_text.replace("\r\n", "\n"))
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000)
    new_text = f"---\n{front}---\n\n{body.strip()}\n"
    article = _parse_or_raise(relative, new_text)
    write_atomically(root / relative, new_text)
    old_path.unlink(missing_ok=True)
    fallback.remove([slug])
    row = _store(row, article, editor=editor, action="rename", previous_text=previous_text,
                 new_text=new_text)
    db.session.commit()
    linking = [
        r.slug for r in db.session.scalars(select(KbArticle).where(KbArticle.body.contains(
            f"]({slug}")))
    ]
    warnings = [f"{len(linking)} articles still link to {slug}: {', '.join(linking[:10])}"] \
        if linking else []
    return SaveResult(article.slug, _reindex(article, [slug]), warnings)


def archive_article(slug: str, editor: Editor) -> SaveResult:
    form = load_form(slug)
    if form is None:
        raise EditError({"slug": "That article no longer exists."})
    form.status = "archived"
    return save_article(slug, form, editor)


def revisions(slug: str) -> list[RevisionView]:
    row = _article_row(slug)
    if row is None:
        return []
    return [
        RevisionView(r.id, r.author_name, r.created_at, r.action, r.diff)
        for r in db.session.scalars(
            select(KbRevision).where(KbRevision.article_id == row.id)
            .order_by(KbRevision.created_at.desc(), KbRevision.id.desc())
        )
    ]


def restore_revision(slug: str, revision_id: int, editor: Editor) -> SaveResult:
    row = _article_row(slug)
    revision = db.session.get(KbRevision, revision_id)
    if row is None or revision is None or revision.article_id != row.id:
        raise EditError({"revision": "That revision does not belong to this article."})
    root = site.content_root()
    path = root / row.path
    previous_text = _disk_text(path) or ""
    text = revision.text
    article = _parse_or_raise(row.path, text)
    if article.slug != row.slug:
        raise EditError({"revision": "That revision had another slug; rename the article first."})
    write_atomically(path, text)
    _store(row, article, editor=editor, action="restore", previous_text=previous_text,
           new_text=text)
    db.session.commit()
    return SaveResult(article.slug, _reindex(article, []))
