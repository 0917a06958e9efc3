"""The help center's categories: names, order, descriptions and icons from `_site.yml`.

Editors rename, reorder and describe them in the portal; a save is checked exactly as
the site file is read, written back into the file's `categories:` block (the rest of the
file and its comments stay as they were), and kept as a revision that can be restored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select

from portal import site
from portal.clock import utcnow
from portal.extensions import db
from portal.kb.documents import content_hash
from portal.kb.editing import (
    EditConflict,
    EditError,
    Editor,
    RevisionView,
    unified_diff,
    write_atomically,
)
from portal.kb.models import KbArticle, KbSiteRevision

_TOP_LEVEL_KEY = re.compile(r"^[^\s#-]")
_CATEGORIES_KEY = re.compile(r"^categories\s*:")


def category_name(slug: str) -> str:
    return site.current().category_name(slug)


def category_names(slugs: Iterable[str]) -> dict[str, str]:
    """Each category's name, from one look at the site file (each look checks the file on
    disk: a results page with ten topics spent 0.7 ms on them one by one)."""
    current = site.current()
    return {slug: current.category_name(slug) for slug in slugs}


def in_site_order(slugs: Sequence[str]) -> list[str]:
    """The file's order first, then categories it does not list, alphabetically."""
    current = site.current()
    return sorted(slugs, key=lambda slug: (current.category_order(slug), slug))


@dataclass
class CategoryForm:
    slug: str
    name: str = ""
    description: str = ""
    icon: str = ""
    position: str = ""
    articles: int = 0


def _site_path() -> Path:
    return site.content_root() / site.SITE_FILE


def _disk_text() -> str:
    try:
        return _site_path().read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def disk_hash() -> str:
    return content_hash(_disk_text().encode())


def editor_categories() -> list[CategoryForm]:
    """Every category the site file lists, then folders with articles it does not."""
    counts = dict(db.session.execute(
        select(KbArticle.category, func.count()).where(KbArticle.status != "archived")
        .group_by(KbArticle.category)
    ).all())
    current = site.current()
    rows = [CategoryForm(c.slug, c.name, c.description, c.icon, str(n), counts.get(c.slug, 0))
            for n, c in enumerate(current.categories, 1)]
    listed = {c.slug for c in current.categories}
    for slug in sorted(set(counts) - listed):
        rows.append(CategoryForm(slug, current.category_name(slug), "", "",
                                 str(len(rows) + 1), counts[slug]))
    return rows


def forms_from_post(data: Any) -> list[CategoryForm]:
    fields = ("slug", "name", "description", "icon", "position")
    columns = [data.getlist(name) for name in fields]
    if len({len(column) for column in columns}) != 1:
        raise EditError({"categories": "The form came back incomplete; reload the page."})
    forms = []
    for row in zip(*columns, strict=True):
        slug, name, description, icon, position = (str(v).replace("\r\n", "\n").strip()
                                                   for v in row)
        forms.append(CategoryForm(slug, name, description, icon, position))
    return forms


def _ordered(forms: list[CategoryForm]) -> list[CategoryForm]:
    def key(item: tuple[int, CategoryForm]) -> tuple[float, int]:
        index, form = item
        try:
            return float(form.position), index
        except ValueError:
            raise EditError({f"position-{form.slug}": f"The position of “{form.name or form.slug}”"
                             " must be a number."}) from None

    return [form for _, form in sorted(enumerate(forms), key=key)]


def categories_block(forms: list[CategoryForm]) -> str:
    entries = []
    for form in forms:
        entry = {"slug": form.slug, "name": form.name}
        if form.description:
            entry["description"] = form.description
        if form.icon:
            entry["icon"] = form.icon
        entries.append(entry)
    dumped = yaml.safe_dump(entries, sort_keys=False, allow_unicode=True, width=1000)
    return "categories:\n" + "".join(f"  {line}\n" for line in dumped.splitlines())


def replace_categories(text: str, block: str) -> str:
    """The site file with its `categories:` block replaced (or added at the end)."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _CATEGORIES_KEY.match(line)), None)
    if start is None:
        joined = text if not text or text.endswith("\n") else text + "\n"
        return joined + ("\n" if joined else "") + block
    end = next((i for i in range(start + 1, len(lines)) if _TOP_LEVEL_KEY.match(lines[i])),
               len(lines))
    # Comments just above the next setting belong to it.
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1
    tail = lines[end:]
    return "".join(lines[:start]) + block + ("\n" if tail else "") + "".join(tail)


def _record(editor: Editor, action: str, before: str, after: str) -> None:
    if before and not db.session.scalar(select(KbSiteRevision.id).limit(1)):
        # Keep the version the first edit started from, so it can be undone too.
        db.session.add(KbSiteRevision(
            author_id=None, author_name="content folder", action="original", diff="",
            text=before, content_hash=content_hash(before.encode()), created_at=utcnow()))
    db.session.add(KbSiteRevision(
        author_id=editor.id, author_name=editor.name, action=action,
        diff=unified_diff(before, after, "before", "after"), text=after,
        content_hash=content_hash(after.encode()), created_at=utcnow()))


def _write_checked(before: str, after: str, editor: Editor, action: str) -> None:
    root = site.content_root()
    try:
        words_text = (root / site.WORDS_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        words_text = None
    try:
        site.parse_site(root, after, words_text)
    except site.SiteError as error:
        raise EditError({"categories": "; ".join(error.problems)}) from error
    write_atomically(_site_path(), after)
    _record(editor, action, before, after)
    db.session.commit()


def save_categories(forms: list[CategoryForm], base_hash: str, editor: Editor) -> None:
    """Write the categories into the site file; EditError or EditConflict refuse it."""
    errors: dict[str, str] = {}
    for form in forms:
        if not site.CATEGORY_SLUG.fullmatch(form.slug):
            errors["categories"] = f"{form.slug!r} is not a category folder."
        elif not form.name:
            errors[f"name-{form.slug}"] = f"Give “{form.slug}” a name."
        elif len(form.name) > site.MAX_CATEGORY_NAME:
            errors[f"name-{form.slug}"] = f"At most {site.MAX_CATEGORY_NAME} characters."
        if "\n" in form.description or len(form.description) > site.MAX_DESCRIPTION:
            errors[f"description-{form.slug}"] = (
                f"One line of at most {site.MAX_DESCRIPTION} characters.")
        if len(form.icon) > 4:
            errors[f"icon-{form.slug}"] = "One symbol or emoji."
    if len({form.slug for form in forms}) != len(forms):
        errors["categories"] = "A category is listed twice; reload the page."
    if errors:
        raise EditError(errors)
    before = _disk_text()
    after = replace_categories(before, categories_block(_ordered(forms)))
    if base_hash != content_hash(before.encode()):
        raise EditConflict(unified_diff(before, after, "on disk now", "your version"),
                           content_hash(before.encode()))
    if after == before:
        raise EditError({"categories": "Nothing changed."})
    _write_checked(before, after, editor, "categories")


def site_revisions() -> list[RevisionView]:
    return [
        RevisionView(r.id, r.author_name, r.created_at, r.action, r.diff)
        for r in db.session.scalars(
            select(KbSiteRevision).order_by(KbSiteRevision.created_at.desc(),
                                            KbSiteRevision.id.desc()))
    ]


def restore_site_revision(revision_id: int, editor: Editor) -> None:
    revision = db.session.get(KbSiteRevision, revision_id)
    if revision is None:
        raise EditError({"revision": "That version no longer exists."})
    before = _disk_text()
    if before == revision.text:
        raise EditError({"revision": "The site file already is that version."})
    _write_checked(before, revision.text, editor, "restore")
