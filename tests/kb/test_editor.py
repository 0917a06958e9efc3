"""The editor workflow: access, save, conflicts, validation, create, rename, archive, restore."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from portal.accounts.models import Role
from portal.extensions import db
from portal.kb import services
from portal.kb.models import KbArticle, KbRevision

EVERYONE = ("public", "customers", "internal")


@pytest.fixture
def editor_kb(app, tiny_kb: Path, synced):
    app.config["CONTENT_DIR"] = str(tiny_kb)
    synced()
    return tiny_kb


def form_of(page: str) -> dict[str, str]:
    pattern = r'<input type="(?:hidden|text)" (?:id="\w+" )?name="(\w+)" value="([^"]*)"'
    fields = dict(re.findall(pattern, page))
    body = re.search(r'<textarea id="body"[^>]*>(.*?)</textarea>', page, re.S)
    fields["body"] = body.group(1).replace("&#39;", "'").replace("&amp;", "&") if body else ""
    fields["status"] = re.search(r'<option value="(\w+)" selected', page).group(1)
    fields["audience"] = re.findall(r'<option value="(\w+)" selected', page)[1]
    fields.pop("csrf_token", None)
    return fields


def test_only_editors_and_admins_get_in(app, editor_kb, client, login_as):
    assert client.get("/kb/editor").status_code == 302
    login_as(Role.CUSTOMER)
    assert client.get("/kb/editor").status_code == 403
    assert client.get("/kb/editor/reset-password/edit").status_code == 403


@pytest.mark.parametrize("role", [Role.EDITOR, Role.ADMIN])
def test_list_shows_status_views_helpfulness(app, editor_kb, client, login_as, role):
    login_as(role)
    page = client.get("/kb/editor").text
    assert "upcoming-plan" in page and "status-draft" in page
    assert "no votes" in page


def test_save_writes_the_file_records_a_revision_and_is_searchable_at_once(
        app, editor_kb, client, login_as):
    user = login_as(Role.EDITOR)
    fields = form_of(client.get("/kb/editor/reset-password/edit").text)
    fields["body"] += "\n\nIf nothing helps, try the quokka procedure.\n"
    response = client.post("/kb/editor/reset-password/edit", data=fields)
    assert response.status_code == 302, response.text[:2000]
    text = (editor_kb / "account/reset-password.md").read_text()
    assert "quokka procedure" in text and text.startswith("---\ntitle: Reset your password\n")
    assert not list(editor_kb.glob("account/.*.tmp"))
    # Searchable straight away (no sync, no wait in the test beyond Meilisearch's own).
    import time
    deadline = time.monotonic() + 1.0
    hits: list[str] = []
    while time.monotonic() < deadline and not hits:
        hits = [h.slug for h in services.search_articles("quokka", audiences=EVERYONE).hits]
    assert hits == ["reset-password"]
    revisions = db.session.scalars(db.select(KbRevision).order_by(KbRevision.id)).all()
    assert [r.action for r in revisions] == ["original", "edit"]
    assert "+If nothing helps, try the quokka procedure." in revisions[1].diff
    assert revisions[1].author_name == user.name
    row = db.session.scalar(db.select(KbArticle).where(KbArticle.slug == "reset-password"))
    assert row.last_editor_name == user.name
    assert "Saved. It is live in search now." in client.get(response.location).text


def test_save_is_refused_if_the_file_changed_on_disk(app, editor_kb, client, login_as):
    login_as(Role.EDITOR)
    fields = form_of(client.get("/kb/editor/reset-password/edit").text)
    path = editor_kb / "account/reset-password.md"
    path.write_text(path.read_text().replace("Use a long passphrase.", "Colleague's edit."))
    fields["body"] = fields["body"].replace("Use a long passphrase.", "My careful edit.")
    response = client.post("/kb/editor/reset-password/edit", data=fields)
    assert response.status_code == 409
    assert "changed on disk" in response.text
    assert "-Colleague&#39;s edit." in response.text and "+My careful edit." in response.text
    assert "My careful edit." in response.text  # still in the form: nothing lost
    assert "Colleague's edit." in path.read_text()  # and nothing overwritten
    # Saving again, knowingly, replaces the disk version.
    again = form_of(response.text)
    assert client.post("/kb/editor/reset-password/edit", data=again).status_code == 302
    assert "My careful edit." in path.read_text()


def test_validation_is_shown_inline_and_nothing_is_written(app, editor_kb, client, login_as):
    login_as(Role.EDITOR)
    before = (editor_kb / "account/reset-password.md").read_text()
    fields = form_of(client.get("/kb/editor/reset-password/edit").text)
    fields.update(title="", audience="everyone")
    response = client.post("/kb/editor/reset-password/edit", data=fields)
    assert response.status_code == 422
    assert 'id="title-error">Give the article a title.' in response.text
    assert "Choose public, customers or internal." in response.text
    assert (editor_kb / "account/reset-password.md").read_text() == before


@pytest.mark.parametrize(("field", "value", "message"), [
    ("category", "account\n", "Use a folder name: lowercase letters, digits and hyphens."),
    ("slug", "pair-wombat\n", "Use lowercase letters, digits and hyphens"),
])
def test_a_trailing_newline_in_a_slug_or_folder_is_refused_and_nothing_is_written(
        app, editor_kb, client, login_as, field, value, message):
    # Python's "$" matches before a final newline: "account\n" once made content/account\n/.
    login_as(Role.EDITOR)
    files_before = sorted(p.relative_to(editor_kb) for p in editor_kb.rglob("*"))
    fields = {"title": "Pair the wombat sensor", "slug": "pair-wombat", "category": "account",
              "status": "published", "audience": "public", "body": "Hold the wombat button."}
    fields[field] = value
    response = client.post("/kb/editor/new", data=fields)
    assert response.status_code == 422
    assert message in response.text
    assert sorted(p.relative_to(editor_kb) for p in editor_kb.rglob("*")) == files_before
    assert db.session.scalar(db.select(KbArticle).where(KbArticle.slug.like("pair-wombat%"))) \
        is None


def test_a_rename_to_a_slug_with_a_newline_is_refused(app, editor_kb, client, login_as):
    login_as(Role.EDITOR)
    response = client.post("/kb/editor/reset-password/rename",
                           data={"new_slug": "forgot-password\n"})
    assert response.status_code == 302
    page = client.get(response.location).text
    assert "Not renamed: Use lowercase letters, digits and hyphens." in page
    assert (editor_kb / "account/reset-password.md").exists()
    assert not list(editor_kb.rglob("forgot-password*"))


def test_live_preview_is_sanitised_and_warns_about_missing_links(app, editor_kb, client,
                                                                 login_as):
    login_as(Role.EDITOR)
    response = client.post("/kb/editor/preview", headers={"HX-Request": "true"},
                           data={"body": "## Hi\n\n<script>x()</script> [a](no-such-slug)"})
    assert '<h2 id="hi">Hi</h2>' in response.text
    assert "<script>" not in response.text
    assert "link to a missing article: no-such-slug" in response.text


def test_create_rename_archive_and_restore(app, editor_kb, client, login_as):
    login_as(Role.EDITOR)
    response = client.post("/kb/editor/new", data={
        "title": "Pair the wombat sensor", "slug": "pair-wombat", "category": "account",
        "tags": "sensor, pairing", "summary": "Pairing steps.", "status": "published",
        "audience": "public", "body": "## Steps\n\nHold the wombat button.",
    })
    assert response.status_code == 302, response.text[:3000]
    assert (editor_kb / "account/pair-wombat.md").exists()

    duplicate = client.post("/kb/editor/new", data={
        "title": "Again", "slug": "pair-wombat", "category": "account", "status": "draft",
        "audience": "public", "body": "x"})
    assert duplicate.status_code == 422 and "already uses" in duplicate.text

    assert client.post("/kb/editor/pair-wombat/rename",
                       data={"new_slug": "pair-sensor"}).status_code == 302
    assert not (editor_kb / "account/pair-wombat.md").exists()
    assert (editor_kb / "account/pair-sensor.md").exists()
    assert client.get("/kb/pair-sensor").status_code == 200
    assert client.get("/kb/pair-wombat").status_code == 404

    assert client.post("/kb/editor/pair-sensor/archive").status_code == 302
    assert "status: archived" in (editor_kb / "account/pair-sensor.md").read_text()
    assert client.get("/kb/pair-sensor").status_code == 404

    history = client.get("/kb/editor/pair-sensor/history").text
    assert "Archive by" in history or "Edit by" in history
    revision_ids = [int(i) for i in re.findall(r"/restore/(\d+)", history)]
    assert revision_ids
    # Restore the version just before archiving: the article is live again.
    restore = client.post(f"/kb/editor/pair-sensor/restore/{revision_ids[0]}")
    assert restore.status_code == 302
    assert "status: published" in (editor_kb / "account/pair-sensor.md").read_text()
    assert client.get("/kb/pair-sensor").status_code == 200


def test_editor_save_while_meilisearch_is_down_is_kept_and_queued(app, editor_kb, client,
                                                                  login_as, engine_down):
    login_as(Role.EDITOR)
    fields = form_of(client.get("/kb/editor/two-step/edit").text)
    fields["body"] = "Now with passkeys."
    response = client.post("/kb/editor/two-step/edit", data=fields)
    assert response.status_code == 302
    assert "Now with passkeys." in (editor_kb / "account/two-step.md").read_text()
    assert "index update is queued" in client.get(response.location).text
    assert services.pending_count() == 1


def test_content_gap_link_finds_covering_articles_or_offers_a_new_one(app, editor_kb, client,
                                                                       login_as):
    login_as(Role.EDITOR)
    # The dashboard links a failed search here as ?q=; filler words must not hide the match.
    page = client.get("/kb/editor", query_string={"q": "how do I reset my password"}).text
    assert "reset-password" in page and "two-step" not in page and "upcoming-plan" not in page
    by_tag = client.get("/kb/editor", query_string={"q": "security"}).text
    assert "two-step" in by_tag and "reset-password" not in by_tag
    # LIKE wildcards typed by a person are literal text, not patterns.
    assert "No article mentions" in client.get("/kb/editor", query_string={"q": "%_"}).text
    missing = client.get("/kb/editor", query_string={"q": "heat pump noise"}).text
    assert "No article mentions “heat pump noise”" in missing
    assert "/kb/editor/new?title=heat+pump+noise" in missing
    new_page = client.get("/kb/editor/new", query_string={"title": "heat pump noise"}).text
    assert 'value="heat pump noise"' in new_page
