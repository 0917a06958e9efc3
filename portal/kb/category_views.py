"""The editor's category page: rename, reorder and describe, with the site file's history."""

from __future__ import annotations

from flask import flash, request, url_for
from flask_login import current_user

from portal import site
from portal.accounts.decorators import role_required
from portal.accounts.models import Role
from portal.kb import categories, editing
from portal.kb.views import bp
from portal.web import hx_redirect, render


def _page(forms: list[categories.CategoryForm], base_hash: str,
          errors: dict[str, str] | None = None,
          conflict: editing.EditConflict | None = None, status: int = 200):
    return render("kb/editor_categories.html", forms=forms, base_hash=base_hash,
                  errors=errors or {}, conflict=conflict,
                  site_file=site.SITE_FILE), status


@bp.route("/kb/editor/categories", methods=["GET", "POST"])
@role_required(Role.EDITOR)
def editor_categories():
    if request.method == "GET":
        return _page(categories.editor_categories(), categories.disk_hash())
    editor = editing.Editor(current_user.id, current_user.name)
    base_hash = request.form.get("base_hash", "")
    try:
        forms = categories.forms_from_post(request.form)
    except editing.EditError as exc:
        return _page(categories.editor_categories(), base_hash, exc.errors, status=422)
    try:
        categories.save_categories(forms, base_hash, editor)
    except editing.EditError as exc:
        return _page(forms, base_hash, exc.errors, status=422)
    except editing.EditConflict as conflict:
        # The editor's choices stay in the form; saving again replaces the file knowingly.
        return _page(forms, conflict.disk_hash, conflict=conflict, status=409)
    flash(f"Categories saved to {site.SITE_FILE}. The help center shows them now.", "success")
    return hx_redirect(url_for("kb.editor_categories"))


@bp.get("/kb/editor/site-history")
@role_required(Role.EDITOR)
def editor_site_history():
    return render("kb/editor_site_history.html", revisions=categories.site_revisions(),
                  site_file=site.SITE_FILE)


@bp.post("/kb/editor/site-restore/<int:revision_id>")
@role_required(Role.EDITOR)
def editor_site_restore(revision_id: int):
    try:
        categories.restore_site_revision(revision_id, editing.Editor(current_user.id,
                                                                     current_user.name))
    except editing.EditError as exc:
        for message in exc.errors.values():
            flash(f"Not restored: {message}", "error")
        return hx_redirect(url_for("kb.editor_site_history"))
    flash(f"That version of {site.SITE_FILE} is in use again.", "success")
    return hx_redirect(url_for("kb.editor_categories"))
