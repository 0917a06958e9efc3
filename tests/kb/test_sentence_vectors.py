"""The KB's sentences are embedded when their article is indexed for the chat, kept in the
database as the articles change, and what the chat reads instead of running the model."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from portal.extensions import db
from portal.kb import sentences, sync
from portal.kb.embedding import Embedder, get_embedder, text_hash
from portal.kb.models import KbArticle, KbSentenceVector
from tests.kb.conftest import article_text, write


def stored(slug: str) -> dict[str, bytes]:
    return dict(db.session.execute(
        db.select(KbSentenceVector.text_hash, KbSentenceVector.vector)
        .where(KbSentenceVector.slug == slug)).all())


def sentences_of(slug: str) -> list[str]:
    row = db.session.scalar(db.select(KbArticle).where(KbArticle.slug == slug))
    return sentences.article_sentences(sync.parsed_from_row(row))


def refuse_to_embed(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, running the model fails: vectors must come from the store."""
    def refuse(self, texts):
        raise AssertionError(f"embedded at request time: {list(texts)}")

    get_embedder()  # loaded, as a running portal has it
    monkeypatch.setattr(Embedder, "encode", refuse)


def test_sync_stores_every_sentence_the_chat_reads(app, synced):
    synced(chunks=True)
    wanted = sentences_of("reset-password")
    assert "Tap Forgot password and follow the email." in wanted
    # Section sentences (a follow-up's check) and chunk lines (the decision) alike.
    assert {text_hash(s) for s in wanted} == set(stored("reset-password"))
    # Published articles only: the draft has none; the internal one has its own.
    assert stored("upcoming-plan") == {}
    assert stored("secret-runbook")


def test_the_chat_reads_them_bit_for_bit_without_the_model(app, synced, monkeypatch):
    synced(chunks=True)
    wanted = sentences_of("refunds") + sentences_of("reset-password")
    computed = get_embedder().encode(wanted)
    refuse_to_embed(monkeypatch)
    # A fresh memory, as in a web worker that did not run the sync: read from the database.
    assert np.array_equal(sentences.sentence_vectors(wanted, sentences.RememberedVectors(100)),
                          computed)
    with pytest.raises(AssertionError, match="embedded at request time"):
        sentences.sentence_vectors(["A sentence no article holds."],
                                   sentences.RememberedVectors(100))


def test_an_edited_article_gets_its_new_sentences_and_loses_its_old_ones(app, synced, tiny_kb):
    synced(chunks=True)
    before = stored("refunds")
    kept = text_hash("Refunds within 30 days of the thermostat order.")
    assert kept in before
    write(tiny_kb, "billing/refunds.md", article_text(
        "Refund policy", "## Who qualifies\n\nRefunds within 30 days of the thermostat order.\n\n"
        "## How to ask\n\nWrite to billing with your order number."))
    report = synced(chunks=True)
    assert report.changed == ["refunds"]
    after = stored("refunds")
    assert text_hash("Write to billing with your order number.") in after
    assert set(after) == {text_hash(s) for s in sentences_of("refunds")}
    # The unchanged sentence keeps its vector; nothing of the old text lingers.
    assert after[kept] == before[kept]
    assert not set(before) - set(after) - {text_hash(s) for s in sentences_of("refunds")}


def test_deleted_renamed_and_unpublished_articles_leave_nothing_behind(app, synced,
                                                                       tiny_kb: Path):
    synced(chunks=True)
    refunds = stored("refunds")
    assert stored("two-step") and refunds
    (tiny_kb / "account/two-step.md").unlink()
    shutil.move(tiny_kb / "billing/refunds.md", tiny_kb / "billing/money-back.md")
    write(tiny_kb, "billing/secret-runbook.md", article_text(
        "Refund runbook for agents", "Internal steps for refunds approval.", audience="internal",
        status="archived"))
    report = synced(chunks=True)
    assert report.deleted == ["two-step"]
    assert report.renamed == [("refunds", "money-back")]
    assert stored("two-step") == {} and stored("refunds") == {}
    assert stored("secret-runbook") == {}
    # The renamed article's sentences follow it, vectors reused rather than recomputed.
    assert stored("money-back") == refunds
    slugs = set(db.session.scalars(db.select(KbSentenceVector.slug)))
    assert slugs == {"money-back", "reset-password"}


def test_an_article_indexed_before_the_store_existed_is_embedded_once_per_process(
        app, synced, monkeypatch):
    # Chunks indexed, sentences not stored (as after upgrading, before the next sync).
    synced(chunks=True)
    db.session.execute(db.delete(KbSentenceVector))
    db.session.commit()
    wanted = sentences_of("two-step")
    memory = sentences.RememberedVectors(100)
    first = sentences.sentence_vectors(wanted, memory)
    assert np.array_equal(first, get_embedder().encode(wanted))
    assert all(memory.get(s) is not None for s in wanted)
    # Asked again, the process's memory answers: the model does not run a second time.
    calls = []
    real = Embedder.encode
    monkeypatch.setattr(Embedder, "encode", lambda self, texts: calls.append(texts) or
                        real(self, texts))
    assert np.array_equal(sentences.sentence_vectors(wanted, memory), first)
    assert calls == []


def test_the_next_sync_stores_the_sentences_of_articles_indexed_before(app, synced):
    synced(chunks=True)
    db.session.execute(db.delete(KbSentenceVector))
    db.session.commit()
    report = synced(chunks=True)
    assert report.unchanged == 5 and not report.changed
    assert set(stored("two-step")) == {text_hash(s) for s in sentences_of("two-step")}
    assert stored("upcoming-plan") == {}
