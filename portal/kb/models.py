"""The knowledge base's tables. The Markdown files stay the source of truth; these
rows are what the portal serves, counts and searches when Meilisearch is away."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.clock import utcnow
from portal.extensions import Base


class KbArticle(Base):
    __tablename__ = "kb_article"
    __table_args__ = (Index("ix_kb_article_category_status", "category", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    path: Mapped[str] = mapped_column(String(500), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(120))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    summary: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="published")
    audience: Mapped[str] = mapped_column(String(20), default="public")
    updated: Mapped[date | None] = mapped_column(Date)
    body: Mapped[str] = mapped_column(Text, default="")
    # Plain text of title, headings and body: the database fallback searches it.
    search_text: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    # Rendered HTML is cached per content hash; sync stays cheap and pages stay fast.
    html: Mapped[str | None] = mapped_column(Text)
    html_hash: Mapped[str | None] = mapped_column(String(64))
    toc: Mapped[list[Any] | None] = mapped_column(JSON)
    views: Mapped[int] = mapped_column(Integer, default=0)
    helpful_yes: Mapped[int] = mapped_column(Integer, default=0)
    helpful_no: Mapped[int] = mapped_column(Integer, default=0)
    last_editor_id: Mapped[int | None] = mapped_column(Integer)
    last_editor_name: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    sections: Mapped[list[KbSection]] = relationship(
        back_populates="article", cascade="all, delete-orphan", order_by="KbSection.position"
    )

    @property
    def helpful_ratio(self) -> float | None:
        total = self.helpful_yes + self.helpful_no
        return self.helpful_yes / total if total else None


class KbSection(Base):
    __tablename__ = "kb_section"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("kb_article.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    anchor: Mapped[str] = mapped_column(String(120), default="")
    heading: Mapped[str] = mapped_column(String(300))
    level: Mapped[int] = mapped_column(Integer, default=2)
    text: Mapped[str] = mapped_column(Text, default="")

    article: Mapped[KbArticle] = relationship(back_populates="sections")


class KbRevision(Base):
    __tablename__ = "kb_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("kb_article.id", ondelete="CASCADE"), index=True
    )
    slug: Mapped[str] = mapped_column(String(120))
    author_id: Mapped[int | None] = mapped_column(Integer)
    author_name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(20), default="edit")
    diff: Mapped[str] = mapped_column(Text, default="")
    # The whole file, so any revision can be restored in one click.
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))


class KbSiteRevision(Base):
    """One version of the content folder's _site.yml saved from the editor (categories)."""

    __tablename__ = "kb_site_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    author_id: Mapped[int | None] = mapped_column(Integer)
    author_name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(20), default="edit")
    diff: Mapped[str] = mapped_column(Text, default="")
    # The whole file, so any version can be restored in one click.
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))


class KbVote(Base):
    __tablename__ = "kb_vote"
    __table_args__ = (
        UniqueConstraint("article_id", "visitor_id", name="uq_kb_vote_article_visitor"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("kb_article.id", ondelete="CASCADE"), index=True
    )
    visitor_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(Integer)
    helpful: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class KbPendingIndexUpdate(Base):
    """An index change Meilisearch (or the chunk index) has not accepted yet.

    Only the slug is queued: the replay reads the article's current row, so many
    edits made while the engine was down collapse into one update.
    """

    __tablename__ = "kb_pending_index_update"
    __table_args__ = (
        UniqueConstraint("slug", "target", name="uq_kb_pending_index_update_slug_target"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(120))
    target: Mapped[str] = mapped_column(String(20), default="articles")  # or "chunks"
    queued_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class KbSentenceVector(Base):
    """The embedding of one sentence of a published article (of its sections and of its
    chat chunks), stored when the article's chunks are indexed: the chat compares a message
    with articles sentence by sentence and looks these up instead of running the model while
    the customer waits (see kb.sentences)."""

    __tablename__ = "kb_sentence_vector"
    __table_args__ = (
        UniqueConstraint("slug", "text_hash", name="uq_kb_sentence_vector_slug_text_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # By slug, as the chunk index is: rows follow the chunks' upserts and deletes.
    slug: Mapped[str] = mapped_column(String(120))
    # embedding.text_hash: the model and the exact sentence.
    text_hash: Mapped[str] = mapped_column(String(32), index=True)
    # float32 bytes as the model gave them, so a stored vector is the one a request would
    # have computed, bit for bit.
    vector: Mapped[bytes] = mapped_column(LargeBinary)


def visible_articles(audiences: Sequence[str]) -> Any:
    """The filter for articles the audiences may read: published and meant for one of them."""
    return (KbArticle.status == "published") & KbArticle.audience.in_(list(audiences))
