"""Content directory -> database -> search indexes, incrementally by content hash.

The database is written and committed first; Meilisearch and the chunk index are
told afterwards. When they cannot be told, the slugs wait in
`kb_pending_index_update` and are replayed on the next successful engine call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from flask import current_app
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from portal import site
from portal.clock import utcnow
from portal.extensions import db
from portal.kb import fallback, search_index
from portal.kb.documents import (
    ArticleError,
    ContentFile,
    ParsedArticle,
    Problem,
    is_skipped,
    iter_content_files,
    link_problems,
    parse_article,
)
from portal.kb.engine import EngineApiError, EngineUnavailable
from portal.kb.models import KbArticle, KbPendingIndexUpdate, KbSection
from portal.kb.rendering import Section, split_sections

log = logging.getLogger(__name__)

ARTICLES = "articles"
CHUNKS = "chunks"
# Set when updates were queued (or at start, when we do not know); cleared once drained.
_pending_possible = True
_pending_checked_at = 0.0
_chunks_waiting = False
# Other workers and nodes queue updates too: an empty queue seen here is believed this long.
PENDING_RECHECK_SECONDS = 5.0


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    index_queued: bool = False
    index_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def summary(self) -> str:
        parts = [
            f"{len(self.added)} added", f"{len(self.changed)} changed",
            f"{len(self.renamed)} renamed", f"{len(self.deleted)} deleted",
            f"{self.unchanged} unchanged", f"{len(self.errors)} skipped with errors",
            f"{len(self.warnings)} warnings",
        ]
        text = ", ".join(parts) + f" in {self.seconds:.2f} s"
        if self.index_queued:
            text += " (search engine unreachable: index updates queued)"
        return text


def site_problems(root: Path) -> list[Problem]:
    """The site file's mistakes (the portal keeps its last good site while there are any)."""
    try:
        loaded = site.load_site(root)
    except site.SiteError as error:
        found = []
        for problem in error.problems:
            name, _, rest = problem.partition(": ")
            found.append(Problem(site.WORDS_FILE, None, rest) if name == site.WORDS_FILE
                         else Problem(site.SITE_FILE, None, problem))
        return found
    if not loaded.categories:
        return []
    return [
        Problem(site.SITE_FILE, None, f"the folder {folder.name}/ is not in `categories`: it "
                f"is shown as “{loaded.category_name(folder.name)}”, after the listed ones",
                "warning")
        for folder in sorted(root.iterdir())
        if folder.is_dir() and not is_skipped(f"{folder.name}/x.md")
        and loaded.category(folder.name) is None and any(folder.glob("*.md"))
    ]


def content_root(content_dir: str | Path | None = None) -> Path:
    return Path(content_dir).resolve() if content_dir else site.content_root()


def article_search_text(title: str, sections: Sequence[Section]) -> str:
    return " ".join([title] + [f"{s.heading} {s.text}" for s in sections])


def parsed_from_row(row: KbArticle) -> ParsedArticle:
    return ParsedArticle(
        slug=row.slug, title=row.title, category=row.category, tags=tuple(row.tags or ()),
        summary=row.summary, status=row.status, audience=row.audience, updated=row.updated,
        body=row.body, path=row.path, content_hash=row.content_hash,
    )


def fill_row(row: KbArticle, article: ParsedArticle, sections: list[Section]) -> None:
    row.slug = article.slug
    row.path = article.path
    row.title = article.title
    row.category = article.category
    row.tags = list(article.tags)
    row.summary = article.summary
    row.status = article.status
    row.audience = article.audience
    row.updated = article.updated
    row.body = article.body
    row.search_text = article_search_text(article.title, sections)
    row.content_hash = article.content_hash
    row.changed_at = utcnow()


def section_rows(article_id: int, sections: list[Section]) -> list[dict[str, Any]]:
    return [
        {"article_id": article_id, "position": n, "anchor": s.anchor[:120],
         "heading": s.heading[:300], "level": s.level, "text": s.text}
        for n, s in enumerate(sections)
    ]


def document_for(article: ParsedArticle, sections: list[Section]) -> dict[str, Any]:
    return search_index.make_document(
        slug=article.slug, title=article.title,
        headings=[s.heading for s in sections if s.anchor],
        tags=article.tags, summary=article.summary,
        body_text=" ".join(s.text for s in sections),
        category=article.category, status=article.status, audience=article.audience,
        updated=article.updated,
    )


def document_for_row(row: KbArticle) -> dict[str, Any]:
    sections = [Section(s.anchor, s.heading, s.level, s.text) for s in row.sections]
    return document_for(parsed_from_row(row), sections)


