"""The editor's pages: article list, edit with live preview, history and restore."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user

from portal.accounts.decorators import role_required
from portal.accounts.models import Role
from portal.kb import editing, services
from portal.kb.views import bp
from portal.web import hx_redirect, render


def _editor() -> editing.Editor:
    return editing.Editor(current_user.id, current_user.name)


def _saved_message(result: editing.SaveResult, verb: str) -> None:
    if result.indexed:
        flash(f"{verb}. It is live in search now.", "success")
    else:
        flash(f"{verb}. Search is catching up: the index update is queued.", "warning")
    for warning in result.warnings:
        flash(warning, "warning")


@bp.get("/kb/editor")
@role_required(Role.EDITOR)
def editor_list():
    status = request.args.get("status") or None
    text = (request.args.get("q") or "").strip()[:200]
    rows = editing.editor_articles(status, text)
    if services.is_natural_query(text):
        # A question (a content gap from the dashboard) finds what already answers it the way
        # customers' searches do, first; drafts and words in titles follow.
        found = services.search_articles(text, audiences=services.STAFF_AUDIENCES, per_page=10)
        ranked = [h.slug for h in found.hits if not found.weak]
        by_slug = {r.slug: r for r in editing.editor_articles(status, None)}
        first = [by_slug[slug] for slug in ranked if slug in by_slug]
        rows = first + [r for r in rows if r.slug not in set(ranked)]
    return render("kb/editor_list.html", rows=rows, status=status, q=text)


def _edit_page(slug: str | None, form: editing.ArticleForm, errors: dict[str, str] | None = None,
               conflict: editing.EditConflict | None = None, status: int = 200):
    html, warnings = editing.preview(form.body)
    page = render(
        "kb/editor_edit.html", slug=slug, form=form, errors=errors or {}, conflict=conflict,
        preview_html=html, preview_warnings=warnings,
        audiences=editing.AUDIENCES, statuses=editing.EDITABLE_STATUSES,
    )
    return page, status


@bp.route("/kb/editor/new", methods=["GET", "POST"])
@role_required(Role.EDITOR)
def editor_new():
    if request.method == "GET":
        # Prefilled from a content gap (title) or a solved ticket's reply (the copilot's
        # "make this an article": title, category and body); still a draft to review.
        form = editing.ArticleForm(title=request.args.get("title", "")[:200],
                                   category=request.args.get("category", ""), status="draft",
                                   body=request.args.get("body", "")[:20000]
                                   or "Write a short introduction.\n\n## First step\n")
        return _edit_page(None, form)
    form = editing.ArticleForm.from_mapping(request.form)
    try:
        result = editing.save_article(None, form, _editor())
    except editing.EditError as exc:
        return _edit_page(None, form, exc.errors, status=422)
    _saved_message(result, "Article created")
    return hx_redirect(url_for("kb.editor_edit", slug=result.slug))


@bp.route("/kb/editor/<slug>/edit", methods=["GET", "POST"])
@role_required(Role.EDITOR)
def editor_edit(slug: str):
    if request.method == "GET":
        form = editing.load_form(slug)
        if form is None:
            abort(404)
        return _edit_page(slug, form)
    form = editing.ArticleForm.from_mapping(request.form)
    try:
        result = editing.save_article(slug, form, _editor())
    except editing.EditError as exc:
        return _edit_page(slug, form, exc.errors, status=422)
    except editing.EditConflict as conflict:
        # Keep the editor's text; the next save replaces what is on disk now, knowingly.
        form.base_hash = conflict.disk_hash
        return _edit_page(slug, form, conflict=conflict, status=409)
    _saved_message(result, "Saved")
    return hx_redirect(url_for("kb.editor_edit", slug=result.slug))


@bp.post("/kb/editor/preview")
@role_required(Role.EDITOR)
def editor_preview():
    html, warnings = editing.preview(request.form.get("body", ""))
    return render("kb/_preview.html", "kb/_preview.html", preview_html=html,
                  preview_warnings=warnings)


@bp.post("/kb/editor/<slug>/rename")
@role_required(Role.EDITOR)
def editor_rename(slug: str):
    try:
        result = editing.rename_article(slug, request.form.get("new_slug", ""), _editor())
    except editing.EditError as exc:
        for message in exc.errors.values():
            flash(f"Not renamed: {message}", "error")
        return hx_redirect(url_for("kb.editor_edit", slug=slug))
    _saved_message(result, f"Renamed to {result.slug}")
    return hx_redirect(url_for("kb.editor_edit", slug=result.slug))


@bp.post("/kb/editor/<slug>/archive")
@role_required(Role.EDITOR)
def editor_archive(slug: str):
    try:
        result = editing.archive_article(slug, _editor())
    except editing.EditError as exc:
        for message in exc.errors.values():
            flash(f"Not archived: {message}", "error")
        return hx_redirect(url_for("kb.editor_list"))
    _saved_message(result, "Archived: readers no longer see it")
    return hx_redirect(url_for("kb.editor_list"))


@bp.get("/kb/editor/<slug>/history")
@role_required(Role.EDITOR)
def editor_history(slug: str):
    form = editing.load_form(slug)
    if form is None:
        abort(404)
    return render("kb/editor_history.html", slug=slug, title=form.title,
                  revisions=editing.revisions(slug))


@bp.post("/kb/editor/<slug>/restore/<int:revision_id>")
@role_required(Role.EDITOR)
def editor_restore(slug: str, revision_id: int):
    try:
        result = editing.restore_revision(slug, revision_id, _editor())
    except editing.EditError as exc:
        for message in exc.errors.values():
            flash(f"Not restored: {message}", "error")
        return redirect(url_for("kb.editor_history", slug=slug))
    _saved_message(result, "Revision restored")
    return hx_redirect(url_for("kb.editor_edit", slug=result.slug))
