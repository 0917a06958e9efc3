"""The KB's sentences, embedded once, when their article is indexed for the chat.

The chat compares a message with the KB one sentence at a time: the answer/hand-off
decision reads the sentences of a question's top chunks, a follow-up's check those of its
top article. Embedding them while the customer waited was most of a reply's time (16
sentences per reading, 24 more for a follow-up's check). They are embedded beside the
article's chunks instead and kept in `kb_sentence_vector` by slug and text hash; a request
looks its sentences up by hash and embeds only what is not stored (an article indexed
before the table existed, or text that is not the KB's).

The model gives a text the same vector whatever batch it is in, and the bytes are stored
as it gave them: a looked-up vector is the one the request would have computed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from sqlalchemy import delete, insert, select

from portal.extensions import db
from portal.kb.chunking import build_chunks
from portal.kb.documents import ParsedArticle
from portal.kb.embedding import DIMENSIONS, RememberedVectors, get_embedder, text_hash
from portal.kb.lexicon import sentence_pieces
from portal.kb.models import KbArticle, KbSentenceVector
from portal.kb.rendering import split_sections

# Articles embedded and written per step: bounds a full sync's memory (a long article
# has a few hundred sentences, at 1.5 kB a vector).
ARTICLES_PER_STEP = 100
# Values per IN (...) query: under every backend's limit on bound parameters.
HASHES_PER_QUERY = 500
# Sentence vectors each process keeps (read or embedded; about 1.5 kB each).
SENTENCES_KEPT = 10_000
_remembered = RememberedVectors(SENTENCES_KEPT)


def forget_remembered() -> None:
    """Empty the process's memory of sentence vectors (benchmarks measuring a cold read)."""
    _remembered.clear()


def article_sentences(article: ParsedArticle) -> list[str]:
    """Every sentence the chat may compare a message with: those of the article's sections
    (a follow-up's check reads the article's sections from the database) and of its chunks
    (the decision reads the retrieved chunks), split as the chat splits them."""
    texts = [section.text for section in split_sections(article.title, article.body)]
    texts += [chunk.text for chunk in build_chunks(article)]
    return list(dict.fromkeys(sentence_pieces(texts)))


def store_sentence_vectors(articles: Sequence[ParsedArticle]) -> int:
    """Bring the stored sentences of these articles up to date: a published article's
    current sentences are stored (reusing any vector already stored under the same text,
    whichever article it came from), its old ones dropped; an unpublished one keeps none.
    Commits. Returns the number of sentences that were not stored yet."""
    embedded = 0
    for start in range(0, len(articles), ARTICLES_PER_STEP):
        embedded += _store_step(articles[start : start + ARTICLES_PER_STEP])
        db.session.commit()
    return embedded


def _store_step(articles: Sequence[ParsedArticle]) -> int:
    wanted: dict[str, dict[str, str]] = {
        article.slug: ({text_hash(s): s for s in article_sentences(article)}
                       if article.status == "published" else {})
        for article in articles
    }
    slugs = list(wanted)
    have: dict[str, set[str]] = {slug: set() for slug in slugs}
    for slug, hashed in db.session.execute(
            select(KbSentenceVector.slug, KbSentenceVector.text_hash)
            .where(KbSentenceVector.slug.in_(slugs))):
        have[slug].add(hashed)
    stale = [(slug, hashed) for slug in slugs for hashed in have[slug] - set(wanted[slug])]
    for slug in {slug for slug, _ in stale}:
        for gone in _batches(hashed for s, hashed in stale if s == slug):
            db.session.execute(delete(KbSentenceVector).where(
                KbSentenceVector.slug == slug, KbSentenceVector.text_hash.in_(gone)))
    new = {hashed: text for slug in slugs for hashed, text in wanted[slug].items()
           if hashed not in have[slug]}
    vectors = stored_vectors(new)
    missing = [hashed for hashed in new if hashed not in vectors]
    if missing:
        # A sentence this process has met already (the test suite and `portal eval` sync the
        # same articles into fresh databases) keeps its vector: the model gives a text the
        # same vector in any batch.
        matrix = embed_texts_remembered([new[hashed] for hashed in missing], _remembered)
        vectors.update({hashed: np.asarray(row, dtype=np.float32).tobytes()
                        for hashed, row in zip(missing, matrix, strict=True)})
    rows = [{"slug": slug, "text_hash": hashed, "vector": vectors[hashed]}
            for slug in slugs for hashed in wanted[slug] if hashed not in have[slug]]
    if rows:
        db.session.execute(insert(KbSentenceVector), rows)
    return len(missing)


def articles_without_sentences() -> list[KbArticle]:
    """Published articles with no stored sentence: indexed before this store existed (or
    with no sentence of three words, which costs only their parsing)."""
    stored = select(KbSentenceVector.slug).distinct()
    return list(db.session.scalars(select(KbArticle).where(
        KbArticle.status == "published", KbArticle.slug.not_in(stored))))


def delete_sentence_vectors(slugs: Iterable[str]) -> None:
    """Forget the sentences of articles gone from the chat's index. Commits."""
    for gone in _batches(slugs):
        db.session.execute(delete(KbSentenceVector).where(KbSentenceVector.slug.in_(gone)))
    db.session.commit()


def stored_vectors(hashes: Iterable[str]) -> dict[str, bytes]:
    """The stored vectors (float32 bytes) of these text hashes; unknown ones are left out."""
    found: dict[str, bytes] = {}
    for wanted in _batches(hashes):
        found.update((hashed, vector) for hashed, vector in db.session.execute(
            select(KbSentenceVector.text_hash, KbSentenceVector.vector)
            .where(KbSentenceVector.text_hash.in_(wanted))))
    return found


def _batches(values: Iterable[str]) -> Iterator[list[str]]:
    """The distinct values, in lists short enough for one IN (...) on every backend."""
    distinct = list(dict.fromkeys(values))
    for start in range(0, len(distinct), HASHES_PER_QUERY):
        yield distinct[start : start + HASHES_PER_QUERY]


def sentence_vectors(texts: Sequence[str], memory: RememberedVectors | None = None
                     ) -> np.ndarray:
    """Unit vectors of the sentences, one row each: from `memory` (the process's own when
    None), else stored ones read, else embedded; kept in `memory` for the next request (by
    text, so an edited sentence is never served an old vector)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    memory = _remembered if memory is None else memory
    rows = {text: vector for text in texts if (vector := memory.get(text)) is not None}
    unread = {text_hash(text): text for text in texts if text not in rows}
    for hashed, vector in stored_vectors(unread).items():
        rows[unread[hashed]] = np.frombuffer(vector, dtype=np.float32)
        memory.put(unread[hashed], rows[unread[hashed]])
    unknown = [text for text in dict.fromkeys(texts) if text not in rows]
    if unknown:
        rows.update(zip(unknown, embed_texts_remembered(unknown, memory), strict=True))
    return np.stack([rows[text] for text in texts])


def embed_texts_remembered(texts: Sequence[str], memory: RememberedVectors) -> np.ndarray:
    """The texts' unit vectors, embedding only those `memory` does not hold yet."""
    known = {text: vector for text in texts if (vector := memory.get(text)) is not None}
    missing = list(dict.fromkeys(text for text in texts if text not in known))
    if missing:
        for text, row in zip(missing, get_embedder().encode(missing), strict=True):
            memory.put(text, row)
            known[text] = row
    return np.stack([known[text] for text in texts])