def fts_row(article: ParsedArticle, sections: list[Section]) -> tuple[str, str, str, str, str]:
    return (
        article.slug, article.content_hash, article.title, " ".join(article.tags),
        " ".join(f"{s.heading} {s.text}" for s in sections if s.anchor or s.text),
    )


# --- the sync -------------------------------------------------------------------------


@dataclass
class _Candidate:
    article: ParsedArticle
    sections: list[Section]
    source: str


def _read_all(root: Path) -> list[ContentFile | Problem]:
    # Read up front so the progress bar knows its length.
    return list(iter_content_files(root))


def sync_content(
    content_dir: str | Path | None = None,
    *,
    progress: bool = False,
    chunks: bool | None = None,
    wait: bool = False,
) -> Any:
    """Load changed files into the database and the indexes; see SyncReport."""
    started = time.perf_counter()
    root = content_root(content_dir)
    report = SyncReport()
    if not root.is_dir():
        report.problems.append(Problem(str(root), None, "the content directory does not exist"))
        return report
    report.problems += site_problems(root)
    use_chunks = current_app.config.get("KB_SYNC_CHUNKS", True) if chunks is None else chunks
    fallback.ensure_fts()

    rows = db.session.execute(
        select(KbArticle.id, KbArticle.slug, KbArticle.path, KbArticle.content_hash)
    ).all()
    published_before = int(db.session.scalar(
        select(func.count()).select_from(KbArticle).where(KbArticle.status == "published")
    ) or 0)
    by_path = {r.path: r for r in rows}
    by_slug = {r.slug: r for r in rows}

    items = _read_all(root)
    present_paths: set[str] = set()
    failed_paths: set[str] = set()
    unchanged_slugs: dict[str, str] = {}  # slug -> path
    candidates: list[_Candidate] = []
    bar_context = (
        click.progressbar(items, label="Reading content", show_pos=True)
        if progress else nullcontext(items)
    )
    with bar_context as iterator:
        for item in iterator:
            if isinstance(item, Problem):
                report.problems.append(item)
                failed_paths.add(item.path)
                continue
            present_paths.add(item.path)
            known = by_path.get(item.path)
            if known is not None and known.content_hash == item.content_hash:
                unchanged_slugs[known.slug] = item.path
                continue
            try:
                article = parse_article(item.path, item.data, item.content_hash)
            except ArticleError as exc:
                report.problems.append(exc.problem)
                failed_paths.add(item.path)
                continue
            candidates.append(
                _Candidate(article, split_sections(article.title, article.body),
                           item.data.decode("utf-8", "replace"))
            )

    # Duplicate slugs: an unchanged file keeps its slug; among new files the one that
    # already owned the slug wins, then the first path.
    def owner_first(c: _Candidate) -> tuple[int, str]:
        known = by_slug.get(c.article.slug)
        return (0 if known is not None and known.path == c.article.path else 1, c.article.path)

    claimed: dict[str, str] = dict(unchanged_slugs)
    accepted: list[_Candidate] = []
    for candidate in sorted(candidates, key=owner_first):
        slug = candidate.article.slug
        if slug in claimed:
            report.problems.append(Problem(
                candidate.article.path, 1,
                f"duplicate slug {slug!r} (already used by {claimed[slug]})",
            ))
            failed_paths.add(candidate.article.path)
            continue
        claimed[slug] = candidate.article.path
        accepted.append(candidate)

    # Match each accepted file to an existing row: same slug, same path, or the same
    # content at a vanished path (a moved file). Otherwise it is new.
    taken_rows: set[int] = {by_slug[s].id for s in unchanged_slugs if s in by_slug}
    vanished_by_hash = {
        r.content_hash: r for r in rows
        if r.path not in present_paths and r.path not in failed_paths
    }
    matches: list[tuple[_Candidate, Any]] = []
    for candidate in accepted:
        article = candidate.article
        row = by_slug.get(article.slug)
        if row is not None and row.id in taken_rows:
            row = None
        if row is None:
            row = by_path.get(article.path)
            if row is not None and (row.id in taken_rows or row.slug in claimed):
                row = None
        if row is None:
            row = vanished_by_hash.get(article.content_hash)
            if row is not None and (row.id in taken_rows or row.slug in claimed):
                row = None
        if row is not None:
            taken_rows.add(row.id)
        matches.append((candidate, row))

    # Rows that lost their file. A file that failed to parse keeps its last good version.
    to_delete = [
        r for r in rows
        if r.id not in taken_rows and r.path not in failed_paths
        and (r.path not in present_paths or r.slug not in claimed)
    ]
    # A row whose file still exists but now fails is kept even if its slug is unclaimed.
    to_delete = [r for r in to_delete if r.path not in failed_paths]

    known_slugs = set(claimed) | {r.slug for r in rows if r.path in failed_paths}
    for candidate, _ in matches:
        report.problems.extend(link_problems(candidate.article, known_slugs, candidate.source))

    index_upserts: list[tuple[ParsedArticle, list[Section]]] = []
    index_deletes: list[str] = []
    fts_rows: list[tuple[str, str, str, str, str]] = []

    if to_delete:
        ids = [r.id for r in to_delete]
        db.session.execute(delete(KbArticle).where(KbArticle.id.in_(ids)))
        for r in to_delete:
            report.deleted.append(r.slug)
            index_deletes.append(r.slug)
        fallback.remove([r.slug for r in to_delete])

    updates = [(c, r) for c, r in matches if r is not None]
    inserts = [c for c, r in matches if r is None]
    if updates:
        loaded = {
            a.id: a for a in db.session.scalars(
                select(KbArticle).where(KbArticle.id.in_([r.id for _, r in updates]))
            )
        }
        # Park renamed rows on temporary keys so swaps of slugs or paths never collide.
        moving = [
            loaded[r.id] for c, r in updates
            if r.slug != c.article.slug or r.path != c.article.path
        ]
        for parked in moving:
            parked.slug = f"~{parked.id}"
            parked.path = f"~moving/{parked.id}"
        if moving:
            db.session.flush()
        db.session.execute(
            delete(KbSection).where(KbSection.article_id.in_([r.id for _, r in updates]))
        )
        for candidate, old in updates:
            article = candidate.article
            fill_row(loaded[old.id], article, candidate.sections)
            if old.slug != article.slug:
                report.renamed.append((old.slug, article.slug))
                index_deletes.append(old.slug)
                fallback.remove([old.slug])
            elif old.path != article.path:
                report.renamed.append((old.path, article.path))
            else:
                report.changed.append(article.slug)
        db.session.flush()
        db.session.execute(
            insert(KbSection),
            [s for c, r in updates for s in section_rows(r.id, c.sections)],
        )
    if inserts:
        new_rows: list[KbArticle] = []
        for candidate in inserts:
            fresh = KbArticle(views=0, helpful_yes=0, helpful_no=0)
            fill_row(fresh, candidate.article, candidate.sections)
            new_rows.append(fresh)
            report.added.append(candidate.article.slug)
        db.session.add_all(new_rows)
        db.session.flush()
        section_values = [
            s for fresh, c in zip(new_rows, inserts, strict=True)
            for s in section_rows(fresh.id, c.sections)
        ]
        if section_values:
            db.session.execute(insert(KbSection), section_values)
    for candidate, _ in matches:
        index_upserts.append((candidate.article, candidate.sections))
        fts_rows.append(fts_row(candidate.article, candidate.sections))
    fallback.index_rows(fts_rows)
    report.unchanged = len(unchanged_slugs)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        report.problems.append(Problem(str(root), None, f"could not store the content: {exc.orig}"))
        report.seconds = time.perf_counter() - started
        return report

    _update_indexes(
        root, index_upserts, index_deletes, report, use_chunks, wait, progress, published_before
    )
    report.seconds = time.perf_counter() - started
    return report


