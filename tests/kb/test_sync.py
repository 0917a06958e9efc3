"""Sync: incremental by content hash, bad files keep their last good version, the queue."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from portal.extensions import db
from portal.kb import search_index, services
from portal.kb.engine import get_engine
from portal.kb.models import KbArticle, KbPendingIndexUpdate, KbSection
from tests.kb.conftest import article_text, write

EVERYONE = ("public", "customers", "internal")


def slugs(query: str, audiences=EVERYONE) -> list[str]:
    return [h.slug for h in services.search_articles(query, audiences=audiences).hits]


def test_first_sync_loads_database_sections_and_search(app, synced):
    report = synced()
    assert sorted(report.added) == [
        "refunds", "reset-password", "secret-runbook", "two-step", "upcoming-plan"]
    assert report.errors == [] and not report.index_queued
    row = db.session.scalar(db.select(KbArticle).where(KbArticle.slug == "reset-password"))
    assert [s.heading for s in row.sections] == [
        "Reset your password", "Request a reset link", "Choose a new password"]
    assert slugs("passphrase") == ["reset-password"]
    # Synonyms from _synonyms.yml: "reimbursement" finds the refund articles.
    assert "refunds" in slugs("reimbursement")


def test_resync_without_changes_costs_nothing(app, synced):
    synced()
    report = synced()
    assert (report.added, report.changed, report.deleted, report.renamed) == ([], [], [], [])
    assert report.unchanged == 5


def test_changed_renamed_and_deleted_files(app, synced, tiny_kb: Path):
    synced()
    row_id = db.session.scalar(db.select(KbArticle.id).where(KbArticle.slug == "refunds"))
    write(tiny_kb, "account/two-step.md", article_text("Two-step verification",
                                                       "Use a hardware security key."))
    shutil.move(tiny_kb / "billing/refunds.md", tiny_kb / "billing/money-back.md")
    (tiny_kb / "billing/upcoming-plan.md").unlink()
    report = synced()
    assert report.changed == ["two-step"]
    assert report.renamed == [("refunds", "money-back")]
    assert report.deleted == ["upcoming-plan"]
    # The renamed article keeps its row (views, votes and history follow it).
    renamed = db.session.scalar(db.select(KbArticle.id).where(KbArticle.slug == "money-back"))
    assert renamed == row_id
    assert slugs("hardware key") == ["two-step"]
    assert slugs("thermostat order") == ["money-back"]
    assert db.session.scalar(db.select(db.func.count()).select_from(KbSection).where(
        KbSection.article_id == row_id)) == 1


@pytest.mark.parametrize("breakage, expected", [
    (b"---\ntitle: Reset\ntags: [oops\n---\nNew text\n", "broken front matter"),
    (b"---\nsummary: no title\n---\nNew text\n", "the front matter has no title"),
    (b"---\ntitle: Caf\xe9 reset\n---\nNew text\n", "not valid UTF-8"),
])
def test_a_broken_file_keeps_the_last_good_version_live(app, synced, tiny_kb, client, breakage,
                                                         expected):
    synced()
    (tiny_kb / "account/reset-password.md").write_bytes(breakage)
    report = synced()
    (problem,) = report.errors
    assert problem.path == "account/reset-password.md" and problem.line is not None
    assert expected in problem.message
    assert report.deleted == []
    assert slugs("passphrase") == ["reset-password"]
    assert "Use a long passphrase" in client.get("/kb/reset-password").text


def test_duplicate_slug_in_a_new_file_is_skipped(app, synced, tiny_kb):
    synced()
    write(tiny_kb, "billing/copy.md", article_text("Impostor", "Impostor text", slug="refunds"))
    report = synced()
    assert [str(p) for p in report.errors] == [
        "billing/copy.md:1: error: duplicate slug 'refunds' (already used by billing/refunds.md)"]
    assert slugs("impostor") == []
    assert slugs("thermostat order") == ["refunds"]


def test_symlink_out_of_content_is_reported_and_not_published(app, synced, tiny_kb, tmp_path):
    secret = tmp_path / "outside.md"
    secret.write_text(article_text("Server secrets", "root password hunter2"))
    (tiny_kb / "account" / "leak.md").symlink_to(secret)
    report = synced()
    assert "account/leak.md: error: symlink points outside the content directory" in [
        str(p) for p in report.errors]
    assert slugs("hunter2") == []


def test_missing_link_is_a_warning_and_the_article_still_loads(app, synced, tiny_kb):
    write(tiny_kb, "account/linker.md", article_text("Linker", "See [x](nowhere-article)."))
    report = synced()
    assert "linker" in report.added
    assert [str(p) for p in report.warnings] == [
        "account/linker.md:4: warning: link to a missing article: nowhere-article"]


def test_drafts_and_internal_articles_never_reach_customers(app, synced, client):
    synced()
    assert slugs("platinum", ("public", "customers")) == []
    assert slugs("runbook", ("public", "customers")) == []
    assert slugs("runbook", EVERYONE) == ["secret-runbook"]
    assert client.get("/kb/upcoming-plan").status_code == 404
    assert client.get("/kb/secret-runbook").status_code == 404
    assert "secret-runbook" not in client.get("/kb/search?q=refunds").text


def test_meilisearch_down_falls_back_to_the_database_and_replays(app, synced, engine_down,
                                                                  tiny_kb, client, login_as):
    report = synced()
    assert report.index_queued
    assert services.search_degraded()
    results = services.search_articles("passphrase", audiences=("public",))
    assert results.degraded and [h.slug for h in results.hits] == ["reset-password"]
    assert "<mark>passphrase</mark>" in str(results.hits[0].snippet_html)
    assert db.session.scalar(db.select(db.func.count()).select_from(KbPendingIndexUpdate)) == 5
    response = client.get("/kb/search?q=passphrase")
    assert response.status_code == 200 and "Reset your" in response.text
    from portal.accounts.models import Role

    login_as(Role.AGENT)
    assert "Search engine unreachable" in client.get("/kb").text

    # Meilisearch returns: the next successful search replays the queue.
    app.extensions["portal.search_engine"] = engine_down
    assert not services.search_degraded()
    services.search_articles("anything", audiences=("public",))
    assert db.session.scalar(db.select(db.func.count()).select_from(KbPendingIndexUpdate)) == 0
    search_index.wait([get_engine().call(
        lambda c: c.get_tasks({"limit": 1}).results[0].uid)])
    assert slugs("passphrase") == ["reset-password"]


def test_chunk_hook_gets_changes_and_failures_are_queued(app, synced, tiny_kb, monkeypatch):
    from portal.kb import chunks

    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(chunks, "index_article_chunks",
                        lambda articles: calls.append(("index", sorted(a.slug for a in articles))))
    monkeypatch.setattr(chunks, "delete_article_chunks",
                        lambda slugs: calls.append(("delete", sorted(slugs))))
    synced(chunks=True)
    # Only what readers may see is embedded; drafts are removed from the chunk index.
    assert calls == [("delete", ["upcoming-plan"]),
                     ("index", ["refunds", "reset-password", "secret-runbook", "two-step"])]

    def broken(articles):
        raise RuntimeError("embedding model missing")

    monkeypatch.setattr(chunks, "index_article_chunks", broken)
    write(tiny_kb, "billing/refunds.md", article_text("Refund policy", "Changed text."))
    report = synced(chunks=True)
    assert report.index_queued
    pending = db.session.scalars(db.select(KbPendingIndexUpdate)).all()
    assert [(p.slug, p.target) for p in pending] == [("refunds", "chunks")]
    calls.clear()
    monkeypatch.setattr(chunks, "index_article_chunks",
                        lambda articles: calls.append(("index", [a.slug for a in articles])))
    synced(chunks=True)
    assert ("index", ["refunds"]) in calls
    assert db.session.scalars(db.select(KbPendingIndexUpdate)).all() == []


def test_cli_sync_and_reindex_swap(app, runner, tiny_kb):
    result = runner.invoke(args=["kb", "sync", "--content", str(tiny_kb), "--no-chunks"])
    assert result.exit_code == 0, result.output
    assert "5 added" in result.output
    result = runner.invoke(args=["kb", "reindex", "--content", str(tiny_kb)])
    assert result.exit_code == 0, result.output
    assert "Swapped in a fresh index of 4 articles" in result.output
    assert slugs("passphrase") == ["reset-password"]
    indexes = get_engine().call(lambda c: c.get_raw_indexes({"limit": 1000}))["results"]
    assert not [i for i in indexes if "_rebuild_" in i["uid"]]


def test_cli_sync_reports_bad_files_and_fails(app, runner, tiny_kb):
    write(tiny_kb, "billing/bad.md", "---\ntitle: Fine\n  indented: wrongly\n---\nText\n")
    result = runner.invoke(args=["kb", "sync", "--content", str(tiny_kb), "--no-chunks"])
    assert result.exit_code == 1
    assert "billing/bad.md:3: error: broken front matter" in result.output
    assert "5 added" in result.output