def _update_indexes(
    root: Path,
    upserts: list[tuple[ParsedArticle, list[Section]]],
    deletes: list[str],
    report: SyncReport,
    use_chunks: bool,
    wait: bool,
    progress: bool,
    published_before: int,
) -> None:
    published = [(a, s) for a, s in upserts if a.status == "published"]
    hidden = [a.slug for a, _ in upserts if a.status != "published"]
    tasks: list[int] = []
    try:
        replayed = replay_pending(chunks=use_chunks)
        tasks += search_index.ensure_index(
            search_index.index_uid(), search_index.load_synonyms(root),
            search_index.load_stop_words(root),
        )
        in_index = search_index.document_count()
        if not replayed and in_index is not None and in_index != published_before:
            # The index drifted from the database (wiped, or left over from elsewhere):
            # rebuild its documents from the rows instead of trusting the increments.
            tasks += search_index.clear()
            tasks += _push_all_published()
        else:
            tasks += search_index.upsert_documents([document_for(a, s) for a, s in published])
            tasks += search_index.delete_documents(deletes + hidden)
        if wait:
            report.index_errors += search_index.wait(tasks, timeout=600)
    except (EngineUnavailable, EngineApiError) as exc:
        log.warning("search index update queued: %s", exc)
        report.index_queued = True
        queue_updates([a.slug for a, _ in upserts] + deletes, ARTICLES)
    if use_chunks:
        chunk_upserts = [a for a, _ in published]
        chunk_deletes = deletes + hidden
        if not _run_chunk_hook(chunk_upserts, chunk_deletes, progress):
            report.index_queued = True
        _store_missing_sentences(progress)


def _store_missing_sentences(progress: bool = False) -> None:
    """Articles indexed before their sentences were stored (kb.sentences) get them on the
    next sync, changed or not: until then the chat embeds them while customers wait."""
    from portal.kb import sentences

    try:
        rows = sentences.articles_without_sentences()
        if not rows:
            return
        if progress:
            click.echo(f"Embedding the sentences of {len(rows)} articles for the chatbot…")
        sentences.store_sentence_vectors([parsed_from_row(row) for row in rows])
    except Exception as exc:  # noqa: BLE001 - the chat embeds them itself meanwhile
        db.session.rollback()
        log.warning("sentence vectors not stored: %s", exc)


def _push_all_published() -> list[int]:
    documents = [
        document_for_row(row)
        for row in db.session.scalars(
            select(KbArticle).where(KbArticle.status == "published")
        )
    ]
    return search_index.upsert_documents(documents)


def _run_chunk_hook(upserts: list[ParsedArticle], deletes: list[str], progress: bool) -> bool:
    """Tell the chat's chunk index; on any failure queue those slugs and return False."""
    if not upserts and not deletes:
        return True
    from portal.kb.chunks import delete_article_chunks, index_article_chunks

    try:
        if deletes:
            delete_article_chunks(list(deletes))
        if upserts:
            if progress:
                click.echo(f"Embedding {len(upserts)} articles for the chatbot…")
            index_article_chunks(upserts)
    except Exception as exc:  # noqa: BLE001 - any failure there must only delay chunks
        # Storing the sentences writes to the database: a failed statement leaves the
        # session unusable (PostgreSQL aborts the transaction) until it is rolled back.
        db.session.rollback()
        log.warning("chunk index update queued: %s", exc)
        queue_updates([a.slug for a in upserts] + list(deletes), CHUNKS, str(exc))
        return False
    return True


# --- the pending queue ------------------------------------------------------------------


def queue_updates(slugs: Iterable[str], target: str, error: str | None = None) -> None:
    global _pending_possible
    unique = sorted(set(slugs))
    if not unique:
        return
    existing = set(db.session.scalars(
        select(KbPendingIndexUpdate.slug).where(
            KbPendingIndexUpdate.target == target, KbPendingIndexUpdate.slug.in_(unique)
        )
    ))
    for slug in unique:
        if slug not in existing:
            db.session.add(KbPendingIndexUpdate(slug=slug, target=target, last_error=error))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another process queued the same slug: nothing is lost
    _pending_possible = True


def pending_count() -> int:
    return int(db.session.scalar(select(func.count()).select_from(KbPendingIndexUpdate)) or 0)


def replay_pending(*, chunks: bool = True) -> int:
    """Send queued updates; raises EngineUnavailable if the engine is still away."""
    global _pending_possible, _pending_checked_at, _chunks_waiting
    now = time.monotonic()
    if not _pending_possible and now - _pending_checked_at < PENDING_RECHECK_SECONDS:
        return 0
    _pending_checked_at = now
    pending = list(db.session.scalars(select(KbPendingIndexUpdate)))
    if not pending:
        _pending_possible = _chunks_waiting = False
        return 0
    _chunks_waiting = not chunks and any(p.target == CHUNKS for p in pending)
    done = 0
    for target in (ARTICLES, CHUNKS):
        entries = [p for p in pending if p.target == target]
        if not entries or (target == CHUNKS and not chunks):
            continue
        slugs = [p.slug for p in entries]
        current = {
            r.slug: r
            for r in db.session.scalars(select(KbArticle).where(KbArticle.slug.in_(slugs)))
        }
        live = [r for r in current.values() if r.status == "published"]
        gone = [s for s in slugs if s not in current or current[s].status != "published"]
        if target == ARTICLES:
            search_index.upsert_documents([document_for_row(r) for r in live])
            search_index.delete_documents(gone)
        elif not _run_chunk_hook([parsed_from_row(r) for r in live], gone, False):
            continue
        db.session.execute(
            delete(KbPendingIndexUpdate).where(KbPendingIndexUpdate.id.in_([p.id for p in entries]))
        )
        db.session.commit()
        done += len(entries)
    if not chunks or done == len(pending):
        _pending_possible = pending_count() > 0
    return done


def chunk_updates_waiting() -> bool:
    """The last replay left the chat's chunk updates for a caller that may embed text."""
    return _chunks_waiting


def reset_pending_flag() -> None:
    """Tests and new processes: assume the queue may hold something."""
    global _pending_possible
    _pending_possible = True
